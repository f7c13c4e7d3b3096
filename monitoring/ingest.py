"""Reporting live metrics for a deployment, single or batched.

    clean_points(deployment, items, now) -> list[MetricPoint]   all valid, or nothing
    report(actor, deployment, items) -> int                      stored, with the rollups

A batch is all or nothing: one bad point (unknown name syntax, a non-finite value, a time
far in the future or before the deployment started) refuses the whole batch, naming it.
Points go in with one multi-row INSERT; each (metric, hour) of the batch updates its
hourly rollup with one upsert that adds to what is there.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from accounts.policy import Action, require
from lineage.models import Deployment
from lineage.runs import parse_time
from monitoring.models import MetricPoint
from monitoring.rules import NAME_RE

MAX_POINTS = 10_000  # per request
CLOCK_SKEW = dt.timedelta(minutes=5)
ROLLUP_TABLE = "monitoring_metricrollup"


def _finite(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError({where: "must be a number"})
    number = float(value)
    if not math.isfinite(number):
        raise ValidationError({where: "must be a finite number (not NaN or infinity)"})
    return number


def clean_points(
    deployment: Deployment, items: Iterable[Mapping[str, Any]], now: dt.datetime
) -> list[MetricPoint]:
    """Validate [{"name", "value", "at"}] (at: ISO 8601 with a zone, default now)."""
    points = []
    for i, item in enumerate(items):
        where = f"points.{i}"
        if i >= MAX_POINTS:
            raise ValidationError({"points": f"send at most {MAX_POINTS:,} points per request"})
        if not isinstance(item, Mapping):
            raise ValidationError({where: "must be an object with name, value and at"})
        name = item.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise ValidationError(
                {f"{where}.name": "use 1-100 letters, digits, '_', '.', ':' or '-'"}
            )
        value = _finite(item.get("value"), f"{where}.value")
        at = parse_time(item["at"], f"{where}.at") if item.get("at") is not None else now
        if at > now + CLOCK_SKEW:
            raise ValidationError({f"{where}.at": "is in the future"})
        if at < deployment.deployed_at:
            raise ValidationError({f"{where}.at": "is before the deployment started"})
        points.append(MetricPoint(deployment=deployment, name=name, at=at, value=value))
    return points


def _hour(at: dt.datetime) -> dt.datetime:
    return at.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def _upsert_rollups(points: list[MetricPoint]) -> None:
    """Fold the points into their hourly rollups: one statement (SQLite and PostgreSQL
    share the INSERT … ON CONFLICT DO UPDATE syntax), adding to what is stored."""
    groups: dict[tuple[int, str, dt.datetime], list[float]] = defaultdict(list)
    for p in points:
        groups[(p.deployment_id, p.name, _hour(p.at))].append(p.value)
    rows = []
    for (deployment_id, name, hour), values in groups.items():
        stored_hour = connection.ops.adapt_datetimefield_value(hour)
        rows.append((deployment_id, name, stored_hour, len(values), sum(values), min(values),
                     max(values)))  # fmt: skip
    sql = (
        f"INSERT INTO {ROLLUP_TABLE} (deployment_id, name, hour, count, total, low, high) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (deployment_id, name, hour) DO UPDATE SET "
        f"count = {ROLLUP_TABLE}.count + excluded.count, "
        f"total = {ROLLUP_TABLE}.total + excluded.total, "
        f"low = MIN({ROLLUP_TABLE}.low, excluded.low), "
        f"high = MAX({ROLLUP_TABLE}.high, excluded.high)"
    )
    if connection.vendor == "postgresql":
        sql = sql.replace("MIN(", "LEAST(").replace("MAX(", "GREATEST(")
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def report(actor: Any, deployment: Deployment, items: Iterable[Mapping[str, Any]]) -> int:
    """Store a batch of points for a deployment the actor may contribute to."""
    require(actor, Action.CONTRIBUTE, deployment)
    points = clean_points(deployment, items, timezone.now())
    if not points:
        raise ValidationError({"points": "send at least one point"})
    with transaction.atomic():
        MetricPoint.objects.bulk_create(points, batch_size=2000)
        _upsert_rollups(points)
    return len(points)


def as_points(metrics: Mapping[str, Any], at: Any = None) -> list[dict[str, Any]]:
    """A single report {"auc": 0.91, …} (at one time) as points."""
    if not isinstance(metrics, Mapping) or not metrics:
        raise ValidationError({"metrics": "must be an object of metric names to numbers"})
    return [{"name": name, "value": value, "at": at} for name, value in metrics.items()]
