"""The one place that answers "may this user do this to this object".

Until the access-control work lands, the rule is: any signed-in user may read; changes need
a team membership of at least contributor (site admins may do anything).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from accounts.models import Membership, Team


def _membership(user: Any, team: Team) -> Membership | None:
    if not user.is_authenticated:
        return None
    cache = getattr(user, "_membership_cache", None)
    if cache is None:
        cache = {m.team_id: m for m in Membership.objects.filter(user=user)}
        user._membership_cache = cache
    return cache.get(team.pk)


def can_contribute(user: Any, team: Team) -> bool:
    """Register models and versions, edit metadata, change stages in the team."""
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    membership = _membership(user, team)
    return membership is not None and membership.can_contribute


def contributable_teams(user: Any) -> QuerySet[Team]:
    if not user.is_authenticated:
        return Team.objects.none()
    if user.is_superuser:
        return Team.objects.all()
    roles = [r for r in Membership.Role.values if r != Membership.Role.VIEWER]
    return Team.objects.filter(memberships__user=user, memberships__role__in=roles)
