from __future__ import annotations

from django.urls import path

from registry.views import artifacts, dashboard, models, versions

VERSION = "models/<slug:team>/<str:name>/versions/<str:version>/"

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("models/", models.model_list, name="models"),
    path("models/new/", models.model_create, name="model-create"),
    path("models/<slug:team>/<str:name>/", models.model_detail, name="model-detail"),
    path(
        "models/<slug:team>/<str:name>/register/",
        versions.version_register,
        name="version-register",
    ),
    path(VERSION, versions.version_detail, name="version-detail"),
    path(VERSION + "stage/", versions.version_stage, name="version-stage"),
    path(VERSION + "manifest.json", artifacts.version_manifest, name="version-manifest"),
    path(VERSION + "files/<path:path>", artifacts.artifact_download, name="artifact-download"),
]
