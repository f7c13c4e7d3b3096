from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from registry import search
from registry.models import ModelVersion, RegisteredModel
from registry.pagination import int_key, keyset_page
from registry.views.common import HtmxHttpRequest, wants_partial

RESULTS_PER_PAGE = 50
EXAMPLES = [
    "metrics.test.auc >= 0.9 and stage = production",
    'tags.trigger = "ci" and created > 2025-01-01',
    "framework = xgboost and not stage in (archived)",
    "params.max_depth >= 8 or metrics.business.p95_latency_ms < 40",
]


@require_GET
def search_page(request: HtmxHttpRequest) -> HttpResponse:
    """Versions (or models) matching a query in the search language, newest first."""
    query = (request.GET.get("q") or "").strip()
    kind = "models" if request.GET.get("kind") == "models" else "versions"
    context: dict[str, object] = {"query": query, "kind": kind, "examples": EXAMPLES}
    if query:
        try:
            if kind == "models":
                matches = search.filter_models(
                    RegisteredModel.objects.visible_to(request.user), query
                ).select_related("team", "latest_version")
            else:
                matches = search.filter_versions(
                    ModelVersion.objects.visible_to(request.user), query
                ).select_related("model__team", "created_by")
        except search.SearchError as exc:
            context |= {"error": exc, "error_prefix": query[: exc.position]}
        else:
            context["page"] = keyset_page(
                matches, key="pk", after=request.GET.get("cursor"),
                before=request.GET.get("before"), size=RESULTS_PER_PAGE, key_type=int_key,
            )  # fmt: skip
    template = "registry/search.html#results" if wants_partial(request) else "registry/search.html"
    return render(request, template, context, status=400 if "error" in context else 200)
