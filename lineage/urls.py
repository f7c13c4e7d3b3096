from __future__ import annotations

from django.urls import path

from lineage import deployment_views, views
from registry import converters  # noqa: F401 -- registers the path converters

VERSION = "models/<slug:team>/<model_name:name>/versions/<version:version>/"

urlpatterns = [
    path("datasets/", views.dataset_list, name="datasets"),
    path("features/", views.feature_set_list, name="feature-sets"),
    path("runs/", views.run_list, name="training-runs"),
    path("deployments/", deployment_views.deployment_list, name="deployments"),
    path(
        "teams/<slug:team>/datasets/<int:pk>/",
        views.dataset_version_detail,
        name="dataset-version",
    ),
    path(
        "teams/<slug:team>/features/<int:pk>/",
        views.feature_set_version_detail,
        name="feature-set-version",
    ),
    path("teams/<slug:team>/code/<int:pk>/", views.code_version_detail, name="code-version"),
    path("teams/<slug:team>/runs/<int:pk>/", views.run_detail, name="training-run"),
    path(
        "teams/<slug:team>/deployments/<int:pk>/",
        deployment_views.deployment_detail,
        name="deployment",
    ),
    path(
        "teams/<slug:team>/deployments/<int:pk>/end/",
        deployment_views.deployment_end,
        name="deployment-end",
    ),
    path(
        "models/<slug:team>/<model_name:name>/deployments/",
        deployment_views.model_deployments,
        name="model-deployments",
    ),
    path(VERSION + "graph/", views.version_graph, name="version-graph"),
    path(VERSION + "graph.svg", views.version_graph_svg, name="version-graph-svg"),
    path(VERSION + "lineage/", views.version_lineage_add, name="version-lineage-add"),
    path(VERSION + "deploy/", deployment_views.version_deploy, name="version-deploy"),
]
