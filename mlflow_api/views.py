"""The MLflow Model Registry REST API 2.0, answered by Modelgate's domain.

Field names, defaults and error codes follow mlflow/protos/model_registry.proto and
mlflow/server/handlers.py. Every change goes through the registry's services (and so
through the permission policy, the promotion policies and the audit log): this module
only translates between MLflow's wire format and those functions.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import OuterRef, Prefetch, QuerySet, Subquery
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from accounts import policy, rows
from accounts.policy import Action, require
from mlflow_api import filters, names
from mlflow_api.auth import authenticate
from mlflow_api.errors import (
    ENDPOINT_NOT_FOUND,
    INVALID_STATE,
    PERMISSION_DENIED,
    RESOURCE_ALREADY_EXISTS,
    MlflowError,
    invalid,
    not_found,
)
from mlflow_api.models import VersionSource
from registry import aliases, promotions, services, versioning
from registry.access import team_model_for_user
from registry.errors import Conflict
from registry.metadata import clean_version_metadata
from registry.models import (
    MAX_SOURCE_LENGTH,
    Alias,
    GatedStage,
    ModelTag,
    ModelVersion,
    PromotionRequest,
    Purpose,
    RegisteredModel,
    RequestState,
    Stage,
    VersionTag,
)

log = logging.getLogger(__name__)

TO_MLFLOW = {
    Stage.DEVELOPMENT: "None",
    Stage.STAGING: "Staging",
    Stage.PRODUCTION: "Production",
    Stage.ARCHIVED: "Archived",
}
FROM_MLFLOW = {label.lower(): stage for stage, label in TO_MLFLOW.items()}
VERSION_TAG = "modelgate.version"  # the version string under the model's scheme
MAX_RUN_LINK = 10_000
MAX_RESULTS_MODELS = (100, 1000)  # MLflow's default and threshold
MAX_RESULTS_VERSIONS = (10_000, 200_000)
MAX_BODY = 1_000_000

Handler = Callable[[HttpRequest, Any, dict[str, Any]], Any]


# --- plumbing ----------------------------------------------------------------------------


def _params(request: HttpRequest) -> dict[str, Any]:
    """Query-string parameters (repeated keys become lists) overlaid by a JSON body."""
    params: dict[str, Any] = {}
    for key in request.GET:
        values = request.GET.getlist(key)
        params[key] = values if len(values) > 1 or key in ("order_by", "stages") else values[0]
    if request.method != "GET" and request.body:
        if len(request.body) > MAX_BODY:
            raise invalid("The request body is too large.")
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise invalid(f"Malformed JSON body: {exc}") from None
        if not isinstance(body, dict):
            raise invalid("The JSON body must be an object.")
        params.update(body)
    return params


def _messages(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(
            f"{field}: {' '.join(str(m) for m in errors)}"
            for field, errors in exc.message_dict.items()
        )
    return " ".join(exc.messages)


def endpoint(*methods: str) -> Callable[[Handler], Callable[..., HttpResponse]]:
    """Authenticate, parse, call, and answer MLflow's JSON (errors included, never a 500
    for bad input)."""

    def decorator(handler: Handler) -> Callable[..., HttpResponse]:
        @wraps(handler)
        def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                if request.method not in methods:
                    raise MlflowError(
                        ENDPOINT_NOT_FOUND,
                        f"{request.method} is not allowed here; use {', '.join(methods)}.",
                    )
                user = authenticate(request)
                params = _params(request)
                params.update(kwargs)
                result = handler(request, user, params)
                return result if isinstance(result, HttpResponseBase) else JsonResponse(result)
            except MlflowError as exc:
                return exc.response()
            except PermissionDenied as exc:
                return MlflowError(PERMISSION_DENIED, str(exc) or "Permission denied.").response()
            except Http404 as exc:
                return not_found(str(exc) or "Not found.").response()
            except ValidationError as exc:
                return invalid(_messages(exc)).response()
            except Conflict as exc:
                return MlflowError(INVALID_STATE, str(exc)).response()

        return csrf_exempt(login_not_required(view))

    return decorator


def _text(params: dict[str, Any], key: str, *, required: bool = False, limit: int = 0) -> str:
    value = params.get(key)
    text = names.clean_text(value, key, required=required)
    if limit and len(text) > limit:
        raise invalid(f"Parameter '{key}' is longer than {limit} characters.")
    if "\x00" in text:
        raise invalid(f"Parameter '{key}' must not contain NUL characters.")
    return text


def _bool(params: dict[str, Any], key: str) -> bool:
    value = params.get(key, False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", ""):
        return value.lower() == "true"
    raise invalid(f"Parameter '{key}' must be a boolean, got {value!r}.")


def _int(value: Any, key: str, default: int, maximum: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise invalid(f"Parameter '{key}' must be an integer.")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise invalid(f"Parameter '{key}' must be an integer, got {value!r}.") from None
    if number < 1:
        raise invalid(f"Invalid value {number} for parameter '{key}': it must be at least 1.")
    if number > maximum:
        raise invalid(
            f"Invalid value {number} for parameter '{key}' supplied: it must be at most {maximum}."
        )
    return number


def _tags(params: dict[str, Any]) -> dict[str, str]:
    raw = params.get("tags")
    if raw in (None, ""):
        return {}
    if not isinstance(raw, list):
        raise invalid("Parameter 'tags' must be a list of {key, value} objects.")
    tags: dict[str, str] = {}
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise invalid("Each tag must be an object with a string 'key' (and a 'value').")
        value = item.get("value", "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise invalid(f"The value of tag {item['key']!r} must be a string.")
        tags[item["key"]] = value
    return tags


def _version_number(params: dict[str, Any]) -> int:
    raw = params.get("version")
    if raw is None or raw == "":
        raise invalid("Missing value for required parameter 'version'.")
    text = str(raw).strip() if isinstance(raw, str | int) and not isinstance(raw, bool) else ""
    if not text.isdigit() or len(text) > 10 or int(text) < 1:
        raise invalid(f"Parameter 'version' must be a positive integer, got {raw!r}.")
    return int(text)


def _page(params: dict[str, Any]) -> int:
    token = params.get("page_token")
    if not token:
        return 0
    if not isinstance(token, str):
        raise invalid("Invalid page token.")
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise invalid("Invalid page token: it does not come from a previous search.") from None
    if not isinstance(offset, int) or offset < 0:
        raise invalid("Invalid page token: it does not come from a previous search.")
    return offset


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _ms(when: Any) -> int:
    return int(when.timestamp() * 1000) if when else 0


# --- lookups ------------------------------------------------------------------------------


def _model(user: Any, params: dict[str, Any], action: Action = Action.VIEW) -> RegisteredModel:
    name = names.resolve(user, params.get("name"))
    try:
        return team_model_for_user(user, name.team, name.name, action)
    except Http404:
        raise not_found(f"Registered Model with name={name.full} not found") from None


def _version_qs() -> QuerySet[ModelVersion]:
    return ModelVersion.objects.select_related(
        "model__team", "created_by", "mlflow"
    ).prefetch_related(
        Prefetch("tags", queryset=VersionTag.objects.order_by("key")),
        Prefetch("aliases", queryset=Alias.objects.order_by("name").only("name", "version_id")),
    )


def _version(
    user: Any, params: dict[str, Any], action: Action = Action.VIEW
) -> tuple[RegisteredModel, ModelVersion]:
    """The version, through the permission policy (readable models only, then the
    action's role), with the model: one query."""
    name = names.resolve(user, params.get("name"))
    number = _version_number(params)
    mv = (
        _version_qs()
        .filter(model__team=name.team, model__name=name.name, sequence=number)
        .filter(policy.readable_models_q(user, "model"))
        .first()
    )
    if mv is None:
        if (
            not RegisteredModel.objects.visible_to(user)
            .filter(team=name.team, name=name.name)
            .exists()
        ):
            raise not_found(f"Registered Model with name={name.full} not found")
        raise not_found(f"Model Version (name={name.full}, version={number}) not found")
    require(user, action, mv)
    return mv.model, mv


# --- wire format --------------------------------------------------------------------------


def version_json(mv: ModelVersion) -> dict[str, Any]:
    try:
        source: VersionSource | None = mv.mlflow
    except VersionSource.DoesNotExist:
        source = None
    updated = max(filter(None, [mv.created_at, mv.stage_changed_at]))
    data: dict[str, Any] = {
        "name": names.full_name(mv.model),
        "version": str(mv.sequence),
        "creation_timestamp": _ms(mv.created_at),
        "last_updated_timestamp": _ms(updated),
        "user_id": mv.created_by.get_username() if mv.created_by else "",
        "current_stage": TO_MLFLOW[mv.stage],
        "description": mv.description,
        "source": mv.source,
        "run_id": source.run_id if source else "",
        "status": "READY",
        "tags": [
            *({"key": t.key, "value": t.value} for t in mv.tags.all()),
            {"key": VERSION_TAG, "value": mv.version},
        ],
        "aliases": [a.name for a in mv.aliases.all()],
    }
    if source and source.run_link:
        data["run_link"] = source.run_link
    return data


def _tags_and_aliases(
    ids: list[int],
) -> tuple[dict[int, list[dict[str, str]]], dict[int, list[str]]]:
    """The tags (by key) and alias names (by name) of these versions, in one query: a
    search page of hundreds of versions would otherwise pay for two, each binding every id
    (on PostgreSQL the ids go as one text parameter)."""
    tags: dict[int, list[dict[str, str]]] = {pk: [] for pk in ids}
    names_of: dict[int, list[str]] = {pk: [] for pk in ids}
    if not ids:
        return tags, names_of
    q = connection.ops.quote_name
    if connection.vendor == "postgresql":
        # One text parameter: binding a list would adapt every element on its own.
        listed = ",".join(map(str, ids))
        among, params = "= ANY(string_to_array(%s, ',')::bigint[])", [listed, listed]
    else:
        among, params = f"IN ({', '.join(['%s'] * len(ids))})", [*ids, *ids]
    for kind, version_id, key, value in rows.fetch(
        f"SELECT 0, version_id, {q('key')}, {q('value')} FROM {rows.table(VersionTag)} "
        f"WHERE version_id {among} UNION ALL "
        f"SELECT 1, version_id, {q('name')}, '' FROM {rows.table(Alias)} "
        f"WHERE version_id {among} ORDER BY 1, 3",
        params,
    ):
        if kind == 0:
            tags[version_id].append({"key": key, "value": value})
        else:
            names_of[version_id].append(key)
    return tags, names_of


# What a version's MLflow JSON needs, read as plain rows (no model instances, none of the
# version's large JSON fields): searches answer hundreds of versions at a time.
ROW_FIELDS = (
    "pk", "sequence", "version", "description", "stage", "stage_changed_at", "created_at",
    "created_by__username", "model__name", "model__team__slug",
    "source", "mlflow__run_id", "mlflow__run_link",
)  # fmt: skip


def version_rows(queryset: QuerySet[ModelVersion]) -> list[dict[str, Any]]:
    """MLflow JSON for the versions of an (ordered, sliced) queryset: two queries."""
    found = list(queryset.values(*ROW_FIELDS))
    tags, names_of = _tags_and_aliases([row["pk"] for row in found])
    out = []
    for row in found:
        updated = max(filter(None, [row["created_at"], row["stage_changed_at"]]))
        data: dict[str, Any] = {
            "name": f"{row['model__team__slug']}.{row['model__name']}",
            "version": str(row["sequence"]),
            "creation_timestamp": _ms(row["created_at"]),
            "last_updated_timestamp": _ms(updated),
            "user_id": row["created_by__username"] or "",
            "current_stage": TO_MLFLOW[row["stage"]],
            "description": row["description"],
            "source": row["source"],
            "run_id": row["mlflow__run_id"] or "",
            "status": "READY",
            "tags": [*tags[row["pk"]], {"key": VERSION_TAG, "value": row["version"]}],
            "aliases": names_of[row["pk"]],
        }
        if row["mlflow__run_link"]:
            data["run_link"] = row["mlflow__run_link"]
        out.append(data)
    return out


def _latest_per_stage(model_ids: list[int]) -> dict[int, list[ModelVersion]]:
    """Each model's highest version in each stage (MLflow's latest_versions)."""
    if not model_ids:
        return {}
    top = (
        ModelVersion.objects.filter(model_id=OuterRef("model_id"), stage=OuterRef("stage"))
        .order_by("-sequence")
        .values("sequence")[:1]
    )
    found: dict[int, list[ModelVersion]] = {pk: [] for pk in model_ids}
    for mv in (
        _version_qs()
        .filter(model_id__in=model_ids, sequence=Subquery(top))
        .order_by("model_id", "sequence")
    ):
        found[mv.model_id].append(mv)
    return found


def model_json(model: RegisteredModel, latest: list[ModelVersion] | None = None) -> dict[str, Any]:
    tags = model.tags.all()
    model_aliases = model.aliases.all()
    data: dict[str, Any] = {
        "name": names.full_name(model),
        "creation_timestamp": _ms(model.created_at),
        "last_updated_timestamp": _ms(model.updated_at),
        "user_id": model.created_by.get_username() if model.created_by else "",
        "description": model.description,
        "tags": [{"key": t.key, "value": t.value} for t in tags],
        "aliases": [{"alias": a.name, "version": str(a.version.sequence)} for a in model_aliases],
    }
    if latest:
        data["latest_versions"] = [version_json(mv) for mv in latest]
    return data


def _model_qs() -> QuerySet[RegisteredModel]:
    return RegisteredModel.objects.select_related("team", "created_by").prefetch_related(
        Prefetch("tags", queryset=ModelTag.objects.order_by("key")),
        Prefetch(
            "aliases",
            queryset=Alias.objects.order_by("name")
            .select_related("version")
            .only("name", "model_id", "version__sequence"),
        ),
    )


def _full_model_json(model: RegisteredModel) -> dict[str, Any]:
    fresh = _model_qs().get(pk=model.pk)
    return model_json(fresh, _latest_per_stage([model.pk])[model.pk])


def _full_version_json(mv: ModelVersion) -> dict[str, Any]:
    return version_json(_version_qs().get(pk=mv.pk))


# --- registered models --------------------------------------------------------------------


@endpoint("POST")
def create_registered_model(request: HttpRequest, user: Any, params: dict[str, Any]) -> dict:
    name = names.resolve(user, params.get("name"))
    description = _text(params, "description")
    tags = _tags(params)
    if RegisteredModel.objects.filter(team=name.team, name__iexact=name.name).exists():
        raise MlflowError(
            RESOURCE_ALREADY_EXISTS, f"Registered Model (name={name.full}) already exists."
        )
    try:
        model = services.create_model(
            team=name.team, name=name.name, actor=user, description=description, tags=tags
        )
    except ValidationError as exc:
        if "already has a model" in _messages(exc):
            raise MlflowError(
                RESOURCE_ALREADY_EXISTS, f"Registered Model (name={name.full}) already exists."
            ) from None
        raise
    return {"registered_model": _full_model_json(model)}


@endpoint("GET")
def get_registered_model(request: HttpRequest, user: Any, params: dict[str, Any]) -> dict:
    return {"registered_model": _full_model_json(_model(user, params))}


@endpoint("POST")
def rename_registered_model(request: HttpRequest, user: Any, params: dict[str, Any]) -> dict:
    model = _model(user, params)
    new = names.resolve(user, params.get("new_name"), "new_name")
    if new.team.pk != model.team_id:
        raise invalid("A model cannot move to another team by renaming it.")
    model = services.rename_model(model=model, actor=user, name=new.name)
    return {"registered_model": _full_model_json(model)}


@endpoint("PATCH")
def update_registered_model(request: HttpRequest, user: Any, params: dict[str, Any]) -> dict:
    model = _model(user, params)
    if "description" in params:
        model = services.update_model(
            model=model, actor=user, description=_text(params, "description")
        )
    return {"registered_model": _full_model_json(model)}


@endpoint("DELETE")
def delete_registered_model(request: HttpRequest, user: Any, params: dict[str, Any]) -> dict:
    """Modelgate keeps history: a model without versions is deleted; one with versions
    has each of them archived (and its aliases removed) instead."""
    model = _model(user, params)
    require(user, Action.MAINTAIN, model)
    if not ModelVersion.objects.filter(model=model).exists():
        services.delete_model(model=model, actor=user)
        return {}
    for mv in ModelVersion.objects.filter(model=model).select_related("model__team"):
        _retire_version(user, model, mv)
    return {}


@endpoint("GET")
def search_registered_models(request: HttpRequest, user: Any, params: dict[str, Any]) -> dict:
    max_results = _int(params.get("max_results"), "max_results", *MAX_RESULTS_MODELS)
    offset = _page(params)
    comparisons = filters.parse(params.get("filter"), filters.MODEL_KEYS)
    conditions, full = filters.model_conditions(user, comparisons)
    qs = RegisteredModel.objects.visible_to(user)
    if full:
        qs = filters.with_full_name(qs)
    for condition in conditions:
        qs = qs.filter(condition)
    qs = qs.order_by(*_order(params, MODEL_ORDER, ["name", "team__slug"]), "pk")
    page = list(
        _model_qs()
        .filter(pk__in=qs.values("pk")[offset : offset + max_results + 1])
        .order_by(*_order(params, MODEL_ORDER, ["name", "team__slug"]), "pk")
    )
    more = len(page) > max_results
    page = page[:max_results]
    latest = _latest_per_stage([m.pk for m in page])
    body: dict[str, Any] = {"registered_models": [model_json(m, latest[m.pk]) for m in page]}
    if more:
        body["next_page_token"] = _token(offset + max_results)
    return body


MODEL_ORDER = {
    "name": "name",
    "timestamp": "created_at",
    "creation_timestamp": "created_at",
    "last_updated_timestamp": "updated_at",
}
VERSION_ORDER = {
    "name": "model__name",
    "version_number": "sequence",
    "creation_timestamp": "created_at",
    "timestamp": "created_at",
    "last_updated_timestamp": "stage_changed_at",
}


def _order(params: dict[str, Any], fields: dict[str, str], default: list[str]) -> list[str]:
    raw = params.get("order_by") or []
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise invalid("Parameter 'order_by' must be a list of strings.")
    order: list[str] = []
    for clause in raw:
        if not isinstance(clause, str):
            raise invalid("Parameter 'order_by' must be a list of strings.")
        parts = clause.split()
        if not parts or len(parts) > 2:
            raise invalid(f"Invalid order_by clause {clause!r}.")
        key = parts[0].lower().removeprefix("attributes.").removeprefix("attribute.")
        direction = parts[1].upper() if len(parts) == 2 else "ASC"
        if key not in fields or direction not in ("ASC", "DESC"):
            allowed = ", ".join(sorted(fields))
            raise invalid(
                f"Invalid order_by clause {clause!r}: order by one of {allowed}, ASC or DESC."
            )
        order.append(("-" if direction == "DESC" else "") + fields[key])
    return order or default


@endpoint("GET", "POST")
def get_latest_versions(request: HttpRequest, user: Any, params: dict[str, Any]) -> dict:
    model = _model(user, params)
    stages = params.get("stages") or []
    if isinstance(stages, str):
        stages = [stages]
    if not isinstance(stages, list):
        raise invalid("Parameter 'stages' must be a list of stage names.")
    wanted = {_stage(s) for s in stages} if stages else set(Stage.values)
    latest = [mv for mv in _latest_per_stage([model.pk])[model.pk] if mv.stage in wanted]
    return {"model_versions": [version_json(mv) for mv in latest]}


@endpoint("POST")
def set_registered_model_tag(request: HttpRequest, user: Any, params: dict[str, Any]) -> dict:
    model = _model(user, params)
    key = _text(params, "key", required=True)
    value = _text(params, "value")
    with transaction.atomic():
        locked = RegisteredModel.objects.select_for_update().select_related("team").get(pk=model.pk)
        tags = dict(ModelTag.objects.filter(model=locked).values_list("key", "value"))
        tags[key] = value
        services.update_model(model=locked, actor=user, tags=tags)
    return {}


@endpoint("DELETE")
def delete_registered_model_tag(request: HttpRequest, user: Any, params: dict[str, Any]) -> dict:
    model = _model(user, params)
    key = _text(params, "key", required=True)
    with transaction.atomic():
        locked = RegisteredModel.objects.select_for_update().select_related("team").get(pk=model.pk)
        tags = dict(ModelTag.objects.filter(model=locked).values_list("key", "value"))
        if key not in tags:
            raise not_found(f"No tag with name: {key} in model {names.full_name(locked)}.")
        del tags[key]
        services.update_model(model=locked, actor=user, tags=tags)
    return {}


def _alias_target(model: RegisteredModel, params: dict[str, Any]) -> ModelVersion:
    number = _version_number(params)
    mv = ModelVersion.objects.filter(model=model, sequence=number).first()
    if mv is None:
        raise not_found(
            f"Model Version (name={names.full_name(model)}, version={number}) not found"
        )
    return mv


@endpoint("POST")
def set_registered_model_alias(request: HttpRequest, user: Any, params: dict[str, Any]) -> dict:
    model = _model(user, params)
    alias = _text(params, "alias", required=True)
    target = _alias_target(model, params)
    try:
        aliases.set_alias(model, alias, target, user)
    except ValidationError as exc:
        raise invalid(f"Invalid alias {alias!r}: {_messages(exc)}") from None
    return {}


@endpoint("DELETE")
def delete_registered_model_alias(request: HttpRequest, user: Any, params: dict[str, Any]) -> dict:
    model = _model(user, params)
    alias = _text(params, "alias", required=True)
    aliases.delete_alias(model, alias, user)
    return {}


@endpoint("GET")
def get_model_version_by_alias(request: HttpRequest, user: Any, params: dict[str, Any]) -> dict:
    model = _model(user, params)
    alias = _text(params, "alias", required=True)
    target = Alias.objects.filter(model=model, name=alias).values("version_id")
    found = version_rows(ModelVersion.objects.filter(pk__in=target).order_by()[:1])
    if not found:
        raise not_found(f"Registered model alias {alias} not found.")
    return {"model_version": found[0]}


def registered_model_alias(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """One path, three methods: POST sets, DELETE deletes, GET resolves."""
    handler = {
        "POST": set_registered_model_alias,
        "DELETE": delete_registered_model_alias,
    }.get(request.method or "", get_model_version_by_alias)
    return handler(request, *args, **kwargs)


registered_model_alias = csrf_exempt(login_not_required(registered_model_alias))


# --- model versions -----------------------------------------------------------------------


def _scheme_version(model: RegisteredModel, explicit: str) -> tuple[str | None, bool]:
    """The version string to register and whether it is `numbered` (services.register_version):
    the one the client gave as the modelgate.version tag; else for a semantic model
    `<number>.0.0`, named under the model's lock; for a timestamp model the automatic one.
    Git and hybrid versions need the tag."""
    if explicit:
        return explicit, False
    scheme = model.versioning_scheme
    if scheme == versioning.Scheme.TIMESTAMP:
        return None, False
    if scheme != versioning.Scheme.SEMANTIC:
        raise invalid(
            f"{names.full_name(model)} uses the {scheme} versioning scheme: give the version "
            f"as the tag '{VERSION_TAG}'."
        )
    return None, True


@endpoint("POST")
def create_model_version(request: HttpRequest, user: Any, params: dict[str, Any]) -> dict:
    model = _model(user, params, Action.CONTRIBUTE)
    source = VersionSource(
        run_id=_text(params, "run_id", limit=64),
        run_link=_text(params, "run_link", limit=MAX_RUN_LINK),
    )
    description = _text(params, "description")
    tags = _tags(params)
    explicit = tags.pop(VERSION_TAG, "")
    metadata = clean_version_metadata(
        {"description": description, "tags": tags,
         "source": _text(params, "source", limit=MAX_SOURCE_LENGTH)}
    )  # fmt: skip
    version, numbered = _scheme_version(model, explicit)

    def record_source(mv: ModelVersion) -> None:
        source.version = mv
        rows.insert([source])

    mv = services.register_version(
        model=model, actor=user, metadata=metadata, version=version, numbered=numbered,
        references=record_source,
    )  # fmt: skip
    # Answered from what was written: register_version hands back its tags; a new
    # version has no aliases yet.
    mv.model, mv.created_by, mv.mlflow = model, user, source
    mv._prefetched_objects_cache["aliases"] = Alias.objects.none()
    return {"model_version": version_json(mv)}


@endpoint("GET")
def get_model_version(request: HttpRequest, user: Any, params: dict[str, Any]) -> dict:
    name = names.resolve(user, params.get("name"))
    number = _version_number(params)
    # Reading needs only the readable-models filter of the policy (VIEW).
    found = version_rows(
        ModelVersion.objects.filter(model__team=name.team, model__name=name.name, sequence=number)
        .filter(policy.readable_models_q(user, "model"))
        .order_by()[:1]
    )
    if not found:
        _version(user, params)  # answers which of the two does not exist
    return {"model_version": found[0]}


@endpoint("PATCH")
def update_model_version(request: HttpRequest, user: Any, params: dict[str, Any]) -> dict:
    _model_obj, mv = _version(user, params)
    if "description" in params:
        services.update_version(version=mv, actor=user, description=_text(params, "description"))
    return {"model_version": _full_version_json(mv)}


@endpoint("DELETE")
def delete_model_version(request: HttpRequest, user: Any, params: dict[str, Any]) -> dict:
    """Modelgate keeps every version's history: deleting archives the version and removes
    the aliases pointing at it (a maintainer's move, as archiving is)."""
    model, mv = _version(user, params, Action.MAINTAIN)
    _retire_version(user, model, mv)
    return {}


def _retire_version(user: Any, model: RegisteredModel, mv: ModelVersion) -> None:
    with transaction.atomic():
        for alias in Alias.objects.filter(version=mv).values_list("name", flat=True):
            aliases.delete_alias(model, alias, user)
        if mv.stage != Stage.ARCHIVED:
            services.change_stage(
                version=mv, to_stage=Stage.ARCHIVED, actor=user, comment="deleted through MLflow"
            )


@endpoint("GET")
def search_model_versions(request: HttpRequest, user: Any, params: dict[str, Any]) -> dict:
    max_results = _int(params.get("max_results"), "max_results", *MAX_RESULTS_VERSIONS)
    offset = _page(params)
    comparisons = filters.parse(params.get("filter"), filters.VERSION_KEYS)
    conditions, full = filters.version_conditions(user, comparisons)
    qs = ModelVersion.objects.visible_to(user)
    if full:
        qs = filters.with_full_name(qs, "model")
    for condition in conditions:
        qs = qs.filter(condition)
    order = [
        *_order(params, VERSION_ORDER, ["model__name", "model__team__slug", "-sequence"]),
        "pk",
    ]
    page = version_rows(qs.order_by(*order)[offset : offset + max_results + 1])
    more = len(page) > max_results
    body: dict[str, Any] = {"model_versions": page[:max_results]}
    if more:
        body["next_page_token"] = _token(offset + max_results)
    return body


@endpoint("POST")
def set_model_version_tag(request: HttpRequest, user: Any, params: dict[str, Any]) -> dict:
    _model_obj, mv = _version(user, params)
    key = _text(params, "key", required=True)
    value = _text(params, "value")
    if key == VERSION_TAG:
        raise invalid(f"The tag '{VERSION_TAG}' is the version string: it cannot be changed.")
    with transaction.atomic():
        locked = (
            ModelVersion.objects.select_for_update().select_related("model__team").get(pk=mv.pk)
        )
        tags = dict(VersionTag.objects.filter(version=locked).values_list("key", "value"))
        tags[key] = value
        services.update_version(version=locked, actor=user, tags=tags)
    return {}


@endpoint("DELETE")
def delete_model_version_tag(request: HttpRequest, user: Any, params: dict[str, Any]) -> dict:
    _model_obj, mv = _version(user, params)
    key = _text(params, "key", required=True)
    with transaction.atomic():
        locked = (
            ModelVersion.objects.select_for_update().select_related("model__team").get(pk=mv.pk)
        )
        tags = dict(VersionTag.objects.filter(version=locked).values_list("key", "value"))
        if key not in tags:
            raise not_found(f"No tag with name: {key} on this model version.")
        del tags[key]
        services.update_version(version=locked, actor=user, tags=tags)
    return {}


@endpoint("GET")
def get_model_version_download_uri(request: HttpRequest, user: Any, params: dict[str, Any]) -> dict:
    model, mv = _version(user, params)
    return {"artifact_uri": artifact_uri(model, mv)}


def artifact_uri(model: RegisteredModel, mv: ModelVersion) -> str:
    return f"mlflow-artifacts:/models/{model.team.slug}/{model.name}/{mv.sequence}"


# --- stages -------------------------------------------------------------------------------


def _stage(raw: Any) -> str:
    if not isinstance(raw, str) or raw.strip().lower() not in FROM_MLFLOW:
        raise invalid(
            f"Invalid Model Version stage: {raw!r}. Value must be one of "
            "None, Staging, Production, Archived."
        )
    return FROM_MLFLOW[raw.strip().lower()]


class Gated(Exception):
    def __init__(self, request: PromotionRequest, message: str) -> None:
        super().__init__(message)
        self.request = request


def _plan(current: ModelVersion, target: str) -> list[tuple[str, str]]:
    """The lifecycle steps (stage, purpose) from the version's stage to the target: MLflow
    moves anywhere at once, Modelgate walks the lifecycle (through Staging to Production),
    and an archived version that served in Production rolls back."""
    if (
        target == Stage.PRODUCTION
        and current.stage == Stage.ARCHIVED
        and promotions.was_in_production(current)
    ):
        return [(Stage.PRODUCTION, Purpose.ROLLBACK)]
    paths = {current.stage: []}
    frontier = [current.stage]
    while frontier and target not in paths:
        following = []
        for stage in frontier:
            for nxt in sorted(promotions.ALLOWED[stage]):
                if nxt not in paths:
                    paths[nxt] = [*paths[stage], nxt]
                    following.append(nxt)
        frontier = following
    return [(stage, Purpose.PROMOTION) for stage in paths[target]]


def _step(
    user: Any, model: RegisteredModel, mv: ModelVersion, to_stage: str, purpose: str, comment: str
) -> PromotionRequest | None:
    """Take one lifecycle step; a gated step whose policy needs approvals opens (or
    reuses) a promotion request and returns it (the version stays where it is)."""
    if to_stage not in GatedStage.values:
        services.change_stage(version=mv, to_stage=to_stage, actor=user, comment=comment)
        return None
    existing = PromotionRequest.objects.open().filter(version=mv, to_stage=to_stage).first()
    if existing is not None:
        return existing
    request = promotions.request_promotion(
        version=mv, to_stage=to_stage, actor=user, justification=comment, purpose=purpose
    )
    return None if request.state == RequestState.APPLIED else request


def transition(
    user: Any,
    model: RegisteredModel,
    mv: ModelVersion,
    target: str,
    archive_existing: bool,
    comment: str,
) -> PromotionRequest | None:
    """Move the version to the target stage under the model's row lock (so racing
    transitions serialise and a model keeps one Production version); returns the
    promotion request that now waits for reviewers, if a gate stopped the walk."""
    with transaction.atomic():
        RegisteredModel.objects.select_for_update().filter(pk=model.pk).values_list("pk").get()
        current = ModelVersion.objects.select_related("model__team").get(pk=mv.pk)
        if current.stage == target:
            return None  # MLflow answers the version as it is
        if target in GatedStage.values:
            require(user, Action.CONTRIBUTE, current)
        else:
            require(user, services.stage_change_action(target), current)
        for to_stage, purpose in _plan(current, target):
            waiting = _step(user, model, current, to_stage, purpose, comment)
            if waiting is not None:
                return waiting
            current = ModelVersion.objects.select_related("model__team").get(pk=mv.pk)
        if archive_existing and target == Stage.STAGING:
            for other in (
                ModelVersion.objects.filter(model=model, stage=Stage.STAGING)
                .exclude(pk=mv.pk)
                .select_related("model__team")
            ):
                services.change_stage(
                    version=other, to_stage=Stage.ARCHIVED, actor=user,
                    comment=f"replaced by {current.version} (archive_existing_versions)",
                )  # fmt: skip
    return None


@endpoint("POST")
def transition_model_version_stage(request: HttpRequest, user: Any, params: dict[str, Any]) -> dict:
    model, mv = _version(user, params)
    target = _stage(params.get("stage"))
    archive_existing = _bool(params, "archive_existing_versions")
    comment = _text(params, "comment", limit=2000) or "MLflow transition-stage"
    waiting = transition(user, model, mv, target, archive_existing, comment)
    if waiting is not None:
        url = request.build_absolute_uri(waiting.get_absolute_url())
        approvals = waiting.required_approvals
        gates = "" if waiting.gates_passed else " and its failing gates overridden"
        raise MlflowError(
            INVALID_STATE,
            f"Moving version {mv.sequence} of {names.full_name(model)} to "
            f"{Stage(waiting.to_stage).label} needs review: promotion request #{waiting.pk} "
            f"is open and needs {approvals} approval(s){gates}: {url}",
            promotion_request={"id": waiting.pk, "url": url, "to_stage": waiting.to_stage},
        )
    return {"model_version": _full_version_json(mv)}
