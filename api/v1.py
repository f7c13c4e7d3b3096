"""The REST API, version 1: mounted at /api/v1/, schema at openapi.json, docs at docs.

Every endpoint fetches through the permission policy (registry.access, visible_to) and
changes state only through registry.services, like the pages do.
"""

from __future__ import annotations

import datetime as dt
import json
from contextlib import nullcontext
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from ninja import NinjaAPI, Path, Query, Schema, Status
from ninja.errors import HttpError

from accounts.policy import Action, memberships, teams_for
from api import (
    archive,
    cards,
    deployments,
    downloads,
    errors,
    lineage,
    monitoring,
    promotions,
    search,
    uploads,
)
from api.auth import AUTH
from api.pagination import page
from api.params import ERRORS, Limit, Name_, Team_, Version_
from api.parser import JsonParser
from api.schemas import (
    Body,
    ModelCreate,
    ModelOut,
    ModelPage,
    ModelUpdate,
    StageChange,
    StageChangeOut,
    TeamPage,
    VersionOut,
    VersionPage,
    VersionUpdate,
)
from lineage import graph, runs
from lineage.models import EdgeKind
from monitoring import retrain
from registry import aliases, deprecation, services
from registry.access import model_for_user, version_for_user
from registry.metadata import clean_version_metadata
from registry.models import Alias, ModelTag, ModelVersion, RegisteredModel, Stage
from registry.pagination import int_key
from registry.queries import ModelFilters, filter_models


class ModelgateAPI(NinjaAPI):
    def on_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse:
        # Ninja reports any body the parser refused as 400 "Cannot parse request body";
        # a refused media type (api.parser) answers 415 as itself.
        if isinstance(exc, HttpError) and isinstance(exc.__cause__, errors.UnsupportedMediaType):
            exc = exc.__cause__
        return super().on_exception(request, exc)

    def get_openapi_schema(self, **kwargs: Any) -> Any:
        """Every operation that takes a JSON body may answer 415 to another media type."""
        schema = super().get_openapi_schema(**kwargs)
        error = {"$ref": "#/components/schemas/Error"}
        for operations in schema["paths"].values():
            for operation in operations.values():
                if "application/json" in operation.get("requestBody", {}).get("content", {}):
                    operation["responses"].setdefault(415, {
                        "description": "Unsupported Media Type",
                        "content": {"application/json": {"schema": error}},
                    })  # fmt: skip
        return schema

    @property
    def urls(self) -> tuple[list[Any], str, str]:
        patterns, app_name, namespace = super().urls
        # The API answers 401 in JSON itself; LoginRequiredMiddleware would redirect token
        # clients to the sign-in page. The schema and docs pages are public.
        for pattern in patterns:
            login_not_required(pattern.callback)
        return patterns, app_name, namespace


api = ModelgateAPI(
    title="Modelgate API",
    version="1",
    urls_namespace="api",
    auth=AUTH,
    parser=JsonParser(),
    description="Register, find, resolve and promote model versions. Authenticate with "
    "`Authorization: Bearer mg_…` (a personal API token) or a signed-in session.",
)
errors.install(api)


# --- serialisation ----------------------------------------------------------------------


def _tags(obj: Any) -> dict[str, str]:
    return {tag.key: tag.value for tag in obj.tags.all()}


def _model_out(model: RegisteredModel) -> dict[str, Any]:
    latest = model.latest_version
    return {
        "team": model.team.slug,
        **services.model_fields(model, _tags(model)),
        "version_count": model.version_count,
        "latest_version": {"version": latest.version, "stage": latest.stage} if latest else None,
        "created_at": model.created_at,
        "updated_at": model.updated_at,
        "url": model.get_absolute_url(),
    }


def _version_summary(mv: ModelVersion) -> dict[str, Any]:
    return {
        "model": f"{mv.model.team.slug}/{mv.model.name}",
        "version": mv.version,
        "sequence": mv.sequence,
        "stage": mv.stage,
        "description": mv.description,
        "created_at": mv.created_at,
        "created_by": mv.created_by.get_username() if mv.created_by else None,
        "url": mv.get_absolute_url(),
    }


def _version_out(
    request: HttpRequest,
    mv: ModelVersion,
    lineage_refs: dict[int, tuple[list[str], list[str]]] | None = None,
) -> dict[str, Any]:
    """The version as GET answers it; `lineage_refs` (direct_references' answer) when the
    caller knows it without asking the database."""
    team, name = mv.model.team.slug, mv.model.name
    metrics: dict[str, dict[str, Any]] = {}
    for metric in mv.metrics.all():
        metrics.setdefault(metric.split, {})[metric.name] = {
            "value": metric.value,
            "direction": metric.direction,
        }
    duration = mv.training_duration
    if lineage_refs is None:
        lineage_refs = graph.direct_references(request.user, [mv.pk])
    artifacts = [
        {
            "path": a.path,
            "size": a.size,
            "sha256": a.blob_id,
            "download_url": request.build_absolute_uri(
                reverse("api:api-artifact", args=[team, name, mv.version, a.path])
            ),
        }
        for a in mv.artifacts.all()
    ]
    return {
        **_version_summary(mv),
        "task_type": mv.task_type,
        "framework": mv.framework,
        "framework_version": mv.framework_version,
        "stage_changed_at": mv.stage_changed_at,
        "deprecation": (
            {
                "deprecated_at": mv.deprecated_at,
                "reason": mv.deprecation_reason,
                "sunset": mv.sunset_date,
            }
            if mv.deprecated_at
            else None
        ),
        "metrics": metrics,
        "params": mv.params,
        "environment": mv.environment,
        "signature": mv.signature,
        "code": {
            "repository": mv.code_repository,
            "commit": mv.code_commit,
            "branch": mv.code_branch,
            "entry_point": mv.code_entry_point,
            "dirty": mv.code_dirty,
        },
        "source": mv.source,
        "training": {
            "started_at": mv.training_started_at,
            "ended_at": mv.training_ended_at,
            "duration_seconds": duration.total_seconds() if duration is not None else None,
        },
        "tags": _tags(mv),
        "lineage": dict(
            zip(("datasets", "parents"), lineage_refs.get(mv.pk, ([], [])), strict=True)
        ),
        "artifacts": artifacts,
        "manifest_url": request.build_absolute_uri(
            reverse("version-manifest", args=[team, name, mv.version])
        ),
    }


def _version_detail(request: HttpRequest, team: str, name: str, version: str) -> dict[str, Any]:
    mv = version_for_user(request.user, team, name, version)
    return _version_out(request, mv)


def _changes(payload: Any) -> dict[str, Any]:
    """The fields a PATCH body set; null is not a value any of them can take."""
    changes = payload.dict(exclude_unset=True)
    nulls = sorted(field for field, value in changes.items() if value is None)
    if nulls:
        raise ValidationError(dict.fromkeys(nulls, "may not be null"))
    return changes


def _check_metadata_size(data: dict[str, Any]) -> None:
    # The same measure clean_version_metadata applies, answered as 413 rather than 400.
    limit = settings.MODELGATE_MAX_METADATA_BYTES
    for name in ("params", "signature", "environment", "metrics", "tags"):
        value = data.get(name)
        if value is None:
            continue
        size = len(json.dumps(value, allow_nan=True, default=str).encode())
        if size > limit:
            raise errors.PayloadTooLarge(
                f"{name} is {size:,} bytes of JSON, over the limit of {limit:,} bytes", name
            )


# --- teams ------------------------------------------------------------------------------


@api.get("/teams", response={200: TeamPage, **ERRORS}, url_name="api-teams", tags=["teams"])
def list_teams(
    request: HttpRequest, cursor: str | None = None, limit: int = Limit
) -> dict[str, Any]:
    """The teams you may see, with your role in each (null for a site admin's non-teams)."""
    roles = memberships(request.user)
    result = page(teams_for(request.user, Action.VIEW), key="id", cursor=cursor, limit=limit,
                  key_type=int_key)  # fmt: skip
    items = [{"slug": t.slug, "name": t.name, "role": roles.get(t.pk)} for t in result.items]
    return {"items": items, "next": result.next_cursor}


# --- models -----------------------------------------------------------------------------


@api.get("/models", response={200: ModelPage, **ERRORS}, url_name="api-models", tags=["models"])
def list_models(
    request: HttpRequest,
    team: str = "",
    framework: str = "",
    task: str = "",
    tag: str = Query("", description="key or key=value"),
    stage: str = "",
    q: str = Query("", description="name contains, or a tag value equals"),
    cursor: str | None = None,
    limit: int = Limit,
) -> dict[str, Any]:
    """Models you may read, newest first; filters as on the models page."""
    if stage and stage.lower() not in Stage.values:
        raise ValidationError({"stage": f"unknown stage: use one of {', '.join(Stage.values)}"})
    filters = ModelFilters.from_query(
        {"team": team, "framework": framework, "task": task, "tag": tag,
         "stage": stage.lower(), "q": q}
    )  # fmt: skip
    qs = filter_models(filters, request.user).prefetch_related(
        Prefetch("tags", queryset=ModelTag.objects.order_by("key"))
    )
    result = page(qs, key="id", cursor=cursor, limit=limit, key_type=int_key)
    return {"items": [_model_out(m) for m in result.items], "next": result.next_cursor}


@api.post("/models", response={201: ModelOut, **ERRORS}, url_name="api-models", tags=["models"])
def create_model(request: HttpRequest, payload: ModelCreate) -> Status:
    """Register a model in one of your teams (contributors; visibility "internal" needs a
    maintainer)."""
    team = teams_for(request.user, Action.VIEW).filter(slug=payload.team).first()
    if team is None:
        raise ValidationError({"team": f"you are not a member of a team {payload.team!r}"})
    data = payload.dict()
    data.pop("team")
    model = services.create_model(team=team, actor=request.user, **data)
    model = RegisteredModel.objects.select_related("team", "latest_version").get(pk=model.pk)
    return Status(201, _model_out(model))


MODEL_PATH = "/models/{team}/{name}"


@api.get(MODEL_PATH, response={200: ModelOut, **ERRORS}, url_name="api-model", tags=["models"])
def get_model(request: HttpRequest, team: str = Team_, name: str = Name_) -> dict[str, Any]:
    return _model_out(model_for_user(request.user, team, name))


@api.patch(MODEL_PATH, response={200: ModelOut, **ERRORS}, url_name="api-model", tags=["models"])
def update_model(
    request: HttpRequest, payload: ModelUpdate, team: str = Team_, name: str = Name_
) -> dict[str, Any]:
    """Change description, task type, framework, tags (contributors), or visibility and
    allow_multiple_production (maintainers). Tags, when given, replace all of the model's
    tags."""
    model = model_for_user(request.user, team, name)
    services.update_model(model=model, actor=request.user, **_changes(payload))
    return _model_out(model_for_user(request.user, team, name))


@api.delete(MODEL_PATH, response={204: None, **ERRORS}, url_name="api-model", tags=["models"])
def delete_model(request: HttpRequest, team: str = Team_, name: str = Name_) -> Status:
    """Delete a model that has no versions (maintainers); a model with versions answers
    409: its versions' history is kept, archive them instead."""
    model = model_for_user(request.user, team, name, with_latest=False)
    services.delete_model(model=model, actor=request.user)
    return Status(204, None)


# --- versions ---------------------------------------------------------------------------


@api.get(
    MODEL_PATH + "/versions",
    response={200: VersionPage, **ERRORS},
    url_name="api-versions",
    tags=["versions"],
)
def list_versions(
    request: HttpRequest,
    team: str = Team_,
    name: str = Name_,
    stage: str = "",
    cursor: str | None = None,
    limit: int = Limit,
) -> dict[str, Any]:
    """The model's versions, highest version first (the scheme's precedence)."""
    model = model_for_user(request.user, team, name)
    qs = ModelVersion.objects.filter(model=model).select_related("model__team", "created_by")
    if stage:
        if stage.lower() not in Stage.values:
            raise ValidationError({"stage": f"unknown stage: use one of {', '.join(Stage.values)}"})
        qs = qs.filter(stage=stage.lower())
    result = page(qs, key="sort_key", cursor=cursor, limit=limit)
    return {"items": [_version_summary(v) for v in result.items], "next": result.next_cursor}


@api.post(
    MODEL_PATH + "/versions",
    response={201: VersionOut, **ERRORS},
    url_name="api-versions",
    tags=["versions"],
)
def create_version(
    request: HttpRequest,
    payload: uploads.VersionCreateWithFiles,
    team: str = Team_,
    name: str = Name_,
) -> Status:
    """Register a version with its metadata and, in "files", artifacts stored already:
    [{"path", "sha256"}] naming completed uploads (POST /uploads) or known blobs.
    Without "version" (or with null; "" is refused) the model's scheme picks one: the
    registration time (timestamp), or for semantic models the next version by what
    changed since the latest: a signature break is major, a compatible addition minor,
    anything else patch."""
    model = model_for_user(request.user, team, name, with_latest=False)
    data = payload.dict(exclude_none=True)
    version = data.pop("version", None)
    if version is not None and not version.strip():
        # Only an absent (or null) version is chosen automatically: "" is more likely a
        # client's bug, such as an unset variable, than a request for that.
        raise ValidationError(
            {"version": "must not be empty: leave it out (or send null) to have one chosen"}
        )
    files = uploads.file_refs(data.pop("files", None))
    _check_metadata_size(data)
    # Lineage references are checked before anything is stored, recorded with the version.
    datasets = graph.resolve_datasets(request.user, model.team, data.pop("datasets", ()))
    parents = graph.resolve_parents(request.user, model.team, data.pop("parents", ()))
    features = graph.resolve_feature_sets(request.user, model.team, data.pop("features", ()))
    run = runs.clean_run(data.pop("run")) if "run" in data else None
    retraining = data.pop("retrain_request", None)
    if retraining is not None:
        retraining = retrain.request_for_registration(request.user, model, retraining)
        # The version it replaces is a parent, as the retrain request says.
        parents.append(graph.ParentRef(retraining.version, EdgeKind.DERIVED_FROM))
    metadata = clean_version_metadata(data)

    def lineage(mv: ModelVersion) -> None:
        # Edges name the version by id (no foreign key), so they are written with its
        # reserved id before the model's and the audit log's locks are taken.
        graph.record_version_lineage(mv, datasets, parents, features, run)

    # One transaction: a version is never committed without the lineage it was sent with
    # (register_version's own, or with the retrain link this one around it).
    with transaction.atomic() if retraining is not None else nullcontext():
        mv = services.register_version(model=model, actor=request.user, metadata=metadata,
                                       version=version, blobs=files,
                                       references=lineage)  # fmt: skip
        if retraining is not None:
            # After the locks: it appends an audit event (the audit head is taken last).
            retrain.link(retraining, mv, request.user)
    # As GET would answer it. A version registered without datasets or parents has no
    # edges direct_references reports (code, run and feature-set edges are not among
    # them), so its empty answer needs no query.
    known = {} if not datasets and not parents else None
    return Status(201, _version_out(request, mv, known))


VERSION_PATH = MODEL_PATH + "/versions/{version}"


@api.get(VERSION_PATH, response={200: VersionOut, **ERRORS}, url_name="api-version",
         tags=["versions"])  # fmt: skip
def get_version(
    request: HttpRequest, team: str = Team_, name: str = Name_, version: str = Version_
) -> dict[str, Any]:
    return _version_detail(request, team, name, version)


@api.patch(VERSION_PATH, response={200: VersionOut, **ERRORS}, url_name="api-version",
           tags=["versions"])  # fmt: skip
def update_version(
    request: HttpRequest,
    payload: VersionUpdate,
    team: str = Team_,
    name: str = Name_,
    version: str = Version_,
) -> dict[str, Any]:
    """Change a version's description or tags (tags, when given, replace them all)."""
    mv = version_for_user(request.user, team, name, version)
    services.update_version(version=mv, actor=request.user, **_changes(payload))
    return _version_detail(request, team, name, version)


@api.delete(VERSION_PATH, response={204: None, **ERRORS}, url_name="api-version",
            tags=["versions"])  # fmt: skip
def delete_version(
    request: HttpRequest, team: str = Team_, name: str = Name_, version: str = Version_
) -> Status:
    """Delete a version registered by mistake (maintainers): only one still in Development
    that nothing refers to (no stage change, alias, promotion request, deployment, lineage
    child, retrain request or archive job). Otherwise 409 naming the reasons: archive it
    instead. Its sequence number is never handed out again."""
    mv = version_for_user(request.user, team, name, version)
    services.delete_version(version=mv, actor=request.user)
    return Status(204, None)


@api.post(
    VERSION_PATH + "/stage",
    response={201: StageChangeOut, **ERRORS},
    url_name="api-version-stage",
    tags=["versions"],
)
def change_stage(
    request: HttpRequest,
    payload: StageChange,
    team: str = Team_,
    name: str = Name_,
    version: str = Version_,
) -> Status:
    """Move the version to another stage (production and archived need a maintainer)."""
    mv = version_for_user(request.user, team, name, version)
    try:
        transition = services.change_stage(
            version=mv, to_stage=payload.stage.lower(), actor=request.user,
            comment=payload.comment,
        )  # fmt: skip
    except ValidationError as exc:
        raise errors.validation_error(exc, {"to_stage": "stage"}) from None
    out = {
        "version": mv.version,
        "from_stage": transition.from_stage,
        "to_stage": transition.to_stage,
        "comment": transition.comment,
        "created_at": transition.created_at,
    }
    return Status(201, out)


@api.get(
    MODEL_PATH + "/resolve",
    response={200: VersionOut, **ERRORS},
    url_name="api-resolve",
    tags=["versions"],
)
def resolve(
    request: HttpRequest,
    response: HttpResponse,
    stage: str = "",
    alias: str = Query("", description="an alias name, instead of stage"),
    team: str = Team_,
    name: str = Name_,
) -> dict[str, Any]:
    """The model's version in `stage` (the highest, if several), e.g. ?stage=production,
    or the version an alias points at, e.g. ?alias=champion: exactly one of the two.
    A deprecated version comes with `Deprecation` (and `Sunset`) headers."""
    if bool(stage) == bool(alias):
        raise ValidationError({"stage": "give exactly one of stage and alias"})
    if alias:
        mv = aliases.resolve_alias(model_for_user(request.user, team, name), alias)
    else:
        if stage.lower() not in Stage.values:
            raise ValidationError({"stage": f"unknown stage: use one of {', '.join(Stage.values)}"})
        model = model_for_user(request.user, team, name)
        mv = (
            ModelVersion.objects.filter(model=model, stage=stage.lower())
            .order_by("-sort_key")
            .first()
        )
        if mv is None:
            raise Http404(f"{team}/{name} has no version in {Stage(stage.lower()).label}.")
    deprecation.add_headers(response, mv)
    return _version_detail(request, team, name, mv.version)


api.add_router("", uploads.router)  # resumable uploads, known blobs
api.add_router("", downloads.router)  # artifact downloads (Range, If-Range, checksum)
api.add_router("", promotions.router)  # promotion requests, reviews, timeline, deprecation
api.add_router("", lineage.router)  # version lineage, parent links, impact analysis
api.add_router("", deployments.router)  # deployments and their history
api.add_router("", monitoring.router)  # live metrics, monitors, retrain requests
api.add_router("", cards.router)  # model cards
api.add_router("", archive.router)  # restores of archived versions, their jobs
api.add_router(
    "/search", search.register(ERRORS, Limit, _model_out, _version_summary)
)  # the search language


# --- aliases ----------------------------------------------------------------------------


class AliasSet(Body):
    version: str
    protected: bool | None = None


class AliasOut(Schema):
    name: str
    version: str
    stage: str
    protected: bool
    updated_at: dt.datetime
    updated_by: str | None
    version_url: str


class AliasList(Schema):
    items: list[AliasOut]


# Looser than an alias name may be, so a bad name in a PUT answers 400 naming the rule.
Alias_ = Path(..., pattern=r"^[A-Za-z0-9._-]{1,100}$", description="alias name")
ALIAS_PATH = MODEL_PATH + "/aliases/{alias}"


def _alias_out(alias: Any) -> dict[str, Any]:
    return {
        "name": alias.name,
        "version": alias.version.version,
        "stage": alias.version.stage,
        "protected": alias.protected,
        "updated_at": alias.updated_at,
        "updated_by": alias.updated_by.get_username() if alias.updated_by else None,
        "version_url": alias.version.get_absolute_url(),
    }


@api.get(
    MODEL_PATH + "/aliases",
    response={200: AliasList, **ERRORS},
    url_name="api-aliases",
    tags=["aliases"],
)
def list_aliases(request: HttpRequest, team: str = Team_, name: str = Name_) -> dict[str, Any]:
    """The model's aliases by name, each with the version it points at."""
    model = model_for_user(request.user, team, name)
    found = (
        Alias.objects.filter(model=model)
        .select_related("version__model__team", "updated_by")
        .order_by("name")
    )
    return {"items": [_alias_out(a) for a in found]}


@api.put(ALIAS_PATH, response={200: AliasOut, 201: AliasOut, **ERRORS}, url_name="api-alias",
         tags=["aliases"])  # fmt: skip
def put_alias(
    request: HttpRequest, payload: AliasSet, team: str = Team_, name: str = Name_,
    alias: str = Alias_,
) -> Status:  # fmt: skip
    """Create the alias or move it to another version of this model (contributors);
    creating, moving or deleting a protected alias, or changing "protected", needs a
    maintainer. 201 when the alias is new."""
    model = model_for_user(request.user, team, name)
    existed = Alias.objects.filter(model=model, name=alias).exists()
    result = aliases.set_alias(
        model, alias, payload.version, request.user, protected=payload.protected
    )
    result = Alias.objects.select_related("version__model__team", "updated_by").get(pk=result.pk)
    return Status(200 if existed else 201, _alias_out(result))


@api.delete(ALIAS_PATH, response={204: None, **ERRORS}, url_name="api-alias", tags=["aliases"])
def delete_alias(
    request: HttpRequest, team: str = Team_, name: str = Name_, alias: str = Alias_
) -> Status:
    """Remove the alias (a protected one needs a maintainer)."""
    model = model_for_user(request.user, team, name)
    aliases.delete_alias(model, alias, request.user)
    return Status(204, None)
