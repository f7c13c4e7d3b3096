"""Deployments over the API: record one, end one, the history per model and environment,
and "what was deployed in environment E at time T".

The same domain functions as the pages (lineage.deployments); a deploy job records with
a token of "write" scope.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Router, Schema, Status

from api.pagination import page
from api.params import ERRORS, Limit, Name_, Team_, Version_
from api.schemas import Body, IsoDateTime
from lineage import deployments
from lineage.models import Deployment
from registry.access import model_for_user, version_for_user
from registry.models import RegisteredModel
from registry.pagination import int_key

router = Router(tags=["deployments"])


class DeploymentCreate(Body):
    environment: str
    target: str = ""
    deployed_at: IsoDateTime | None = None  # default: now
    comment: str = ""


class DeploymentEnd(Body):
    status: Literal["retired", "failed"] = "retired"
    ended_at: IsoDateTime | None = None  # default: now


class DeploymentOut(Schema):
    id: int
    model: str
    version: str
    environment: str
    target: str
    status: str
    deployed_by: str | None
    deployed_at: dt.datetime
    ended_at: dt.datetime | None
    replaced_by: int | None
    url: str


class DeploymentPage(Schema):
    items: list[DeploymentOut]
    next: str | None


def _out(request: HttpRequest, d: Deployment) -> dict[str, Any]:
    return {
        "id": d.pk,
        "model": f"{d.model.team.slug}/{d.model.name}",
        "version": d.version.version,
        "environment": d.environment,
        "target": d.target,
        "status": d.status,
        "deployed_by": d.deployed_by.get_username() if d.deployed_by else None,
        "deployed_at": d.deployed_at,
        "ended_at": d.ended_at,
        "replaced_by": d.replaced_by_id,
        "url": request.build_absolute_uri(d.get_absolute_url()),
    }


@router.post(
    "/models/{team}/{name}/versions/{version}/deployments",
    response={201: DeploymentOut, **ERRORS},
    url_name="api-version-deployments",
)
def record_deployment(
    request: HttpRequest,
    payload: DeploymentCreate,
    team: str = Team_,
    name: str = Name_,
    version: str = Version_,
) -> Status:
    """Record that the version now serves in an environment (contributors): the live
    deployment of the model in that environment and target is marked replaced by it.
    Recording the live one again changes nothing."""
    mv = version_for_user(request.user, team, name, version)
    d = deployments.record_deployment(request.user, mv, payload.environment, payload.target,
                                      payload.deployed_at, payload.comment)  # fmt: skip
    return Status(201, _out(request, deployments.visible(request.user).get(pk=d.pk)))


@router.get("/models/{team}/{name}/deployments", response={200: DeploymentPage, **ERRORS},
            url_name="api-model-deployments")  # fmt: skip
def model_deployments(
    request: HttpRequest,
    team: str = Team_,
    name: str = Name_,
    environment: str = "",
    at: dt.datetime | None = None,
    cursor: str | None = None,
    limit: int = Limit,
) -> dict[str, Any]:
    """The model's deployment history, newest first; with `environment` and `at`, what
    served there at that time."""
    model = model_for_user(request.user, team, name, with_latest=False)
    return _page(request, model, environment, at, cursor, limit)


@router.get("/deployments", response={200: DeploymentPage, **ERRORS},
            url_name="api-deployments")  # fmt: skip
def all_deployments(
    request: HttpRequest,
    environment: str = "",
    at: dt.datetime | None = None,
    cursor: str | None = None,
    limit: int = Limit,
) -> dict[str, Any]:
    """Deployments of every model the caller may read, newest first; with `environment`
    and `at`, everything that served in that environment at that time."""
    return _page(request, None, environment, at, cursor, limit)


def _page(
    request: HttpRequest,
    model: RegisteredModel | None,
    environment: str,
    at: dt.datetime | None,
    cursor: str | None,
    limit: int,
) -> dict[str, Any]:
    if at is not None:
        if not environment:
            raise ValidationError({"environment": "is required with at"})
        if timezone.is_naive(at):
            raise ValidationError({"at": "needs a time zone, e.g. 2026-05-01T12:00:00Z"})
        qs = deployments.deployed_at(request.user, environment, at, model)
    else:
        qs = deployments.history(request.user, model, environment)
    result = page(qs, key="pk", cursor=cursor, limit=limit, key_type=int_key)
    return {"items": [_out(request, d) for d in result.items], "next": result.next_cursor}


@router.get("/deployments/{deployment_id}", response={200: DeploymentOut, **ERRORS},
            url_name="api-deployment")  # fmt: skip
def get_deployment(request: HttpRequest, deployment_id: int) -> dict[str, Any]:
    d = get_object_or_404(deployments.visible(request.user), pk=deployment_id)
    return _out(request, d)


@router.post("/deployments/{deployment_id}/end", response={200: DeploymentOut, **ERRORS},
             url_name="api-deployment-end")  # fmt: skip
def end_deployment(request: HttpRequest, payload: DeploymentEnd, deployment_id: int) -> Any:
    """Take a live deployment down (retired) or record that it failed (contributors)."""
    d = get_object_or_404(deployments.visible(request.user), pk=deployment_id)
    deployments.end_deployment(request.user, d, payload.status, payload.ended_at)
    return _out(request, deployments.visible(request.user).get(pk=d.pk))
