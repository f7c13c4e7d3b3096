from __future__ import annotations

from django.urls import path

from monitoring import views
from registry import converters  # noqa: F401 -- registers the path converters

MODEL = "models/<slug:team>/<model_name:name>/monitors/"

urlpatterns = [
    path(MODEL, views.model_monitors, name="model-monitors"),
    path(MODEL + "add/", views.monitor_create, name="monitor-create"),
    path(MODEL + "evaluate/", views.monitors_evaluate, name="monitors-evaluate"),
    path(MODEL + "<int:pk>/toggle/", views.monitor_toggle, name="monitor-toggle"),
    path(MODEL + "<int:pk>/delete/", views.monitor_delete, name="monitor-delete"),
    path(
        "teams/<slug:team>/retrain/<int:pk>/", views.retrain_request_detail, name="retrain-request"
    ),  # fmt: skip
    path(
        "teams/<slug:team>/retrain/<int:pk>/dismiss/", views.retrain_dismiss, name="retrain-dismiss"
    ),  # fmt: skip
]
