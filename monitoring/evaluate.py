"""Evaluating monitors (Celery beat runs evaluate_all every minute).

For each enabled monitor, the mean of its live metric over its window is compared, for
every live deployment of its model, with the rule's bound (a constant, or the deployed
version's own offline metric plus an offset). A rule that starts to hold opens a breach
and (unless the monitor says not to) a retrain request, alerts the team in the app and by
email, and sends the webhook event monitor.breached; one that stops holding clears the
breach. A deployment without points in the window is not judged.

Queries: a few to load monitors, deployments, offline metrics and open breaches, then one
grouped query per monitor, whatever the number of deployments.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from lineage.models import Deployment, DeploymentStatus
from monitoring import retrain, rules, series
from monitoring.models import Breach, Monitor
from registry.models import Metric, RegisteredModel
from registry.search import SearchError

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    monitors: int = 0
    deployments: int = 0
    judged: int = 0
    breached: list[Breach] = field(default_factory=list)
    cleared: int = 0


def evaluate_all(now: dt.datetime | None = None, monitors: list[Monitor] | None = None) -> Outcome:
    now = now or timezone.now()
    if monitors is None:
        monitors = list(Monitor.objects.filter(enabled=True).select_related("model__team"))
    outcome = Outcome(monitors=len(monitors))
    if not monitors:
        return outcome
    model_ids = {m.model_id for m in monitors}
    live: dict[int, list[Deployment]] = defaultdict(list)
    for d in Deployment.objects.filter(model_id__in=model_ids, status=DeploymentStatus.ACTIVE
                                       ).select_related("version", "model__team"):  # fmt: skip
        live[d.model_id].append(d)
    outcome.deployments = sum(len(v) for v in live.values())
    parsed = {}
    for monitor in monitors:
        try:
            parsed[monitor.pk] = rules.parse(monitor.rule)
        except SearchError as exc:  # stored rules were checked; a grammar change may not
            log.warning("monitor %s has a rule that no longer parses: %s", monitor.pk, exc)
    offline = _offline_metrics(monitors, parsed, live)
    open_breaches = {
        (b.monitor_id, b.deployment_id): b
        for b in Breach.objects.filter(monitor__in=monitors, cleared_at__isnull=True)
    }
    for monitor in monitors:
        rule = parsed.get(monitor.pk)
        deployments = live.get(monitor.model_id, [])
        if rule is None or not deployments:
            continue
        means = series.window_means([d.pk for d in deployments], rule.metric, rule.window, now)
        for d in deployments:
            mean = means.get(d.pk)
            threshold = rule.threshold(
                offline.get((d.version_id, *rule.offline)) if rule.offline else None
            )
            if mean is None or threshold is None:
                continue
            outcome.judged += 1
            breach = open_breaches.get((monitor.pk, d.pk))
            if rule.breached(mean, threshold) and breach is None:
                outcome.breached.append(_open(monitor, rule, d, mean, threshold, now))
            elif not rule.breached(mean, threshold) and breach is not None:
                Breach.objects.filter(pk=breach.pk).update(cleared_at=now)
                outcome.cleared += 1
    Monitor.objects.filter(pk__in=[m.pk for m in monitors]).update(last_evaluated_at=now)
    return outcome


def evaluate_model(model: RegisteredModel, now: dt.datetime | None = None) -> Outcome:
    """Judge one model's enabled monitors now (the "Check now" button and its API)."""
    return evaluate_all(now, monitors=list(model.monitors.filter(enabled=True)))


def _offline_metrics(
    monitors: list[Monitor], parsed: dict[int, rules.Rule], live: dict[int, list[Deployment]]
) -> dict[tuple[int, str, str], float]:
    """(version id, split, name) → value, for the offline metrics the rules compare with."""
    wanted = {r.offline for r in parsed.values() if r.offline}
    version_ids = {d.version_id for ds in live.values() for d in ds}
    if not wanted or not version_ids:
        return {}
    rows = Metric.objects.filter(
        version_id__in=version_ids,
        split__in={s for s, _n in wanted},
        name__in={n for _s, n in wanted},
    ).values_list("version_id", "split", "name", "value")
    return {(v, s, n): value for v, s, n, value in rows}


def _open(
    monitor: Monitor,
    rule: rules.Rule,
    deployment: Deployment,
    mean: float,
    threshold: float,
    now: dt.datetime,
) -> Breach:
    with transaction.atomic():
        breach = Breach.objects.create(
            monitor=monitor, deployment=deployment, since=now - rule.window,
            observed=mean, threshold=threshold,
        )  # fmt: skip
        retrain.breached(monitor, rule, breach)
    return breach
