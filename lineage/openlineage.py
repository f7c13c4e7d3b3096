"""OpenLineage ingest: RunEvents (as Airflow, Spark and dbt emit them) become training
runs with their input and output dataset versions.

    ingest(actor, event, team=None) -> Ingested

A dataset is named "<namespace>/<name>" (an S3 dataset is then its URI, as the client
names datasets by URI); its version is the `version` facet's datasetVersion, else the
unversioned dataset. Inputs are "used" by the run; outputs are "produced" by it. Facets
Modelgate does not read are ignored; what it reads is validated, naming the field.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import Team
from accounts.policy import Action, require, teams_for
from lineage.graph import DatasetRef, Node, add_edges, dataset_versions
from lineage.models import EdgeKind, NodeType, RunState, TrainingRun
from lineage.runs import RunData, parse_time, save_run

EVENT_STATES = {
    "START": RunState.RUNNING,
    "RUNNING": RunState.RUNNING,
    "COMPLETE": RunState.COMPLETE,
    "FAIL": RunState.FAILED,
    "ABORT": RunState.ABORTED,
    "OTHER": None,
}
MAX_DATASETS = 500


@dataclass
class Ingested:
    run: TrainingRun
    inputs: int
    outputs: int


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValidationError({where: "must be an object"})
    return value


def _string(parent: Mapping[str, Any], key: str, where: str, limit: int = 300) -> str:
    value = parent.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError({f"{where}.{key}": "is required and must be a non-empty string"})
    if len(value) > limit:
        raise ValidationError({f"{where}.{key}": f"may have at most {limit} characters"})
    return value.strip()


def _facet(facets: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = facets.get(name)
    return value if isinstance(value, Mapping) else {}


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _dataset(item: Any, where: str, team: Team) -> DatasetRef:
    item = _object(item, where)
    namespace = _string(item, "namespace", where, 500)
    name = _string(item, "name", where, 500)
    full = f"{namespace.rstrip('/')}/{name.lstrip('/')}"
    if len(full) > 300:
        raise ValidationError({f"{where}.name": "namespace/name may have at most 300 characters"})
    facets = _object(item.get("facets") or {}, f"{where}.facets")
    io_facets = {**(item.get("inputFacets") or {}), **(item.get("outputFacets") or {})}
    stats = _facet(io_facets, "outputStatistics") or _facet(io_facets, "dataQualityMetrics")
    fields = _facet(facets, "schema").get("fields")
    schema = {"fields": fields} if isinstance(fields, list) else {}
    version = _facet(facets, "version").get("datasetVersion")
    return DatasetRef(
        team=team.slug,
        name=full,
        version=str(version)[:200] if version is not None else "",
        uri=str(_facet(facets, "dataSource").get("uri") or full)[:1000],
        size_bytes=_count(stats.get("size", stats.get("bytes"))),
        rows=_count(stats.get("rowCount")),
        schema=schema,
    )


def _team(actor: Any, team: str | None, namespace: str) -> Team:
    """The team named by `team`, else the job's namespace when it is a team slug, else the
    caller's only team they may contribute to."""
    candidates = teams_for(actor, Action.CONTRIBUTE)
    slug = team or namespace
    chosen = candidates.filter(slug=slug).first()
    if chosen is None and not team:
        only = list(candidates[:2])
        chosen = only[0] if len(only) == 1 else None
    if chosen is None:
        # A team the caller may read but not write is a 403; any other is unknown to them.
        found = teams_for(actor, Action.VIEW).filter(slug=slug).first() if team else None
        if found is not None:
            require(actor, Action.CONTRIBUTE, found)  # 403 when a member may only read
        raise ValidationError(
            {"team": "name a team you may contribute to (?team=…, or the job's namespace)"}
        )
    return chosen


def ingest(actor: Any, event: Any, team: str | None = None) -> Ingested:
    """Record one RunEvent; events may come in any order and more than once."""
    event = _object(event, "body")
    event_type = event.get("eventType", "OTHER")
    if event_type not in EVENT_STATES:
        raise ValidationError({"eventType": f"must be one of {', '.join(EVENT_STATES)}"})
    if "eventTime" not in event:
        raise ValidationError({"eventTime": "is required"})
    at = parse_time(event["eventTime"], "eventTime")
    run = _object(event.get("run"), "run")
    run_id = _string(run, "runId", "run", 200)
    try:
        uuid.UUID(run_id)
    except ValueError:
        raise ValidationError({"run.runId": "must be a UUID"}) from None
    job = _object(event.get("job"), "job")
    namespace, job_name = _string(job, "namespace", "job"), _string(job, "name", "job")
    chosen = _team(actor, team, namespace)
    inputs, outputs = event.get("inputs") or [], event.get("outputs") or []
    for key, items in (("inputs", inputs), ("outputs", outputs)):
        if not isinstance(items, list):
            raise ValidationError({key: "must be a list"})
        if len(items) > MAX_DATASETS:
            raise ValidationError({key: f"may have at most {MAX_DATASETS} datasets"})
    used = [_dataset(d, f"inputs.{i}", chosen) for i, d in enumerate(inputs)]
    made = [_dataset(d, f"outputs.{i}", chosen) for i, d in enumerate(outputs)]

    values: dict[str, Any] = {"job": f"{namespace}/{job_name}"[:300]}
    state = EVENT_STATES[event_type]
    if state is not None:
        values["state"] = state
    if event_type == "START":
        values["started_at"] = at
    elif state in (RunState.COMPLETE, RunState.FAILED, RunState.ABORTED):
        values["ended_at"] = at
    message = _facet(_object(run.get("facets") or {}, "run.facets"), "errorMessage").get("message")
    if isinstance(message, str):
        values["error"] = message[:5000]
    with transaction.atomic():
        saved = save_run(chosen, RunData(run_id, values))
        node = Node(NodeType.RUN, saved.pk)
        used_versions = dataset_versions(chosen, used)
        made_versions = dataset_versions(chosen, made)
        add_edges(
            [(EdgeKind.USED, Node(NodeType.DATASET, dv.pk), node) for dv in used_versions]
            + [(EdgeKind.PRODUCED, node, Node(NodeType.DATASET, dv.pk)) for dv in made_versions]
        )
    return Ingested(saved, len(used), len(made))
