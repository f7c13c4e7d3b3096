from __future__ import annotations

from django.urls import path

from lineage import views
from registry import converters  # noqa: F401 -- registers the path converters

urlpatterns = [
    path(
        "teams/<slug:team>/datasets/<int:pk>/",
        views.dataset_version_detail,
        name="dataset-version",
    ),
    path("teams/<slug:team>/code/<int:pk>/", views.code_version_detail, name="code-version"),
    path(
        "models/<slug:team>/<model_name:name>/versions/<version:version>/graph/",
        views.version_graph,
        name="version-graph",
    ),
]
