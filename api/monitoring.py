"""Live metrics, monitors and retrain requests over the API.

The same domain functions as the pages (monitoring.*); deployments are fetched through
lineage.deployments.visible, models through registry.access.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Query, Router, Schema, Status
from pydantic import Field

from accounts.policy import Action, readable_models_q
from api.pagination import page
from api.params import ERRORS, Limit, Name_, Team_
from api.schemas import Body
from lineage import deployments
from monitoring import evaluate, ingest, monitors, retrain, series
from monitoring.models import Monitor, RetrainRequest
from monitoring.rules import NAME_RE
from registry.access import model_for_user
from registry.pagination import int_key

router = Router(tags=["monitoring"])


class MetricsReport(Body):
    """Either one report (`metrics` at `at`) or a batch of `points`."""

    metrics: dict[str, Any] | None = None
    at: str | None = None
    points: list[Any] | None = Field(None, max_length=ingest.MAX_POINTS)


class ReportOut(Schema):
    stored: int


class BucketOut(Schema):
    at: dt.datetime
    mean: float
    low: float
    high: float
    count: int


class SeriesOut(Schema):
    deployment: int
    name: str
    since: dt.datetime
    until: dt.datetime
    buckets: list[BucketOut]


class MonitorIn(Body):
    name: str
    rule: str
    open_retrain: bool = True


class DismissIn(Body):
    reason: str


class MonitorOut(Schema):
    id: int
    name: str
    rule: str
    enabled: bool
    open_retrain: bool
    last_evaluated_at: dt.datetime | None


class RetrainOut(Schema):
    id: int
    model: str
    version: str
    metric: str
    reason: str
    since: dt.datetime
    state: str
    new_version: str | None
    created_at: dt.datetime
    url: str


class RetrainPage(Schema):
    items: list[RetrainOut]
    next: str | None


def _deployment(request: HttpRequest, deployment_id: int) -> Any:
    return get_object_or_404(deployments.visible(request.user), pk=deployment_id)


@router.post("/deployments/{deployment_id}/metrics", response={201: ReportOut, **ERRORS},
             url_name="api-deployment-metrics")  # fmt: skip
def report_metrics(request: HttpRequest, payload: MetricsReport, deployment_id: int) -> Status:
    """Report live metrics of a deployment (contributors; a token of "write" scope): one
    report `{"metrics": {"auc": 0.91, "p95_latency_ms": 40}, "at": "…"}` or a batch
    `{"points": [{"name": "auc", "value": 0.91, "at": "…"}, …]}` (at most 10,000). A batch
    is stored whole or not at all."""
    d = _deployment(request, deployment_id)
    if (payload.metrics is None) == (payload.points is None):
        raise ValidationError({"body": 'send either "metrics" (one report) or "points"'})
    items = payload.points if payload.points is not None else ingest.as_points(
        payload.metrics or {}, payload.at
    )  # fmt: skip
    return Status(201, {"stored": ingest.report(request.user, d, items)})


@router.get("/deployments/{deployment_id}/metrics", response={200: SeriesOut, **ERRORS},
            url_name="api-deployment-series")  # fmt: skip
def metric_series(
    request: HttpRequest, deployment_id: int, name: str, days: float = Query(7, gt=0, le=730)
) -> dict[str, Any]:
    """One live metric over the last `days`: raw points up to two days, hourly buckets
    (mean, low, high, count) beyond, at most 720 buckets."""
    d = _deployment(request, deployment_id)
    if not NAME_RE.match(name):
        raise ValidationError({"name": "is not a metric name"})
    until = timezone.now()
    since = until - dt.timedelta(days=days)
    buckets = series.series(d.pk, name, since, until)
    return {"deployment": d.pk, "name": name, "since": since, "until": until,
            "buckets": [b.__dict__ for b in buckets]}  # fmt: skip


def _monitor_out(m: Monitor) -> dict[str, Any]:
    return {"id": m.pk, "name": m.name, "rule": m.rule, "enabled": m.enabled,
            "open_retrain": m.open_retrain, "last_evaluated_at": m.last_evaluated_at}  # fmt: skip


@router.get("/models/{team}/{name}/monitors", response={200: list[MonitorOut], **ERRORS},
            url_name="api-monitors")  # fmt: skip
def list_monitors(request: HttpRequest, team: str = Team_, name: str = Name_) -> list[Any]:
    model = model_for_user(request.user, team, name, with_latest=False)
    return [_monitor_out(m) for m in model.monitors.all()]


@router.post("/models/{team}/{name}/monitors", response={201: MonitorOut, **ERRORS},
             url_name="api-monitors")  # fmt: skip
def create_monitor(
    request: HttpRequest, payload: MonitorIn, team: str = Team_, name: str = Name_
) -> Status:
    """Add a monitor (contributors): `live.auc < metrics.test.auc - 0.05 over 1h`; a rule
    that does not parse is a 400 naming the position."""
    model = model_for_user(request.user, team, name, with_latest=False)
    monitor = monitors.create_monitor(request.user, model, payload.name, payload.rule,
                                      payload.open_retrain)  # fmt: skip
    return Status(201, _monitor_out(monitor))


class EvaluationOut(Schema):
    judged: int
    breached: int
    cleared: int
    retrain_requests: list[int]


@router.post("/models/{team}/{name}/monitors/evaluate", response={200: EvaluationOut, **ERRORS},
             url_name="api-monitors-evaluate")  # fmt: skip
def evaluate_monitors(request: HttpRequest, team: str = Team_, name: str = Name_) -> Any:
    """Judge the model's monitors now (contributors), as the minutely beat task would."""
    model = model_for_user(request.user, team, name, Action.CONTRIBUTE, with_latest=False)
    outcome = evaluate.evaluate_model(model)
    requests = RetrainRequest.objects.filter(breach__in=outcome.breached).values_list(
        "pk", flat=True
    )
    return {"judged": outcome.judged, "breached": len(outcome.breached),
            "cleared": outcome.cleared, "retrain_requests": list(requests)}  # fmt: skip


# Declared after …/monitors/evaluate, so that path is not taken for a monitor id.
@router.delete("/models/{team}/{name}/monitors/{monitor_id}", response={204: None, **ERRORS},
               url_name="api-monitor")  # fmt: skip
def delete_monitor(
    request: HttpRequest, monitor_id: int, team: str = Team_, name: str = Name_
) -> Status:
    model = model_for_user(request.user, team, name, with_latest=False)
    monitors.delete_monitor(request.user, get_object_or_404(model.monitors, pk=monitor_id))
    return Status(204, None)


def _retrain_out(request: HttpRequest, r: RetrainRequest) -> dict[str, Any]:
    return {
        "id": r.pk, "model": f"{r.model.team.slug}/{r.model.name}", "version": r.version.version,
        "metric": r.metric, "reason": r.reason, "since": r.since, "state": r.state,
        "new_version": r.new_version.version if r.new_version else None,
        "created_at": r.created_at, "url": request.build_absolute_uri(r.get_absolute_url()),
    }  # fmt: skip


def _retrain_requests(request: HttpRequest) -> Any:
    return RetrainRequest.objects.filter(readable_models_q(request.user, "model")).select_related(
        "model__team", "version", "new_version"
    )


@router.get("/retrain-requests", response={200: RetrainPage, **ERRORS},
            url_name="api-retrain-requests")  # fmt: skip
def list_retrain_requests(
    request: HttpRequest,
    state: Literal["open", "in_progress", "done", "dismissed"] | None = None,
    model: str | None = None,
    cursor: str | None = None,
    limit: int = Limit,
) -> dict[str, Any]:
    """Retrain requests of models you may read, newest first: a training pipeline polls
    `?state=open` (or listens for the webhook event monitor.breached) and registers its
    new version with `"retrain_request": id`."""
    qs = _retrain_requests(request)
    if state:
        qs = qs.filter(state=state)
    if model:
        team_slug, _, name = model.partition("/")
        qs = qs.filter(model__team__slug=team_slug, model__name=name)
    result = page(qs, key="pk", cursor=cursor, limit=limit, key_type=int_key)
    return {"items": [_retrain_out(request, r) for r in result.items], "next": result.next_cursor}


@router.get("/retrain-requests/{request_id}", response={200: RetrainOut, **ERRORS},
            url_name="api-retrain-request")  # fmt: skip
def get_retrain_request(request: HttpRequest, request_id: int) -> dict[str, Any]:
    return _retrain_out(request, get_object_or_404(_retrain_requests(request), pk=request_id))


@router.post("/retrain-requests/{request_id}/dismiss", response={200: RetrainOut, **ERRORS},
             url_name="api-retrain-dismiss")  # fmt: skip
def dismiss_retrain_request(request: HttpRequest, payload: DismissIn, request_id: int) -> Any:
    found = get_object_or_404(_retrain_requests(request), pk=request_id)
    retrain.dismiss(request.user, found, payload.reason)
    return _retrain_out(request, _retrain_requests(request).get(pk=request_id))
