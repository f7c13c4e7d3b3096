"""Fetching registry objects through the permission policy: the views' one choke point.

An object the user may not read answers 404 (its existence is not leaked); one they may
read but not change answers 403 to the change.
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
    related = ("team", "latest_version") if with_latest else ("team",)
    model = get_object_or_404(
        RegisteredModel.objects.visible_to(user).select_related(*related),
        team__slug=team,
        name=name,
    )
    require(user, action, model)
    return model


def team_model_for_user(
    user: Any, team: Team, name: str, action: Action = Action.VIEW
) -> RegisteredModel:
    """The model `name` of `team` (a team the caller holds already), under the same rules
    as model_for_user (404 unless readable, then 403 unless the action is allowed), read
    with plain SQL (accounts.rows): API clients name a model in every call."""
    q = connection.ops.quote_name
    found = rows.fetch(
        f"SELECT {rows.columns(RegisteredModel, 'm')} FROM {rows.table(RegisteredModel)} m "
        f"WHERE m.{q('team_id')} = %s AND m.{q('name')} = %s",
        [team.pk, name],
    )
    model = rows.instance(RegisteredModel, found[0]) if found else None
    if model is not None:
        model.team = team
    if model is None or not can(user, Action.VIEW, model):
        raise Http404("No RegisteredModel matches the given query.")
    require(user, action, model)
    return model


def version_for_user(
    user: Any, team: str, name: str, version: str, action: Action = Action.VIEW
) -> ModelVersion:
    mv = get_object_or_404(
        ModelVersion.objects.visible_to(user).select_related("model__team", "created_by"),
        model__team__slug=team,
        model__name=name,
        version=version,
    )
    require(user, action, mv)
    return mv


def request_for_user(user: Any, pk: int) -> PromotionRequest:
    """A promotion request whose model the user may read (404 otherwise)."""
    return get_object_or_404(
        PromotionRequest.objects.filter(readable_models_q(user, "model")).select_related(
            "team", "model__team", "version__model__team", "version__created_by", "requested_by"
        ),
        pk=pk,
    )
