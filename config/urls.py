from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from api.v1 import api as api_v1

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api_v1.urls),
    path("accounts/", include("accounts.urls")),
    path("teams/", include("accounts.team_urls")),
    path("teams/", include("registry.webhook_urls")),
    path("audit/", include("accounts.audit_urls")),
    path("lineage/", include("lineage.urls")),
    path("monitoring/", include("monitoring.urls")),
    path("", include("cards.urls")),
    path("", include("registry.urls")),
]
