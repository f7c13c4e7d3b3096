"""Fetching registry objects through the permission policy: the views' one choke point.

An object the user may not read answers 404 (its existence is not leaked); one they may
read but not change answers 403 to the change. The 404's message names only what the
caller asked for, the same whether the object is missing or unreadable.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.http import Http404
from django.shortcuts import get_object_or_404

from accounts import rows
from accounts.models import Team
from accounts.policy import Action, can, readable_models_q, require
from registry.models import ModelVersion, PromotionRequest, RegisteredModel


def model_for_user(
    user: Any, team: str, name: str, action: Action = Action.VIEW, *, with_latest: bool = True
) -> RegisteredModel:
    """The model, with its team and (unless with_latest=False) its latest version."""
    if not with_latest:
        return team_model_for_user(user, team, name, action)
    model = (
        RegisteredModel.objects.visible_to(user)
        .select_related("team", "latest_version")
        .filter(team__slug=team, name=name)
        .first()
    )
    if model is None:
        raise _no_model(team, name)
    require(user, action, model)
    return model


def team_model_for_user(
    user: Any, team: Team | str, name: str, action: Action = Action.VIEW
) -> RegisteredModel:
    """The model `name` of `team` (a Team, or its slug), with its team, under the same rules
    as model_for_user (404 unless readable, then 403 unless the action is allowed), read
    with plain SQL (accounts.rows): API clients name a model in every call."""
    q = connection.ops.quote_name
    model_columns = f"SELECT {rows.columns(RegisteredModel, 'm')}"
    if isinstance(team, Team):
        found = rows.fetch(
            f"{model_columns} FROM {rows.table(RegisteredModel)} m "
            f"WHERE m.{q('team_id')} = %s AND m.{q('name')} = %s",
            [team.pk, name],
        )
    else:
        found = rows.fetch(
            f"{model_columns}, {rows.columns(Team, 't')} FROM {rows.table(RegisteredModel)} m "
            f"INNER JOIN {rows.table(Team)} t ON t.{q('id')} = m.{q('team_id')} "
            f"WHERE t.{q('slug')} = %s AND m.{q('name')} = %s",
            [team, name],
        )
    model = None
    if found:
        split = rows.width(RegisteredModel)
        model = rows.instance(RegisteredModel, found[0][:split])
        model.team = team if isinstance(team, Team) else rows.instance(Team, found[0][split:])
    if model is None or not can(user, Action.VIEW, model):
        raise _no_model(team.slug if isinstance(team, Team) else team, name)
    require(user, action, model)
    return model


def version_for_user(
    user: Any, team: str, name: str, version: str, action: Action = Action.VIEW
) -> ModelVersion:
    mv = (
        ModelVersion.objects.visible_to(user)
        .select_related("model__team", "created_by")
        .filter(model__team__slug=team, model__name=name, version=version)
        .first()
    )
    if mv is None:
        raise Http404(f"No version {version} of {team}/{name} that you may read.")
    require(user, action, mv)
    return mv


def _no_model(team: str, name: str) -> Http404:
    return Http404(f"No model {team}/{name} that you may read.")


def request_for_user(user: Any, pk: int) -> PromotionRequest:
    """A promotion request whose model the user may read (404 otherwise)."""
    return get_object_or_404(
        PromotionRequest.objects.filter(readable_models_q(user, "model")).select_related(
            "team", "model__team", "version__model__team", "version__created_by", "requested_by"
        ),
        pk=pk,
    )
