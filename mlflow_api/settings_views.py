"""The profile page's MLflow setting: the team MLflow names without a dot resolve in."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from accounts import audit
from accounts.models import Team
from accounts.policy import Action, can
from mlflow_api.models import UserSettings


@require_POST
def default_team(request: HttpRequest) -> HttpResponse:
    slug = (request.POST.get("team") or "").strip()
    team = None
    if slug:
        team = Team.objects.filter(slug=slug).first()
        # Only a team the user belongs to (site admins: any); others do not exist for them.
        if team is None or not can(request.user, Action.VIEW, team):
            raise Http404("No such team.")
    with transaction.atomic():
        setting, _ = UserSettings.objects.select_for_update().get_or_create(user=request.user)
        before = setting.default_team.slug if setting.default_team else None
        setting.default_team = team
        setting.save()
        after = team.slug if team else None
        if before != after:
            audit.record(
                "user.mlflow_default_team",
                actor=request.user,
                obj=request.user,
                changes={"default_team": [before, after]},
            )
    messages.success(
        request,
        f"MLflow names without a dot now resolve in {team.name}."
        if team
        else "MLflow names without a dot resolve in your only team, if you have one.",
    )
    return redirect("profile")
