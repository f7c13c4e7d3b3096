"""Deprecating a version: a reason and a sunset date, shown on its pages and sent as
`Deprecation`/`Sunset` headers (RFC 9745 / RFC 8594) on API resolves and downloads."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponse
from django.utils import timezone
from django.utils.http import http_date

from accounts import audit
from accounts.policy import Action, require
from registry import webhooks
from registry.models import ModelVersion

MAX_REASON = 500


def deprecate(
    *, version: ModelVersion, actor: Any, reason: str, sunset: dt.date | None = None
) -> ModelVersion:
    """Mark the version deprecated (or change its reason/sunset); maintainers only."""
    require(actor, Action.MAINTAIN, version)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "say why the version is deprecated"})
    if len(reason) > MAX_REASON:
        raise ValidationError({"reason": f"at most {MAX_REASON} characters"})
    if sunset is not None and sunset < timezone.localdate():
        raise ValidationError({"sunset": "the sunset date cannot be in the past"})
    with transaction.atomic():
        locked = _lock(version)
        before = _state(locked)
        locked.deprecated_at = locked.deprecated_at or timezone.now()
        locked.deprecation_reason, locked.sunset_date = reason, sunset
        locked.save(update_fields=["deprecated_at", "deprecation_reason", "sunset_date"])
        audit.record(
            "version.deprecate",
            actor=actor,
            obj=locked,
            team=locked.model.team,
            changes=audit.diff(before, _state(locked)),
        )
        webhooks.emit(
            locked.model.team,
            webhooks.Event.VERSION_DEPRECATED,
            _state(locked),
            actor=actor,
            version=locked,
        )
    return locked


def undeprecate(*, version: ModelVersion, actor: Any) -> ModelVersion:
    require(actor, Action.MAINTAIN, version)
    with transaction.atomic():
        locked = _lock(version)
        if locked.deprecated_at is None:
            return locked
        before = _state(locked)
        locked.deprecated_at, locked.deprecation_reason, locked.sunset_date = None, "", None
        locked.save(update_fields=["deprecated_at", "deprecation_reason", "sunset_date"])
        audit.record(
            "version.undeprecate",
            actor=actor,
            obj=locked,
            team=locked.model.team,
            changes=audit.diff(before, _state(locked)),
        )
    return locked


def add_headers(response: HttpResponse, version: ModelVersion) -> HttpResponse:
    """Deprecation: @<unix time> (RFC 9745); Sunset: an HTTP date (RFC 8594)."""
    if version.deprecated_at is not None:
        response["Deprecation"] = f"@{int(version.deprecated_at.timestamp())}"
        if version.sunset_date is not None:
            midnight = dt.datetime.combine(version.sunset_date, dt.time(), tzinfo=dt.UTC)
            response["Sunset"] = http_date(midnight.timestamp())
    return response


def _lock(version: ModelVersion) -> ModelVersion:
    return ModelVersion.objects.select_for_update().select_related("model__team").get(pk=version.pk)


def _state(version: ModelVersion) -> dict[str, Any]:
    return {
        "deprecated": version.deprecated_at is not None,
        "reason": version.deprecation_reason or None,
        "sunset": version.sunset_date.isoformat() if version.sunset_date else None,
    }
