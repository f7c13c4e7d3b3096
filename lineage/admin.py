"""Lineage in the Django admin, read-only: it is recorded by the client, the API,
OpenLineage events and the version page, through lineage.graph and lineage.deployments,
which audit what they record."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from lineage.models import Dataset, DatasetVersion, Deployment, FeatureSet, TrainingRun


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DatasetVersionInline(admin.TabularInline):
    model = DatasetVersion
    fields = ("version", "uri", "digest", "rows", "size_bytes", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Dataset)
class DatasetAdmin(ReadOnlyAdmin):
    list_display = ("name", "team", "created_at")
    list_filter = ("team",)
    list_select_related = ("team",)
    search_fields = ("name",)
    inlines = [DatasetVersionInline]


@admin.register(FeatureSet)
class FeatureSetAdmin(ReadOnlyAdmin):
    list_display = ("name", "team", "created_at")
    list_filter = ("team",)
    list_select_related = ("team",)
    search_fields = ("name",)


@admin.register(TrainingRun)
class TrainingRunAdmin(ReadOnlyAdmin):
    list_display = ("external_id", "job", "team", "state", "started_at", "ended_at")
    list_filter = ("state", "team")
    list_select_related = ("team",)
    search_fields = ("external_id", "job")


@admin.register(Deployment)
class DeploymentAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "environment", "target", "status", "deployed_at", "ended_at")
    list_filter = ("status", "environment")
    list_select_related = ("version__model", "model")
    search_fields = ("model__name", "version__version", "environment", "target")
    date_hierarchy = "deployed_at"
