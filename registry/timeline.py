"""Which version held each stage and alias of a model at any moment, and the history of
changes, rebuilt from the append-only StageTransition and AliasEvent rows."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Max

from registry.models import AliasEvent, ModelVersion, RegisteredModel, Stage, StageTransition

SERVING_STAGES = (Stage.STAGING, Stage.PRODUCTION)


@dataclass(frozen=True)
class Holding:
    """`version` held `label` (a stage or an alias name) from `since`, put there by `by`."""

    label: str
    version: ModelVersion
    since: dt.datetime
    by: Any
    request_id: int | None = None


@dataclass(frozen=True)
class Event:
    kind: str  # "stage" or "alias"
    at: dt.datetime
    version: ModelVersion | None
    actor: Any
    from_stage: str = ""
    to_stage: str = ""
    alias: str = ""
    comment: str = ""
    request_id: int | None = None


def state_at(model: RegisteredModel, when: dt.datetime) -> dict[str, Any]:
    """The Staging/Production holders and the aliases of the model at `when`."""
    last_transitions = (
        StageTransition.objects.filter(version__model=model, created_at__lte=when)
        .values("version")
        .annotate(last=Max("id"))
        .values("last")
    )
    held = (
        StageTransition.objects.filter(id__in=last_transitions, to_stage__in=SERVING_STAGES)
        .select_related("version__model__team", "actor")
        .order_by("-created_at")
    )
    stages = {stage: [] for stage in SERVING_STAGES}
    for t in held:
        stages[t.to_stage].append(
            Holding(Stage(t.to_stage).label, t.version, t.created_at, t.actor, t.request_id)
        )
    last_alias_events = (
        AliasEvent.objects.filter(model=model, created_at__lte=when)
        .values("name")
        .annotate(last=Max("id"))
        .values("last")
    )
    aliases = [
        Holding(e.name, e.version, e.created_at, e.actor)
        for e in AliasEvent.objects.filter(id__in=last_alias_events, version__isnull=False)
        .select_related("version__model__team", "actor")
        .order_by("name")
    ]
    return {"stages": [(Stage(s), stages[s]) for s in SERVING_STAGES], "aliases": aliases}


def history(
    model: RegisteredModel, before: dt.datetime | None = None, limit: int = 50
) -> list[Event]:
    """The newest `limit` stage and alias changes before `before`, newest first."""
    transitions = StageTransition.objects.filter(version__model=model)
    alias_events = AliasEvent.objects.filter(model=model)
    if before is not None:
        transitions = transitions.filter(created_at__lt=before)
        alias_events = alias_events.filter(created_at__lt=before)
    events = [
        Event(
            "stage",
            t.created_at,
            t.version,
            t.actor,
            from_stage=t.from_stage,
            to_stage=t.to_stage,
            comment=t.comment,
            request_id=t.request_id,
        )
        for t in transitions.select_related("version__model__team", "actor").order_by(
            "-created_at", "-id"
        )[:limit]
    ] + [
        Event("alias", e.created_at, e.version, e.actor, alias=e.name)
        for e in alias_events.select_related("version__model__team", "actor").order_by(
            "-created_at", "-id"
        )[:limit]
    ]
    events.sort(key=lambda e: e.at, reverse=True)
    return events[:limit]
