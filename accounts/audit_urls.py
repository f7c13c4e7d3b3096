from __future__ import annotations

from django.urls import path

from accounts.views import audit
from registry import converters  # noqa: F401 -- registers the model_name converter

MODEL = "models/<slug:team>/<model_name:name>/"
EXPORT = "export.<export_format:fmt>"


urlpatterns = [
    path("", audit.audit_log, name="audit-log"),
    path(EXPORT, audit.audit_log_export, name="audit-log-export"),
    path("teams/<slug:slug>/", audit.team_log, name="audit-team"),
    path("teams/<slug:slug>/" + EXPORT, audit.team_log_export, name="audit-team-export"),
    path(MODEL, audit.model_log, name="audit-model"),
    path(MODEL + EXPORT, audit.model_log_export, name="audit-model-export"),
]
