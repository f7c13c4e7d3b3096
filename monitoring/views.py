"""Monitoring pages: a model's monitors with their breaches and retrain requests, a retrain
request, and the forms that add, pause, delete monitors and dismiss requests. The live
charts are drawn on the deployment and version pages (monitoring.panels)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.policy import Action, can, readable_models_q
from monitoring import evaluate, monitors, retrain
from monitoring.models import Breach, Monitor, RetrainRequest
from registry.access import model_for_user
from registry.errors import Conflict
from registry.models import RegisteredModel
from registry.views.common import HtmxHttpRequest, error_text

RECENT = 20
EXAMPLES = (
    "live.auc < metrics.test.auc - 0.05 over 1h",
    "live.drift_psi > 0.2 over 24h",
    "live.p95_latency_ms > 250 over 15m",
)


def _monitors_url(model: RegisteredModel) -> str:
    return reverse("model-monitors", args=[model.team.slug, model.name])


@require_GET
def model_monitors(request: HtmxHttpRequest, team: str, name: str) -> HttpResponse:
    model = model_for_user(request.user, team, name, with_latest=False)
    context = {
        "model": model,
        "monitors": list(model.monitors.all()),
        "breaches": Breach.objects.filter(monitor__model=model).select_related(
            "monitor", "deployment__version", "deployment__model__team"
        )[:RECENT],
        "requests": RetrainRequest.objects.filter(model=model).select_related(
            "version", "new_version", "model__team"
        )[:RECENT],
        "may_contribute": can(request.user, Action.CONTRIBUTE, model),
        "examples": EXAMPLES,
        "form": {"name": "", "rule": "", "open_retrain": True},
    }
    return render(request, "monitoring/model_monitors.html", context)


@require_POST
def monitor_create(request: HtmxHttpRequest, team: str, name: str) -> HttpResponse:
    model = model_for_user(request.user, team, name, Action.CONTRIBUTE, with_latest=False)
    try:
        monitor = monitors.create_monitor(request.user, model, request.POST.get("name", ""),
                                          request.POST.get("rule", ""),
                                          request.POST.get("open_retrain") == "on")  # fmt: skip
    except ValidationError as exc:
        messages.error(request, f"Not added: {error_text(exc)}")
    else:
        messages.success(request, f"Monitor {monitor.name!r} added; it is judged every minute.")
    return redirect(_monitors_url(model))


def _monitor(request: HtmxHttpRequest, team: str, name: str, pk: int) -> Monitor:
    model = model_for_user(request.user, team, name, Action.CONTRIBUTE, with_latest=False)
    monitor = get_object_or_404(Monitor.objects.filter(model=model), pk=pk)
    monitor.model = model
    return monitor


@require_POST
def monitors_evaluate(request: HtmxHttpRequest, team: str, name: str) -> HttpResponse:
    """Judge the model's monitors now, as the minutely beat task would."""
    model = model_for_user(request.user, team, name, Action.CONTRIBUTE, with_latest=False)
    outcome = evaluate.evaluate_model(model)
    messages.info(request, f"Judged {outcome.judged} deployment rule{'s' * (outcome.judged != 1)}: "
                  f"{len(outcome.breached)} new breach{'es' * (len(outcome.breached) != 1)}, "
                  f"{outcome.cleared} cleared.")  # fmt: skip
    return redirect(_monitors_url(model))


@require_POST
def monitor_toggle(request: HtmxHttpRequest, team: str, name: str, pk: int) -> HttpResponse:
    monitor = _monitor(request, team, name, pk)
    monitors.set_enabled(request.user, monitor, not monitor.enabled)
    state = "resumed" if monitor.enabled else "paused"
    messages.success(request, f"Monitor {monitor.name!r} {state}.")
    return redirect(_monitors_url(monitor.model))


@require_POST
def monitor_delete(request: HtmxHttpRequest, team: str, name: str, pk: int) -> HttpResponse:
    monitor = _monitor(request, team, name, pk)
    monitors.delete_monitor(request.user, monitor)
    messages.success(request, f"Monitor {monitor.name!r} deleted.")
    return redirect(_monitors_url(monitor.model))


def _request(request: HtmxHttpRequest, team: str, pk: int) -> RetrainRequest:
    found = RetrainRequest.objects.filter(readable_models_q(request.user, "model")).select_related(
        "model__team", "version", "new_version", "breach__monitor", "breach__deployment"
    )
    return get_object_or_404(found, model__team__slug=team, pk=pk)


@require_GET
def retrain_request_detail(request: HtmxHttpRequest, team: str, pk: int) -> HttpResponse:
    found = _request(request, team, pk)
    context = {
        "retrain": found,
        "model": found.model,
        "may_dismiss": found.state in retrain.LIVE_STATES
        and can(request.user, Action.MAINTAIN, found),
        "may_contribute": can(request.user, Action.CONTRIBUTE, found),
    }
    return render(request, "monitoring/retrain_request.html", context)


@require_POST
def retrain_dismiss(request: HtmxHttpRequest, team: str, pk: int) -> HttpResponse:
    found = _request(request, team, pk)
    try:
        retrain.dismiss(request.user, found, request.POST.get("reason", ""))
    except (ValidationError, Conflict) as exc:
        messages.error(request, f"Not dismissed: {error_text(exc)}")
    else:
        messages.success(request, "The retrain request is dismissed.")
    return redirect(found)
