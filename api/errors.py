"""One error body for every failure: {"error": {"code", "message", "field", "details"}}.

`field` names the first offending field (null when the error is not about one); `details`
lists every field and message, so a client can show them all.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.exceptions import (
    ObjectDoesNotExist,
    PermissionDenied,
    RequestDataTooBig,
    ValidationError,
)
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from api.auth import CsrfFailed, InsufficientScope, Unauthenticated
from api.schemas import UNSTORABLE_TYPE
from registry.downloads import Archived, RangeNotSatisfiable, archived_details
from registry.errors import Conflict
from registry.search import SearchError
from registry.uploads import TooLarge

NON_FIELD = "__all__"


class LengthRequired(Exception):
    """411: a body whose length the request does not declare (chunked transfer encoding)."""


class UnsupportedMediaType(Exception):
    """415: a body in a media type the endpoint does not read."""


class PayloadTooLarge(Exception):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def error_response(
    api: NinjaAPI,
    request: HttpRequest,
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    details: list[dict[str, Any]] | None = None,
) -> HttpResponse:
    body: dict[str, Any] = {"code": code, "message": message, "field": field}
    if details:
        body["details"] = details
    return api.create_response(request, {"error": body}, status=status)


def _field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    if hasattr(exc, "error_dict"):
        return [
            {"field": None if name == NON_FIELD else name, "message": message}
            for name, messages in exc.message_dict.items()
            for message in messages
        ]
    return [{"field": None, "message": message} for message in exc.messages]


def validation_error(exc: ValidationError, rename: dict[str, str] | None = None) -> ValidationError:
    """Re-key a domain ValidationError to the API's field names."""
    if not hasattr(exc, "error_dict"):
        return exc
    rename = rename or {}
    return ValidationError(
        {rename.get(name, name): messages for name, messages in exc.message_dict.items()}
    )


def _loc_to_field(loc: tuple[Any, ...] | list[Any]) -> tuple[str, str | None]:
    """Ninja's error location ("body", "payload", "metrics", 0) → (where, "metrics.0")."""
    parts = list(loc)
    where = str(parts.pop(0)) if parts else ""
    if where == "body" and parts:
        parts.pop(0)  # the view's parameter name ("payload"), not part of the JSON
    return where, ".".join(str(p) for p in parts) or None


# How pydantic names the member of a union a value failed ("run.str", "datasets.0.dict[…]").
_UNION_MEMBER = re.compile(r"(str|int|float|bool|dict\[.*\]|list\[.*\])")


def _merge_union_members(details: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One detail per field for a value that fit none of a union's types ("a string or an
    object"): pydantic reports each member at "<field>.<type>", which is no field. Those
    are the details under one field named like types that failed in different ways
    (tags {"str": 1, "int": 2} are two keys, each not a string)."""
    members: dict[str, set[str]] = {}
    for d in details:
        prefix, _, last = (d["field"] or "").rpartition(".")
        if prefix and _UNION_MEMBER.fullmatch(last):
            members.setdefault(prefix, set()).add(d["_type"])
    unions = {prefix for prefix, types in members.items() if len(types) > 1}
    merged: list[dict[str, Any]] = []
    seen: dict[str, dict[str, Any]] = {}
    for d in details:
        del d["_type"]
        prefix, _, last = (d["field"] or "").rpartition(".")
        if prefix not in unions or not _UNION_MEMBER.fullmatch(last):
            merged.append(d)
        elif prefix in seen:
            seen[prefix]["message"] += f" or {d['message'].removeprefix('Input should be ')}"
        else:
            seen[prefix] = {**d, "field": prefix}
            merged.append(seen[prefix])
    return merged


def install(api: NinjaAPI) -> None:
    def on_domain_validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        details = _field_errors(exc)
        first = details[0]["field"] if details else None
        message = "; ".join(
            f"{d['field']}: {d['message']}" if d["field"] else d["message"] for d in details
        )
        return error_response(
            api, request, 400, "invalid", message or "Invalid input.", first, details
        )

    def on_schema_validation(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        details = []
        path_error = False
        code = "invalid"
        for error in exc.errors:
            where, field = _loc_to_field(error.get("loc", ()))
            path_error = path_error or where == "path"
            if error.get("type") == "extra_forbidden":
                code = "unknown_field"
                message = "unknown field"
            elif error.get("type") == UNSTORABLE_TYPE:
                # Found by the body's own validator: the field is where in the body.
                inner = error.get("ctx", {}).get("field") or None
                field = ".".join(p for p in (field, inner) if p) or None
                message = str(error.get("msg", "invalid"))
            else:
                message = str(error.get("msg", "invalid"))
            details.append(
                {"field": field, "in": where, "message": message, "_type": error.get("type")}
            )
        details = _merge_union_members(details)
        if path_error:
            # A path segment no object can have (the URL converters' rules): nothing there.
            return error_response(api, request, 404, "not_found", "Not found.")
        first = details[0] if details else {"field": None, "message": "invalid input"}
        message = "; ".join(
            f"{d['field']}: {d['message']}" if d["field"] else d["message"] for d in details
        )
        return error_response(api, request, 422, code, message, first["field"], details)

    def on_permission_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
        message = str(exc) or "You may not do that."
        return error_response(api, request, 403, "permission_denied", message)

    def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        message = str(exc)
        if not message or "matches the given query" in message:
            message = "Not found."  # never name the model class or the query
        return error_response(api, request, 404, "not_found", message)

    def on_vanished(request: HttpRequest, exc: ObjectDoesNotExist) -> HttpResponse:
        # Found by the permission check, gone by the time it was changed: deleted meanwhile.
        message = "Not found: it was deleted while this request ran."
        return error_response(api, request, 404, "not_found", message)

    def on_unauthenticated(request: HttpRequest, exc: Exception) -> HttpResponse:
        message = getattr(exc, "message", "") or "Authentication required: send a Bearer token."
        if isinstance(exc, AuthenticationError):
            message = "Authentication required: send a Bearer token or sign in."
        response = error_response(api, request, 401, "unauthenticated", message)
        quoted = message.replace('"', "'")
        error = ', error="invalid_token"' if isinstance(exc, Unauthenticated) else ""
        response["WWW-Authenticate"] = (
            f'Bearer realm="modelgate"{error}, error_description="{quoted}"'
        )
        return response

    def on_insufficient_scope(request: HttpRequest, exc: InsufficientScope) -> HttpResponse:
        response = error_response(api, request, 403, "insufficient_scope", str(exc))
        response["WWW-Authenticate"] = (
            f'Bearer realm="modelgate", error="insufficient_scope", scope="{exc.scope}"'
        )
        return response

    def on_csrf(request: HttpRequest, exc: CsrfFailed) -> HttpResponse:
        return error_response(api, request, 403, "csrf_failed", str(exc))

    def on_too_large(request: HttpRequest, exc: Exception) -> HttpResponse:
        message = getattr(exc, "message", "") or (
            f"the request body is over the {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,}-byte "
            "limit for JSON (DATA_UPLOAD_MAX_MEMORY_SIZE); send files through /uploads"
        )
        field = getattr(exc, "field", None)
        return error_response(api, request, 413, "too_large", message, field)

    def on_length_required(request: HttpRequest, exc: LengthRequired) -> HttpResponse:
        return error_response(api, request, 411, "length_required", str(exc), "Content-Length")

    def on_unsupported_media_type(request: HttpRequest, exc: UnsupportedMediaType) -> HttpResponse:
        return error_response(api, request, 415, "unsupported_media_type", str(exc), "Content-Type")

    def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        codes = {400: "bad_request", 401: "unauthenticated", 403: "permission_denied"}
        code = codes.get(exc.status_code, "error")
        return error_response(api, request, exc.status_code, code, str(exc))

    def on_search_error(request: HttpRequest, exc: SearchError) -> HttpResponse:
        details = [{"field": "q", "message": str(exc), "position": exc.position}]
        return error_response(api, request, 400, "invalid_query", str(exc), "q", details)

    def on_conflict(request: HttpRequest, exc: Conflict) -> HttpResponse:
        field = {"to_stage": "stage"}.get(exc.field or "", exc.field)
        return error_response(api, request, 409, "conflict", exc.message, field)

    def on_range_not_satisfiable(request: HttpRequest, exc: RangeNotSatisfiable) -> HttpResponse:
        response = error_response(api, request, 416, "range_not_satisfiable", str(exc), "Range")
        return exc.add_headers(response)

    def on_archived(request: HttpRequest, exc: Archived) -> HttpResponse:
        # Where to restore it, beside the error as an upload's 409 puts its offset.
        body = {
            "error": {"code": "archived", "message": str(exc), "field": None},
            **archived_details(request, exc.version),
        }
        return api.create_response(request, body, status=409)

    handlers: list[tuple[type[Exception], Any]] = [
        (Conflict, on_conflict),
        (ValidationError, on_domain_validation),
        (NinjaValidationError, on_schema_validation),
        (SearchError, on_search_error),
        (PermissionDenied, on_permission_denied),
        (Http404, on_not_found),
        (ObjectDoesNotExist, on_vanished),
        (AuthenticationError, on_unauthenticated),
        (Unauthenticated, on_unauthenticated),
        (InsufficientScope, on_insufficient_scope),
        (CsrfFailed, on_csrf),
        (RequestDataTooBig, on_too_large),
        (PayloadTooLarge, on_too_large),
        (TooLarge, on_too_large),
        (LengthRequired, on_length_required),
        (UnsupportedMediaType, on_unsupported_media_type),
        (HttpError, on_http_error),
        (RangeNotSatisfiable, on_range_not_satisfiable),
        (Archived, on_archived),
    ]
    for exc_class, handler in handlers:
        api.add_exception_handler(exc_class, handler)
