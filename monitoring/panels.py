"""Live-metric charts for the deployment and version pages, next to the version's offline
test metrics (a dashed reference line when the names match).

    deployment_charts(deployment, days) -> list[Chart]      every metric it reported
    version_charts(version) -> list[Chart]                   its live deployments, 7 days

Queries: one for the metric names, one per chart; the version page draws at most
MAX_VERSION_CHARTS charts, whatever the number of deployments and metrics.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils import timezone
from django.utils.safestring import SafeString

from lineage.models import Deployment, DeploymentStatus
from monitoring import series
from registry import charts
from registry.models import Metric, ModelVersion, Split

RANGES = (1, 7, 30, 90)  # days a deployment page offers
MAX_VERSION_CHARTS = 6


@dataclass
class Chart:
    deployment: Deployment
    name: str
    svg: SafeString
    latest: float
    mean: float
    low: float
    high: float
    count: int
    reference: float | None


def _offline(version: ModelVersion) -> dict[str, float]:
    """The version's test metrics (else validation) by name: what live values compare to."""
    found: dict[str, float] = {}
    for split in (Split.VALIDATION, Split.TEST):  # test wins
        for metric in version.metrics.all():
            if metric.split == split:
                found[metric.name] = metric.value
    return found


def _chart(deployment: Deployment, name: str, since: dt.datetime, until: dt.datetime,
           reference: float | None) -> Chart | None:  # fmt: skip
    buckets = series.series(deployment.pk, name, since, until)
    if not buckets:
        return None
    points = [charts.TimePoint(b.at, b.mean, b.low, b.high) for b in buckets]
    count = sum(b.count for b in buckets)
    svg = charts.time_chart(
        points, title=f"live {name} of {deployment.version.version} in {deployment.environment}",
        since=since, until=until, reference=reference, reference_label="offline",
    )  # fmt: skip
    return Chart(deployment, name, svg, latest=buckets[-1].mean,
                 mean=sum(b.mean * b.count for b in buckets) / count,
                 low=min(b.low for b in buckets), high=max(b.high for b in buckets),
                 count=count, reference=reference)  # fmt: skip


def deployment_charts(deployment: Deployment, days: int) -> list[Chart]:
    until = deployment.ended_at or timezone.now()
    since = until - dt.timedelta(days=days)
    offline = _offline(deployment.version)
    names = series.metric_names([deployment.pk]).get(deployment.pk, [])
    found = [_chart(deployment, n, since, until, offline.get(n)) for n in names]
    return [c for c in found if c is not None]


def version_charts(
    version: ModelVersion, deployed: Sequence[Deployment], days: int = 7
) -> list[Chart]:
    """Charts of the version's live deployments (`deployed`: its deployments, as its
    lineage lists them): no query when it is not deployed."""
    live = [d for d in deployed if d.status == DeploymentStatus.ACTIVE][:3]
    names = series.metric_names([d.pk for d in live]) if live else {}
    if not any(names.values()):
        return []
    offline = {m.name: m.value for m in Metric.objects.filter(version=version, split=Split.TEST)}
    until = timezone.now()
    since = until - dt.timedelta(days=days)
    result: list[Chart] = []
    for d in live:
        for name in names.get(d.pk, []):
            if len(result) == MAX_VERSION_CHARTS:
                return result
            chart = _chart(d, name, since, until, offline.get(name))
            if chart is not None:
                result.append(chart)
    return result
