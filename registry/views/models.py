from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from accounts.policy import Action, can, teams_for
from registry import charts, services
from registry.access import model_for_user
from registry.aliases import aliases_of
from registry.errors import Conflict
from registry.forms import EditModelForm, NewModelForm, tag_lines
from registry.models import Metric, ModelTag, ModelVersion, RegisteredModel, Stage, TaskType
from registry.pagination import keyset_page
from registry.queries import SORTS, ModelFilters, filter_models, frameworks
from registry.views.common import HtmxHttpRequest, wants_partial

MODELS_PER_PAGE = 25
VERSIONS_PER_PAGE = 25
TREND_POINTS = 200


@require_GET
def model_list(request: HtmxHttpRequest) -> HttpResponse:
    filters = ModelFilters.from_query(request.GET)
    queryset = filter_models(filters, request.user).prefetch_related(
        Prefetch("tags", queryset=ModelTag.objects.order_by("key"))
    )
    page = Paginator(queryset, MODELS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "filters": filters,
        "sorts": [(key, label) for key, (_, label) in SORTS.items()],
        "stages": Stage.choices,
        "tasks": TaskType.choices,
    }
    if wants_partial(request):
        return render(request, "registry/model_list.html#results", context | {"oob": True})
    context |= {
        "teams": teams_for(request.user, Action.VIEW),
        "frameworks": frameworks(request.user),
    }
    return render(request, "registry/model_list.html", context)


@require_http_methods(["GET", "POST"])
def model_create(request: HtmxHttpRequest) -> HttpResponse:
    form = NewModelForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            model = services.create_model(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Model {model.name} registered in {model.team}.")
            return redirect(model)
    return render(request, "registry/model_form.html", {"form": form})


@require_http_methods(["GET", "POST"])
def model_edit(request: HtmxHttpRequest, team: str, name: str) -> HttpResponse:
    model = model_for_user(request.user, team, name, Action.CONTRIBUTE)
    may_maintain = can(request.user, Action.MAINTAIN, model)
    initial = {
        "description": model.description,
        "task_type": model.task_type,
        "framework": model.framework,
        "visibility": model.visibility,
        "allow_multiple_production": model.allow_multiple_production,
        "tags": tag_lines(model.tags.all()),
    }
    form = EditModelForm(request.POST or None, initial=initial, may_maintain=may_maintain)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_model(model=model, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Saved {model.name}.")
            return redirect(model)
    status = 400 if form.errors else 200
    context = {"model": model, "form": form, "may_maintain": may_maintain}
    return render(request, "registry/model_edit.html", context, status=status)


@require_http_methods(["GET", "POST"])
def model_delete(request: HtmxHttpRequest, team: str, name: str) -> HttpResponse:
    """Confirm, then delete a model with no versions (maintainers); one with versions is
    explained, not deleted: its versions are archived instead."""
    model = model_for_user(request.user, team, name, Action.MAINTAIN)
    refusal = ""
    if request.method == "POST":
        try:
            services.delete_model(model=model, actor=request.user)
        except Conflict as exc:
            refusal = exc.message
        else:
            messages.success(request, f"Deleted the model {model.name}.")
            return redirect(f"{reverse('models')}?team={model.team.slug}")
    context = {"model": model, "refusal": refusal}
    return render(request, "registry/model_delete.html", context, status=409 if refusal else 200)


@require_GET
def model_detail(request: HtmxHttpRequest, team: str, name: str) -> HttpResponse:
    model = model_for_user(request.user, team, name)
    stage = request.GET.get("stage", "")
    stage = stage if stage in Stage.values else ""
    versions = ModelVersion.objects.filter(model=model).select_related("created_by")
    if stage:
        versions = versions.filter(stage=stage)
    history = keyset_page(
        versions,
        key="sort_key",
        after=request.GET.get("cursor"),
        before=request.GET.get("before"),
        size=VERSIONS_PER_PAGE,
    )
    context = {"model": model, "history": history, "stage": stage, "stages": Stage.choices}
    if wants_partial(request) and request.htmx.target == "history":
        return render(request, "registry/model_detail.html#history", context)
    context |= _trend_context(model, request.GET.get("metric", ""))
    if wants_partial(request) and request.htmx.target == "trend":
        return render(request, "registry/model_detail.html#trend", context)
    context |= {
        "tags": model.tags.all(),
        "current": ModelVersion.objects.filter(
            model=model, stage__in=[Stage.PRODUCTION, Stage.STAGING]
        )
        .select_related("created_by")
        .order_by("-stage", "-sort_key"),
        "aliases": aliases_of(model),  # one query, versions joined
    }
    return render(request, "registry/model_detail.html", context)


def _trend_context(model: RegisteredModel, chosen: str) -> dict[str, object]:
    """The metric picker offers what the most recently registered versions measured
    (cheap at any model size); a test metric is shown first."""
    recent = ModelVersion.objects.filter(model=model).order_by("-sequence").values("pk")[:5]
    choices = sorted(
        {
            f"{split}.{name}"
            for split, name in Metric.objects.filter(version__in=recent).values_list(
                "split", "name"
            )
        }
    )
    if chosen not in choices:
        chosen = next((c for c in choices if c.startswith("test.")), choices[0] if choices else "")
    points: list[charts.Point] = []
    if chosen:
        # The newest versions first, from the (model, sort_key) index, then just their
        # values of this metric: both index ranges, whatever the model's size.
        split, _, metric_name = chosen.partition(".")
        newest = list(
            ModelVersion.objects.filter(model=model)
            .order_by("-sort_key")
            .values_list("pk", "version", "stage")[:TREND_POINTS]
        )
        values = dict(
            Metric.objects.filter(
                version_id__in=[pk for pk, _, _ in newest], split=split, name=metric_name
            ).values_list("version_id", "value")
        )
        points = [
            charts.Point(version, values[pk], stage)
            for pk, version, stage in reversed(newest)
            if pk in values
        ]
    return {
        "metric_choices": choices,
        "metric": chosen,
        "trend_points": points,
        "trend_svg": charts.line_chart(points, title=f"{chosen} across versions") if points else "",
    }
