from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from api.v1 import api as api_v1
from mlflow_api import urls as mlflow_urls

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api_v1.urls),
    # MLflow clients (MLFLOW_TRACKING_URI pointed at Modelgate): the registry API and the
    # artifact proxy, under the paths MLflow's own server uses.
    path("api/2.0/mlflow/", include(mlflow_urls)),
    path(
        "ajax-api/2.0/mlflow/",
        include((mlflow_urls.urlpatterns, "mlflow"), namespace="mlflow-ajax"),
    ),
    path(
        "api/2.0/mlflow-artifacts/",
        include((mlflow_urls.artifact_urlpatterns, "mlflow"), namespace="mlflow-artifacts"),
    ),
    path("accounts/", include("accounts.urls")),
    path("teams/", include("accounts.team_urls")),
    path("teams/", include("registry.webhook_urls")),
    path("audit/", include("accounts.audit_urls")),
    path("lineage/", include("lineage.urls")),
    path("monitoring/", include("monitoring.urls")),
    path("", include("cards.urls")),
    path("", include("registry.urls")),
]
