from __future__ import annotations

from django.urls import path

from lineage import views

urlpatterns = [
    path(
        "teams/<slug:team>/datasets/<int:pk>/",
        views.dataset_version_detail,
        name="dataset-version",
    ),
    path("teams/<slug:team>/code/<int:pk>/", views.code_version_detail, name="code-version"),
]
