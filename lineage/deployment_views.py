"""Deployment pages: every deployment (filtered by environment, and "what was deployed
at time T"), a model's deployment history, one deployment, and recording or ending one
from the browser. The rules are lineage.deployments'."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.policy import Action, can
from lineage import deployments
from lineage.models import Deployment, DeploymentStatus
from monitoring import panels
from registry.access import model_for_user, version_for_user
from registry.errors import Conflict
from registry.models import RegisteredModel
from registry.views.common import HtmxHttpRequest, error_text, wants_partial

PER_PAGE = 50


def _moment(text: str) -> dt.datetime | None:
    """A time from the filter form (datetime-local, read as UTC), else None."""
    try:
        value = dt.datetime.fromisoformat(text.strip()) if text.strip() else None
    except ValueError:
        return None
    if value is not None and timezone.is_naive(value):
        value = value.replace(tzinfo=dt.UTC)
    return value


def _history_page(
    request: HtmxHttpRequest, model: RegisteredModel | None, template: str, **extra: Any
) -> HttpResponse:
    environment = request.GET.get("environment", "").strip().lower()[:63]
    at_text = request.GET.get("at", "")
    at = _moment(at_text)
    errors = []
    if at_text and at is None:
        errors.append("at: use a date and time such as 2026-05-01T12:00")
    if at is not None and not environment:
        errors.append("at: choose an environment to ask what was deployed there at that time")
    qs: QuerySet[Deployment]
    if at is not None and environment:
        qs = deployments.deployed_at(request.user, environment, at, model)
    else:
        qs = deployments.history(request.user, model, environment)
    page = Paginator(qs, PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "model": model,
        "environment": environment,
        "at": at,
        "at_text": at_text,
        "errors": errors,
        "environments": deployments.environments_for(request.user, model),
        **extra,
    }
    return render(request, template + "#results" if wants_partial(request) else template,
                  context)  # fmt: skip


@require_GET
def deployment_list(request: HtmxHttpRequest) -> HttpResponse:
    return _history_page(request, None, "lineage/deployment_list.html", kind="deployments")


@require_GET
def model_deployments(request: HtmxHttpRequest, team: str, name: str) -> HttpResponse:
    model = model_for_user(request.user, team, name, with_latest=False)
    return _history_page(request, model, "lineage/model_deployments.html")


def _deployment(request: HtmxHttpRequest, team: str, pk: int) -> Deployment:
    return get_object_or_404(deployments.visible(request.user), model__team__slug=team, pk=pk)


@require_GET
def deployment_detail(request: HtmxHttpRequest, team: str, pk: int) -> HttpResponse:
    """A deployment with its live metrics over 1, 7, 30 or 90 days (HTMX swaps the charts
    when the range changes; the same URL renders the whole page)."""
    d = _deployment(request, team, pk)
    days = int(request.GET["days"]) if request.GET.get("days") in map(str, panels.RANGES) else 7
    context = {
        "deployment": d,
        "days": days,
        "ranges": panels.RANGES,
        "charts": panels.deployment_charts(d, days),
    }
    template = "lineage/deployment_detail.html"
    if wants_partial(request):
        return render(request, template + "#live", context)
    context |= {
        "replaces": getattr(d, "replaces", None),
        "may_end": d.status == DeploymentStatus.ACTIVE and can(request.user, Action.CONTRIBUTE, d),
        "ended_choices": [(s, DeploymentStatus(s).label) for s in deployments.ENDED],
        "breaches": d.breaches.select_related("monitor", "retrain_request")[:10],
    }
    return render(request, template, context)


@require_POST
def version_deploy(request: HtmxHttpRequest, team: str, name: str, version: str) -> HttpResponse:
    mv = version_for_user(request.user, team, name, version, Action.CONTRIBUTE)
    try:
        d = deployments.record_deployment(
            request.user,
            mv,
            request.POST.get("environment", ""),
            request.POST.get("target", ""),
            comment=request.POST.get("comment", "").strip(),
        )
    except (ValidationError, Conflict) as exc:
        messages.error(request, f"Not deployed: {error_text(exc)}")
        return redirect(mv.get_absolute_url() + "#deployments")
    messages.success(request, f"Recorded {mv.version} as deployed in {d.environment}.")
    return redirect(d)


@require_POST
def deployment_end(request: HtmxHttpRequest, team: str, pk: int) -> HttpResponse:
    d = _deployment(request, team, pk)
    status = request.POST.get("status", DeploymentStatus.RETIRED)
    try:
        deployments.end_deployment(request.user, d, status)
    except (ValidationError, Conflict) as exc:
        messages.error(request, f"Not ended: {error_text(exc)}")
    else:
        messages.success(request, f"The deployment in {d.environment} is {status}.")
    return redirect(d)
