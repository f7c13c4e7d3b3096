from __future__ import annotations

from django.urls import path

from registry import converters  # noqa: F401 -- registers the path converters
from registry.views import (
    archive,
    artifacts,
    compare,
    dashboard,
    models,
    notifications,
    policies,
    reviews,
    search,
    timeline,
    versions,
)

MODEL = "models/<slug:team>/<model_name:name>/"
VERSION = MODEL + "versions/<version:version>/"
POLICIES = "teams/<slug:team>/policies/"

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("models/", models.model_list, name="models"),
    path("models/new/", models.model_create, name="model-create"),
    path("search/", search.search_page, name="search"),
    path("compare/", compare.compare_page, name="compare"),
    path("compare/export.<compare_format:fmt>", compare.compare_export, name="compare-export"),
    path(MODEL, models.model_detail, name="model-detail"),
    path(MODEL + "edit/", models.model_edit, name="model-edit"),
    path(MODEL + "delete/", models.model_delete, name="model-delete"),
    path(MODEL + "timeline/", timeline.model_timeline, name="model-timeline"),
    path(
        MODEL + "register/",
        versions.version_register,
        name="version-register",
    ),
    path(VERSION, versions.version_detail, name="version-detail"),
    path(VERSION + "edit/", versions.version_edit, name="version-edit"),
    path(VERSION + "delete/", versions.version_delete, name="version-delete"),
    path(VERSION + "stage/", versions.version_stage, name="version-stage"),
    path(VERSION + "alias/", versions.version_alias, name="version-alias"),
    path(VERSION + "deprecate/", versions.version_deprecate, name="version-deprecate"),
    path(VERSION + "request/", reviews.request_new, name="request-new"),
    path("reviews/", reviews.review_inbox, name="review-inbox"),
    path("reviews/<int:pk>/", reviews.request_detail, name="request-detail"),
    path("reviews/<int:pk>/review/", reviews.request_review, name="request-review"),
    path("reviews/<int:pk>/override/", reviews.request_override, name="request-override"),
    path("reviews/<int:pk>/cancel/", reviews.request_cancel, name="request-cancel"),
    path("notifications/", notifications.notification_list, name="notifications"),
    path("notifications/read/", notifications.notifications_read, name="notifications-read"),
    path(POLICIES, policies.team_policies, name="team-policies"),
    path(POLICIES + "save/", policies.policy_save, name="policy-save"),
    path(POLICIES + "<int:pk>/delete/", policies.policy_delete, name="policy-delete"),
    path(POLICIES + "<int:pk>/gates/", policies.gate_add, name="gate-add"),
    path(POLICIES + "gates/<int:pk>/delete/", policies.gate_remove, name="gate-remove"),
    path(VERSION + "storage/", archive.version_storage, name="version-storage"),
    path(VERSION + "restore/", archive.version_restore, name="version-restore"),
    path("jobs/", archive.job_list, name="jobs"),
    path("teams/<slug:team>/retention/", archive.team_retention, name="team-retention"),
    path(VERSION + "manifest.json", artifacts.version_manifest, name="version-manifest"),
    path(
        VERSION + "files/<artifact_path:path>",
        artifacts.artifact_download,
        name="artifact-download",
    ),
]
