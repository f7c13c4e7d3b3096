"""Demo monitoring for `seed_demo`: two weeks of live metrics for each Production
deployment, one monitor per model on its headline metric, and one model whose live AUC
has slipped in the last hours, so the monitor breaches and a retrain request is open.

Everything goes through the domain (monitoring.ingest, monitors, evaluate), as the API would.
"""

from __future__ import annotations

import datetime as dt
import math
import random

from django.utils import timezone

from accounts.models import User
from lineage.models import Deployment, DeploymentStatus
from monitoring import evaluate, ingest, monitors
from registry.demo import ModelSpec, stable_seed
from registry.models import Metric, RegisteredModel, Split

DAYS = 14
EVERY = dt.timedelta(minutes=20)
DEGRADED = "card-fraud-xgb"  # its live AUC drops below the monitor's bound lately


def _rule(spec: ModelSpec) -> str:
    name = spec.metrics[0].name
    if spec.metrics[0].lower_is_better:
        margin = abs(spec.metrics[0].best) * 0.1
        return f"live.{name} > metrics.test.{name} + {margin:.3g} over 6h"
    return f"live.{name} < metrics.test.{name} - 0.03 over 6h"


def seed_monitoring(spec: ModelSpec, model: RegisteredModel, actor: User) -> int:
    """Live metrics, a monitor; returns the points stored."""
    monitors.create_monitor(actor, model, f"{spec.metrics[0].name} slipping", _rule(spec))
    monitors.create_monitor(actor, model, "latency", "live.p95_latency_ms > 120 over 1h",
                            open_retrain=False)  # fmt: skip
    now = timezone.now()
    rng = random.Random(stable_seed("live", spec.name))
    stored = 0
    live = Deployment.objects.filter(model=model, status=DeploymentStatus.ACTIVE)
    for d in live.exclude(environment="staging").select_related("version"):
        metric = spec.metrics[0]
        offline = Metric.objects.filter(version=d.version, split=Split.TEST, name=metric.name)
        base = offline.values_list("value", flat=True).first() or metric.best
        start = max(d.deployed_at, now - dt.timedelta(days=DAYS))
        points, at = [], start
        while at < now:
            daily = math.sin(2 * math.pi * at.hour / 24)
            value = base - abs(base) * 0.01 * (1 + daily) + rng.gauss(0, abs(base) * 0.004)
            if spec.name == DEGRADED and now - at < dt.timedelta(hours=8):
                value = base - 0.06 - rng.random() * 0.01  # the slip the monitor catches
            latency = 38 + 12 * (1 + daily) + rng.gauss(0, 3)
            points.append({"name": metric.name, "value": round(value, 5), "at": at})
            points.append({"name": "p95_latency_ms", "value": round(latency, 1), "at": at})
            at += EVERY
        for batch in range(0, len(points), ingest.MAX_POINTS):
            rows = [
                {**p, "at": p["at"].isoformat()} for p in points[batch : batch + ingest.MAX_POINTS]
            ]
            stored += ingest.report(actor, d, rows)
    return stored


def judge() -> int:
    """One round of the monitors, as beat would run it: returns the breaches opened."""
    return len(evaluate.evaluate_all().breached)
