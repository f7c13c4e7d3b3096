"""Retrain requests: opened by a breach, picked up by a training pipeline, closed when
the version trained for them reaches Production.

    breached(monitor, rule, breach)               alert, webhook, open (or reuse) a request
    request_for_registration(actor, model, id)    validate `retrain_request` on a new version
    link(request, new_version)                    the new version, its parent link recorded
    version_entered(version, to_stage)            done when it reaches Production (signal)
    dismiss(actor, request, reason)
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import audit
from accounts.models import Membership, User
from accounts.policy import Action, require, role_rank
from monitoring.models import Breach, Monitor, RetrainRequest, RetrainState
from monitoring.rules import Rule
from registry import notifications, webhooks
from registry.errors import Conflict
from registry.models import ModelVersion, RegisteredModel, Stage

LIVE_STATES = (RetrainState.OPEN, RetrainState.IN_PROGRESS)


def _team_members(model: RegisteredModel) -> list[User]:
    """Who hears about a breach: the team's contributors and above."""
    memberships = Membership.objects.filter(team_id=model.team_id).select_related("user")
    return [
        m.user
        for m in memberships
        if m.user.is_active and role_rank(m.role) >= role_rank(Membership.Role.CONTRIBUTOR)
    ]


def _window(window: dt.timedelta) -> str:
    minutes = int(window.total_seconds() // 60)
    if minutes % 1440 == 0:
        return f"{minutes // 1440}d"
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"


def _describe(rule: Rule, breach: Breach) -> str:
    window = _window(rule.window)
    return (
        f"live.{rule.metric} averaged {breach.observed:.4g} over {window}, "
        f"{rule.op} {breach.threshold:.4g}"
    )


def breached(monitor: Monitor, rule: Rule, breach: Breach) -> RetrainRequest | None:
    """Everything a new breach sets off, inside its transaction."""
    deployment = breach.deployment
    version, model = deployment.version, monitor.model
    reason = f"Monitor {monitor.name!r} on {deployment.environment}: {_describe(rule, breach)}"
    request = None
    if monitor.open_retrain:
        request = (
            RetrainRequest.objects.select_for_update()
            .filter(model=model, version=version, state__in=LIVE_STATES)
            .first()
        )
        if request is None:
            request = RetrainRequest.objects.create(
                model=model,
                version=version,
                breach=breach,
                metric=rule.metric,
                reason=reason,
                since=breach.since,
            )
    audit.record(
        "monitor.breach",
        obj=monitor,
        team=model.team,
        changes={
            "deployment": [None, deployment.pk],
            "observed": [None, breach.observed],
            "threshold": [None, breach.threshold],
            "retrain_request": [None, request.pk if request else None],
        },
        actor_name="monitor",
    )
    url = request.get_absolute_url() if request else deployment.get_absolute_url()
    notifications.notify(
        _team_members(model), f"{model.name} {version.version}: {reason}"[:300], url
    )
    webhooks.emit(
        model.team,
        webhooks.Event.MONITOR_BREACHED,
        {
            "monitor": monitor.name,
            "rule": monitor.rule,
            "environment": deployment.environment,
            "deployment_id": deployment.pk,
            "metric": rule.metric,
            "observed": breach.observed,
            "threshold": breach.threshold,
            "since": breach.since.isoformat(),
            "retrain_request": {"id": request.pk, "url": url} if request else None,
        },
        version=version,
    )
    return request


def request_for_registration(actor: Any, model: RegisteredModel, request_id: Any) -> RetrainRequest:
    """The open retrain request a version is registered for (refused with the field)."""
    if isinstance(request_id, bool) or not isinstance(request_id, int):
        raise ValidationError({"retrain_request": "must be a retrain request id"})
    request = (
        RetrainRequest.objects.select_related("version__model__team")
        .filter(pk=request_id, model=model)
        .first()
    )
    if request is None:
        raise ValidationError({"retrain_request": f"no retrain request {request_id} of this model"})
    if request.state not in LIVE_STATES:
        raise ValidationError({"retrain_request": f"request {request_id} is {request.state}"})
    require(actor, Action.CONTRIBUTE, model)
    return request


def link(request: RetrainRequest, new_version: ModelVersion, actor: Any) -> None:
    """Record the version trained for the request (its parent edge is recorded with the
    version's lineage by the caller)."""
    RetrainRequest.objects.filter(pk=request.pk).update(
        new_version=new_version, state=RetrainState.IN_PROGRESS
    )
    audit.record(
        "retrain.version",
        actor=actor,
        obj=request,
        team=request.model.team,
        changes={"new_version": [None, new_version.version]},
    )


def version_entered(version: ModelVersion, to_stage: str) -> int:
    """Close the requests a version was trained for once it reaches Production."""
    if to_stage != Stage.PRODUCTION:
        return 0
    return RetrainRequest.objects.filter(new_version=version, state__in=LIVE_STATES).update(
        state=RetrainState.DONE, closed_at=timezone.now()
    )


def dismiss(actor: Any, request: RetrainRequest, reason: str) -> None:
    """A maintainer closes a request nobody will act on (a false alarm, a known cause)."""
    require(actor, Action.MAINTAIN, request)
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "say why the request is dismissed"})
    with transaction.atomic():
        locked = RetrainRequest.objects.select_for_update().get(pk=request.pk)
        if locked.state not in LIVE_STATES:
            raise Conflict(f"this request is already {locked.get_state_display().lower()}", "state")
        locked.state, locked.closed_at = RetrainState.DISMISSED, timezone.now()
        locked.save(update_fields=["state", "closed_at"])
        audit.record(
            "retrain.dismiss",
            actor=actor,
            obj=locked,
            team=request.model.team,
            changes={"state": [request.state, "dismissed"], "reason": [None, reason]},
        )
