"""Reading live metrics back: chart series (raw for short ranges, hourly rollups merged
into at most MAX_BUCKETS buckets for long ones) and the means monitors compare.

    metric_names(deployment_ids) -> {deployment id: [names]}
    series(deployment, name, since, until) -> list[Bucket]
    window_means(deployment_ids, name, since) -> {deployment id: mean}
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db.models import Avg, F, FloatField, Sum
from django.db.models.functions import Cast

from monitoring.models import MetricPoint, MetricRollup

RAW_RANGE = dt.timedelta(days=2)  # shorter ranges are drawn (and judged) from raw points
MAX_BUCKETS = 720


@dataclass(frozen=True)
class Bucket:
    at: dt.datetime
    mean: float
    low: float
    high: float
    count: int


def metric_names(deployment_ids: Iterable[int]) -> dict[int, list[str]]:
    """The live metrics each deployment reported (from the rollups' unique index)."""
    found: dict[int, list[str]] = {}
    rows = (
        MetricRollup.objects.filter(deployment_id__in=list(deployment_ids))
        .values_list("deployment_id", "name")
        .distinct()
        .order_by("deployment_id", "name")
    )
    for deployment_id, name in rows:
        found.setdefault(deployment_id, []).append(name)
    return found


def _merge(buckets: Sequence[Bucket], size: int) -> list[Bucket]:
    merged = []
    for i in range(0, len(buckets), size):
        group = buckets[i : i + size]
        count = sum(b.count for b in group)
        merged.append(
            Bucket(
                group[0].at,
                sum(b.mean * b.count for b in group) / count,
                min(b.low for b in group),
                max(b.high for b in group),
                count,
            )
        )
    return merged


def series(deployment_id: int, name: str, since: dt.datetime, until: dt.datetime) -> list[Bucket]:
    """The metric between `since` and `until`, oldest first (one query)."""
    if until - since <= RAW_RANGE:
        rows = (
            MetricPoint.objects.filter(
                deployment_id=deployment_id, name=name, at__gte=since, at__lte=until
            )
            .order_by("at")
            .values_list("at", "value")[: MAX_BUCKETS * 10]
        )
        buckets = [Bucket(at, v, v, v, 1) for at, v in rows]
    else:
        rows = (
            MetricRollup.objects.filter(
                deployment_id=deployment_id, name=name, hour__gte=since, hour__lte=until
            )
            .order_by("hour")
            .values_list("hour", "count", "total", "low", "high")
        )
        buckets = [
            Bucket(h, total / count, low, high, count) for h, count, total, low, high in rows
        ]
    if len(buckets) > MAX_BUCKETS:
        buckets = _merge(buckets, -(-len(buckets) // MAX_BUCKETS))
    return buckets


def window_means(
    deployment_ids: Sequence[int], name: str, window: dt.timedelta, now: dt.datetime
) -> dict[int, float]:
    """Each deployment's mean of `name` over the `window` up to `now` (one grouped query):
    raw points for windows up to two days, hourly rollups (whole hours) for longer ones."""
    if not deployment_ids:
        return {}
    since = now - window
    if window <= RAW_RANGE:
        rows = (
            MetricPoint.objects.filter(
                deployment_id__in=deployment_ids, name=name, at__gt=since, at__lte=now
            )
            .values("deployment_id")
            .annotate(mean=Avg("value"))
            .values_list("deployment_id", "mean")
        )
    else:
        rows = (
            MetricRollup.objects.filter(
                deployment_id__in=deployment_ids, name=name, hour__gte=since, hour__lte=now
            )
            .values("deployment_id")
            .annotate(mean=Sum("total") / Cast(Sum(F("count")), FloatField()))
            .values_list("deployment_id", "mean")
        )
    return {deployment_id: mean for deployment_id, mean in rows if mean is not None}
