"""/api/v1/search/…: versions and models matching a query in the search language."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch
from django.http import HttpRequest
from ninja import Router

from api.pagination import page
from api.schemas import ModelPage, VersionPage
from registry import search
from registry.models import ModelTag, ModelVersion, RegisteredModel
from registry.pagination import int_key

router = Router(tags=["search"])


def register(errors: dict[int, Any], limit: Any, model_out: Any, version_summary: Any) -> Router:
    """Attach the search endpoints, sharing the API's error responses and serialisers."""

    @router.get("/versions", response={200: VersionPage, **errors}, url_name="api-search-versions")
    def search_versions(
        request: HttpRequest, q: str, cursor: str | None = None, limit: int = limit
    ) -> dict[str, Any]:
        """Versions matching a query, newest first, e.g.
        `metrics.test.auc >= 0.9 and tags.owner = "fraud" and stage = production`.
        A syntax error answers 400 with its position."""
        qs = search.filter_versions(ModelVersion.objects.visible_to(request.user), q)
        result = page(
            qs.select_related("model__team", "created_by"),
            key="pk", cursor=cursor, limit=limit, key_type=int_key,
        )  # fmt: skip
        return {"items": [version_summary(v) for v in result.items], "next": result.next_cursor}

    @router.get("/models", response={200: ModelPage, **errors}, url_name="api-search-models")
    def search_models(
        request: HttpRequest, q: str, cursor: str | None = None, limit: int = limit
    ) -> dict[str, Any]:
        """Models matching a query (name, team, framework, task, tags.<key>, stage, created,
        updated)."""
        qs = search.filter_models(RegisteredModel.objects.visible_to(request.user), q)
        qs = qs.select_related("team", "latest_version").prefetch_related(
            Prefetch("tags", queryset=ModelTag.objects.order_by("key"))
        )
        result = page(qs, key="pk", cursor=cursor, limit=limit, key_type=int_key)
        return {"items": [model_out(m) for m in result.items], "next": result.next_cursor}

    return router
