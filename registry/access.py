"""Fetching registry objects through the permission policy: the views' one choke point.

An object the user may not see answers 404; one they may see but not change answers 403
to a change. (Reading is open to every signed-in user until team visibility lands.)
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from accounts.permissions import can_contribute
from registry.models import ModelVersion, RegisteredModel


def model_for_user(user: Any, team: str, name: str, *, change: bool = False) -> RegisteredModel:
    model = get_object_or_404(
        RegisteredModel.objects.select_related("team", "latest_version"),
        team__slug=team,
        name=name,
    )
    if change and not can_contribute(user, model.team):
        raise PermissionDenied("You need to be a contributor in this model's team.")
    return model


def version_for_user(
    user: Any, team: str, name: str, version: str, *, change: bool = False
) -> ModelVersion:
    mv = get_object_or_404(
        ModelVersion.objects.select_related("model__team", "created_by"),
        model__team__slug=team,
        model__name=name,
        version=version,
    )
    if change and not can_contribute(user, mv.model.team):
        raise PermissionDenied("You need to be a contributor in this model's team.")
    return mv
