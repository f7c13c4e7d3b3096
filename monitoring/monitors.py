"""Creating, changing and deleting monitors (contributors of the model's team), audited."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts import audit
from accounts.policy import Action, require
from monitoring import rules
from monitoring.models import Monitor
from registry.models import RegisteredModel
from registry.search import SearchError


def clean_rule(rule: Any) -> str:
    """The rule's text if it parses; else a ValidationError with the position."""
    if not isinstance(rule, str) or not rule.strip():
        raise ValidationError(
            {"rule": "is required, e.g. live.auc < metrics.test.auc - 0.05 over 1h"}
        )
    try:
        rules.parse(rule)
    except SearchError as exc:
        raise ValidationError({"rule": str(exc)}) from None
    return rule.strip()


def _clean_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 100:
        raise ValidationError({"name": "is required (at most 100 characters)"})
    return name.strip()


def create_monitor(
    actor: Any, model: RegisteredModel, name: Any, rule: Any, open_retrain: bool = True
) -> Monitor:
    require(actor, Action.CONTRIBUTE, model)
    name, rule = _clean_name(name), clean_rule(rule)
    try:
        with transaction.atomic():
            monitor = Monitor.objects.create(
                model=model, name=name, rule=rule, open_retrain=open_retrain, created_by=actor
            )
            audit.record(
                "monitor.create",
                actor=actor,
                obj=monitor,
                team=model.team,
                changes={"rule": [None, rule], "open_retrain": [None, open_retrain]},
            )
    except IntegrityError:
        raise ValidationError(
            {"name": f"{model.name} already has a monitor named {name!r}"}
        ) from None
    return monitor


def set_enabled(actor: Any, monitor: Monitor, enabled: bool) -> None:
    require(actor, Action.CONTRIBUTE, monitor)
    with transaction.atomic():
        Monitor.objects.filter(pk=monitor.pk).update(enabled=enabled)
        audit.record(
            "monitor.update",
            actor=actor,
            obj=monitor,
            team=monitor.model.team,
            changes={"enabled": [monitor.enabled, enabled]},
        )
    monitor.enabled = enabled


def delete_monitor(actor: Any, monitor: Monitor) -> None:
    require(actor, Action.CONTRIBUTE, monitor)
    with transaction.atomic():
        audit.record(
            "monitor.delete",
            actor=actor,
            obj=monitor,
            team=monitor.model.team,
            changes={"rule": [monitor.rule, None]},
        )
        monitor.delete()
