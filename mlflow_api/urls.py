"""MLflow's REST paths (mounted under api/2.0/mlflow/ and ajax-api/2.0/mlflow/)."""

from __future__ import annotations

from django.urls import path

from mlflow_api import artifacts, views

app_name = "mlflow"

urlpatterns = [
    path("registered-models/create", views.create_registered_model, name="rm-create"),
    path("registered-models/get", views.get_registered_model, name="rm-get"),
    path("registered-models/rename", views.rename_registered_model, name="rm-rename"),
    path("registered-models/update", views.update_registered_model, name="rm-update"),
    path("registered-models/delete", views.delete_registered_model, name="rm-delete"),
    path("registered-models/search", views.search_registered_models, name="rm-search"),
    path("registered-models/get-latest-versions", views.get_latest_versions, name="rm-latest"),
    path("registered-models/set-tag", views.set_registered_model_tag, name="rm-set-tag"),
    path("registered-models/delete-tag", views.delete_registered_model_tag, name="rm-delete-tag"),
    path("registered-models/alias", views.registered_model_alias, name="rm-alias"),
    path("model-versions/create", views.create_model_version, name="mv-create"),
    path("model-versions/get", views.get_model_version, name="mv-get"),
    path("model-versions/update", views.update_model_version, name="mv-update"),
    path("model-versions/delete", views.delete_model_version, name="mv-delete"),
    path("model-versions/search", views.search_model_versions, name="mv-search"),
    path("model-versions/set-tag", views.set_model_version_tag, name="mv-set-tag"),
    path("model-versions/delete-tag", views.delete_model_version_tag, name="mv-delete-tag"),
    path(
        "model-versions/transition-stage",
        views.transition_model_version_stage,
        name="mv-transition",
    ),
    path(
        "model-versions/get-download-uri",
        views.get_model_version_download_uri,
        name="mv-download-uri",
    ),
]

artifact_urlpatterns = [
    path("artifacts", artifacts.list_artifacts, name="artifacts-list"),
    path("artifacts/<path:path>", artifacts.artifact, name="artifact"),
]
