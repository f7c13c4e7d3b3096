from __future__ import annotations

from django.urls import path

from registry import converters  # noqa: F401 -- registers the path converters
from registry.views import artifacts, compare, dashboard, models, search, versions

MODEL = "models/<slug:team>/<model_name:name>/"
VERSION = MODEL + "versions/<version:version>/"

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("models/", models.model_list, name="models"),
    path("models/new/", models.model_create, name="model-create"),
    path("search/", search.search_page, name="search"),
    path("compare/", compare.compare_page, name="compare"),
    path("compare/export.<compare_format:fmt>", compare.compare_export, name="compare-export"),
    path(MODEL, models.model_detail, name="model-detail"),
    path(MODEL + "edit/", models.model_edit, name="model-edit"),
    path(
        MODEL + "register/",
        versions.version_register,
        name="version-register",
    ),
    path(VERSION, versions.version_detail, name="version-detail"),
    path(VERSION + "edit/", versions.version_edit, name="version-edit"),
    path(VERSION + "stage/", versions.version_stage, name="version-stage"),
    path(VERSION + "alias/", versions.version_alias, name="version-alias"),
    path(VERSION + "manifest.json", artifacts.version_manifest, name="version-manifest"),
    path(
        VERSION + "files/<artifact_path:path>",
        artifacts.artifact_download,
        name="artifact-download",
    ),
]
