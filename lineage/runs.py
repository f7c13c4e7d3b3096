"""Training runs: recorded with a version (the client's `run=`) or by OpenLineage events.

    clean_run(value, where) -> RunData          validated fields, or a ValidationError
    save_run(team, data) -> TrainingRun         create or update by (team, external id)

A run is keyed by its orchestrator's id within a team, so events about one run (START,
then COMPLETE) and the version it produced all land on one row, whatever their order: an
ended state is never set back to "running" by a late event.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from accounts.models import Team
from lineage.models import RunState, TrainingRun

MAX_JSON_KEYS = 500
RUN_FIELDS = ("external_id", "job", "url", "state", "started_at", "ended_at", "hardware",
              "params", "metrics", "error")  # fmt: skip


@dataclass
class RunData:
    external_id: str
    values: dict[str, Any] = field(default_factory=dict)  # only the fields that were sent


def parse_time(value: Any, where: str) -> dt.datetime:
    """An ISO 8601 time with a zone ("…Z" or "…+02:00")."""
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValidationError({where: f"{value[:40]!r} is not an ISO 8601 time"}) from None
    else:
        raise ValidationError({where: "must be an ISO 8601 time string"})
    if timezone.is_naive(parsed):
        raise ValidationError({where: "needs a time zone, e.g. 2026-05-01T12:00:00Z"})
    if parsed > timezone.now() + dt.timedelta(days=1):
        raise ValidationError({where: "is in the future"})
    return parsed


def _json_object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValidationError({where: "must be an object"})
    if len(value) > MAX_JSON_KEYS:
        raise ValidationError({where: f"may have at most {MAX_JSON_KEYS} keys"})
    for key, item in value.items():
        if isinstance(item, float) and not math.isfinite(item):
            raise ValidationError({f"{where}.{key}": "must be a finite number"})
    return dict(value)


def _text(value: Any, where: str, limit: int) -> str:
    if not isinstance(value, str):
        raise ValidationError({where: "must be a string"})
    if len(value) > limit:
        raise ValidationError({where: f"may have at most {limit} characters"})
    return value.strip()


def clean_run(value: Any, where: str = "run") -> RunData:
    """A run as the API takes it: its id as a string, or an object with external_id and
    any of job, url, state, started_at, ended_at, hardware, params, metrics, error."""
    if isinstance(value, str):
        value = {"external_id": value}
    if not isinstance(value, Mapping):
        raise ValidationError({where: "must be a run id or an object with external_id"})
    unknown = set(value) - set(RUN_FIELDS)
    if unknown:
        raise ValidationError({f"{where}.{sorted(unknown)[0]}": "is not a field of a run"})
    external_id = _text(value.get("external_id", ""), f"{where}.external_id", 200)
    if not external_id:
        raise ValidationError({f"{where}.external_id": "is required"})
    values: dict[str, Any] = {}
    for key, limit in (("job", 300), ("error", 5000)):
        if key in value:
            values[key] = _text(value[key], f"{where}.{key}", limit)
    if "url" in value:
        url = _text(value["url"], f"{where}.url", 1000)
        if url:
            try:
                URLValidator(schemes=["http", "https"])(url)
            except ValidationError:
                raise ValidationError({f"{where}.url": "must be an http(s) URL"}) from None
        values["url"] = url
    if "state" in value:
        if value["state"] not in RunState.values:
            raise ValidationError(
                {f"{where}.state": f"must be one of {', '.join(RunState.values)}"}
            )
        values["state"] = value["state"]
    for key in ("started_at", "ended_at"):
        if value.get(key) is not None:
            values[key] = parse_time(value[key], f"{where}.{key}")
    started, ended = values.get("started_at"), values.get("ended_at")
    if started and ended and ended < started:
        raise ValidationError({f"{where}.ended_at": "is before started_at"})
    for key in ("hardware", "params", "metrics"):
        if key in value:
            values[key] = _json_object(value[key], f"{where}.{key}")
    return RunData(external_id, values)


def save_run(team: Team, data: RunData) -> TrainingRun:
    """Create the team's run with this id, or update it with the fields sent."""
    values = dict(data.values)
    with transaction.atomic():
        run, created = TrainingRun.objects.select_for_update().get_or_create(
            team=team, external_id=data.external_id, defaults=values
        )
        if created:
            return run
        if run.state != RunState.RUNNING and values.get("state") == RunState.RUNNING:
            del values["state"]  # a late START does not reopen an ended run
        if run.started_at and "started_at" in values:
            values["started_at"] = min(run.started_at, values["started_at"])
        for key in ("hardware", "params", "metrics"):
            if key in values:
                values[key] = {**getattr(run, key), **values[key]}
        changed = [key for key, v in values.items() if getattr(run, key) != v]
        for key in changed:
            setattr(run, key, values[key])
        if changed:
            run.save(update_fields=[*changed, "updated_at"])
    return run
