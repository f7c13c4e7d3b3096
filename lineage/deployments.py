"""Deployments: which model version serves in which environment, and since when.

    record_deployment(actor, version, environment, target, at)   replaces the live one
    end_deployment(actor, deployment, status, at)                 retired or failed
    history(user, model=…, environment=…)                         newest first
    deployed_at(user, environment, at, model=…)                   what served in E at T
    live_environments(version_ids)                                {version id: [env, …]}

A deployment is live (status "active") from `deployed_at` until `ended_at`. Recording a
new version in an environment (and target) ends the live one there, as "replaced by" the
new one, in the same transaction under the model's row lock, so racing deploy jobs leave
exactly one live deployment (a partial unique index holds it too).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts import audit
from accounts.policy import Action, readable_models_q, require
from lineage.models import Deployment, DeploymentStatus, Edge, EdgeKind, NodeType
from registry.errors import Conflict
from registry.models import ModelVersion, RegisteredModel

ENVIRONMENT_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
CLOCK_SKEW = dt.timedelta(minutes=5)  # a deploy job's clock may run this far ahead
ENDED = (DeploymentStatus.RETIRED, DeploymentStatus.FAILED)


def clean_environment(value: str) -> str:
    environment = (value or "").strip().lower()
    if not ENVIRONMENT_RE.match(environment):
        raise ValidationError(
            {"environment": "use 1-63 lowercase letters, digits, '.', '_' or '-', e.g. prod-eu"}
        )
    return environment


def _clean_time(value: dt.datetime | None, field: str, now: dt.datetime) -> dt.datetime:
    """The time given (or now), to the millisecond: the API's JSON carries milliseconds,
    so a time read back from it asks about exactly the moment stored."""
    if value is None:
        value = now
    if timezone.is_naive(value):
        raise ValidationError({field: "needs a time zone, e.g. 2026-05-01T12:00:00Z"})
    if value > now + CLOCK_SKEW:
        raise ValidationError({field: "is in the future"})
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def record_deployment(
    actor: Any,
    version: ModelVersion,
    environment: str,
    target: str = "",
    at: dt.datetime | None = None,
    comment: str = "",
) -> Deployment:
    """Record that `version` now serves in `environment` (contributors, or a CI token).

    Deploying the version already live there returns that deployment unchanged.
    """
    require(actor, Action.CONTRIBUTE, version)
    environment = clean_environment(environment)
    target = (target or "").strip()
    if len(target) > 500:
        raise ValidationError({"target": "may have at most 500 characters"})
    if len(comment) > 500:
        raise ValidationError({"comment": "may have at most 500 characters"})
    at = _clean_time(at, "deployed_at", timezone.now())
    if at < version.created_at:
        raise ValidationError({"deployed_at": "is before the version was registered"})
    with transaction.atomic():
        RegisteredModel.objects.select_for_update().filter(pk=version.model_id).first()
        if not ModelVersion.objects.filter(pk=version.pk).exists():  # deleted meanwhile
            raise Conflict(f"version {version.version} was deleted", "version")
        live = (
            Deployment.objects.select_for_update()
            .filter(model_id=version.model_id, environment=environment, target=target,
                    status=DeploymentStatus.ACTIVE)
            .first()
        )  # fmt: skip
        if live is not None and live.version_id == version.pk:
            return live
        if live is not None:
            if at < live.deployed_at:
                raise Conflict(
                    f"{live.version.version} has served in {environment} since "
                    f"{live.deployed_at:%Y-%m-%d %H:%M:%S} UTC: a deployment replacing it "
                    "cannot start before that",
                    "deployed_at",
                )
            live.status, live.ended_at = DeploymentStatus.REPLACED, at
            live.save(update_fields=["status", "ended_at"])
        deployment = Deployment.objects.create(
            version=version,
            model_id=version.model_id,
            environment=environment,
            target=target,
            deployed_by=actor if getattr(actor, "is_authenticated", False) else None,
            deployed_at=at,
            comment=comment,
        )
        if live is not None:
            live.replaced_by = deployment
            live.save(update_fields=["replaced_by"])
        Edge.objects.get_or_create(
            src_type=NodeType.VERSION, src_id=version.pk,
            dst_type=NodeType.DEPLOYMENT, dst_id=deployment.pk,
            defaults={"kind": EdgeKind.DEPLOYED_AS},
        )  # fmt: skip
        audit.record(
            "deployment.record",
            actor=actor,
            obj=deployment,
            team=version.model.team,
            changes={
                "environment": [None, environment],
                "target": [None, target],
                "version": [live.version.version if live else None, version.version],
            },
        )
    return deployment


def end_deployment(
    actor: Any,
    deployment: Deployment,
    status: str = DeploymentStatus.RETIRED,
    at: dt.datetime | None = None,
) -> Deployment:
    """Take a live deployment down (retired) or record that it failed."""
    require(actor, Action.CONTRIBUTE, deployment)
    if status not in ENDED:
        raise ValidationError({"status": "must be retired or failed"})
    at = _clean_time(at, "ended_at", timezone.now())
    with transaction.atomic():
        locked = Deployment.objects.select_for_update().get(pk=deployment.pk)
        if locked.status != DeploymentStatus.ACTIVE:
            raise Conflict(f"this deployment has already ended ({locked.status})", "status")
        if at < locked.deployed_at:
            raise ValidationError({"ended_at": "is before the deployment started"})
        locked.status, locked.ended_at = status, at
        locked.save(update_fields=["status", "ended_at"])
        audit.record(
            "deployment.end",
            actor=actor,
            obj=locked,
            team=deployment.model.team,
            changes={"status": [DeploymentStatus.ACTIVE, status]},
        )
    return locked


def visible(user: Any) -> QuerySet[Deployment]:
    """Deployments of models the user may read, with what their rows show."""
    return Deployment.objects.filter(readable_models_q(user, "model")).select_related(
        "version__model__team", "model__team", "deployed_by", "replaced_by__version"
    )


def history(
    user: Any, model: RegisteredModel | None = None, environment: str = ""
) -> QuerySet[Deployment]:
    qs = visible(user)
    if model is not None:
        qs = qs.filter(model=model)
    if environment:
        qs = qs.filter(environment=environment)
    return qs.order_by("-deployed_at", "-pk")


def deployed_at(
    user: Any, environment: str, at: dt.datetime, model: RegisteredModel | None = None
) -> QuerySet[Deployment]:
    """What served in `environment` at time `at`: deployments started by then and not
    ended before it."""
    return history(user, model, environment).filter(
        Q(ended_at__isnull=True) | Q(ended_at__gt=at), deployed_at__lte=at
    )


def environments_for(user: Any, model: RegisteredModel | None = None) -> list[str]:
    """The environments the user's readable deployments (of `model`) went to."""
    qs = Deployment.objects.filter(readable_models_q(user, "model"))
    if model is not None:
        qs = qs.filter(model=model)
    return list(qs.order_by("environment").values_list("environment", flat=True).distinct())


def live_environments(version_ids: Iterable[int]) -> dict[int, list[str]]:
    """The environments each version is live in (1 query)."""
    found: dict[int, list[str]] = {}
    rows = (
        Deployment.objects.filter(version_id__in=list(version_ids), status=DeploymentStatus.ACTIVE)
        .order_by("environment")
        .values_list("version_id", "environment")
    )
    for version_id, environment in rows:
        found.setdefault(version_id, []).append(environment)
    return found
