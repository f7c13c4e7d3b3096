"""Request and response bodies. Requests forbid unknown fields (a typo answers 422)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Schema
from pydantic import ConfigDict, Field, model_validator

from registry.metadata import UNSTORABLE_MESSAGE, unstorable_text

# The URL converters' rules (registry.converters), so odd bytes never reach SQL.
TEAM_SLUG = r"^[-a-zA-Z0-9_]{1,60}$"
MODEL_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
VERSION = r"^[0-9A-Za-z.+-]{1,128}$"


class Body(Schema):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        where = unstorable_text(data)
        if where is not None:
            at = ".".join(str(p) for p in where) or "body"
            raise ValueError(f"{at}: {UNSTORABLE_MESSAGE}")
        return data


# --- requests ---------------------------------------------------------------------------


class ModelCreate(Body):
    team: str
    name: str
    description: str = ""
    task_type: str = "other"
    framework: str = ""
    versioning_scheme: str = "semantic"
    visibility: str = "team"
    tags: dict[str, str | None] | None = None


class ModelUpdate(Body):
    description: str | None = None
    task_type: str | None = None
    framework: str | None = None
    tags: dict[str, str | None] | None = None
    visibility: str | None = None
    allow_multiple_production: bool | None = None


class VersionCreate(Body):
    """Metadata-only registration; clean_version_metadata validates the groups."""

    version: str | None = None
    description: str | None = None
    task_type: str | None = None
    framework: str | None = None
    framework_version: str | None = None
    metrics: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    environment: dict[str, Any] | None = None
    signature: dict[str, Any] | None = None
    code_repository: str | None = None
    code_commit: str | None = None
    code_branch: str | None = None
    code_entry_point: str | None = None
    code_dirty: bool | None = None
    training_started_at: str | None = None
    training_ended_at: str | None = None
    tags: dict[str, str | None] | None = None
    # Lineage (lineage.graph): "s3://…" / "[team/]name[@version]" or objects with details.
    datasets: list[str | dict[str, Any]] | None = Field(None, max_length=100)
    # "[team/]model@version", or {"version": …, "kind": "fine_tuned_from"}.
    parents: list[str | dict[str, Any]] | None = Field(None, max_length=100)
    # Feature set versions: "[team/]name[@version]" or {"name", "version", "features", …}.
    features: list[str | dict[str, Any]] | None = Field(None, max_length=100)
    # The training run that produced it: its id, or {"external_id", "url", "started_at", …}.
    run: str | dict[str, Any] | None = None
    # The retrain request (monitoring) this version answers: its version becomes a parent.
    retrain_request: int | None = None


class VersionUpdate(Body):
    description: str | None = None
    tags: dict[str, str | None] | None = None


class StageChange(Body):
    stage: str
    comment: str = ""


# --- responses --------------------------------------------------------------------------


class ErrorDetail(Schema):
    field: str | None = None
    message: str
    position: int | None = None  # search queries: where the error is, 0-based


class ErrorBody(Schema):
    code: str
    message: str
    field: str | None = None
    details: list[ErrorDetail] | None = None


class Error(Schema):
    error: ErrorBody


class TeamOut(Schema):
    slug: str
    name: str
    role: str | None


class VersionRef(Schema):
    version: str
    stage: str


class ModelOut(Schema):
    team: str
    name: str
    description: str
    task_type: str
    framework: str
    versioning_scheme: str
    visibility: str
    allow_multiple_production: bool
    tags: dict[str, str]
    version_count: int
    latest_version: VersionRef | None
    created_at: dt.datetime
    updated_at: dt.datetime
    url: str


class MetricOut(Schema):
    value: float
    direction: str


class CodeOut(Schema):
    repository: str
    commit: str
    branch: str
    entry_point: str
    dirty: bool | None


class TrainingOut(Schema):
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    duration_seconds: float | None


class ArtifactOut(Schema):
    path: str
    size: int
    sha256: str
    download_url: str


class VersionSummary(Schema):
    model: str  # "team/name": search results span models
    version: str
    sequence: int
    stage: str
    description: str
    created_at: dt.datetime
    created_by: str | None
    url: str


class DeprecationInfo(Schema):
    deprecated_at: dt.datetime
    reason: str
    sunset: dt.date | None


class LineageRefsOut(Schema):
    datasets: list[str]
    parents: list[str]


class VersionOut(VersionSummary):
    task_type: str
    framework: str
    framework_version: str
    stage_changed_at: dt.datetime | None
    metrics: dict[str, dict[str, MetricOut]]
    params: dict[str, Any]
    environment: dict[str, Any]
    signature: dict[str, Any]
    code: CodeOut
    training: TrainingOut
    tags: dict[str, str]
    lineage: LineageRefsOut  # datasets used and parent versions, those the caller may read
    artifacts: list[ArtifactOut]
    manifest_url: str
    deprecation: DeprecationInfo | None = None


class StageChangeOut(Schema):
    version: str
    from_stage: str
    to_stage: str
    comment: str
    created_at: dt.datetime


class TeamPage(Schema):
    items: list[TeamOut]
    next: str | None


class ModelPage(Schema):
    items: list[ModelOut]
    next: str | None


class VersionPage(Schema):
    items: list[VersionSummary]
    next: str | None
