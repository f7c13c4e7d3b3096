"""The permission policy: the one place that answers "may this user do this to this object".

Every view, API endpoint, admin action and task asks `can()` (or filters with the
`*_q()` helpers, which encode the same rules for querysets). Templates ask it too, through
the `can` template tag, to show or hide actions; the server still enforces every rule.

Roles per team: viewer < contributor < reviewer < maintainer; site admins (superusers) may
do everything. A model is readable by its team, or by every signed-in user when its
maintainers made it internal.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet

from accounts import rows
from accounts.models import Membership, Team, role_rank

Role = Membership.Role


class Action(StrEnum):
    VIEW = "view"  # browse models, versions, lineage; compare; download artifacts
    CONTRIBUTE = "contribute"  # register models and versions, edit metadata and tags
    REVIEW = "review"  # approve or reject promotion requests (never one's own)
    MAINTAIN = "maintain"  # team models, visibility, policies, archive/restore, members


REQUIRED_ROLE = {
    Action.VIEW: Role.VIEWER,
    Action.CONTRIBUTE: Role.CONTRIBUTOR,
    Action.REVIEW: Role.REVIEWER,
    Action.MAINTAIN: Role.MAINTAINER,
}
_DENIED = {
    Action.VIEW: "You may not see this.",
    Action.CONTRIBUTE: "You need the contributor role in this team to do that.",
    Action.REVIEW: "You need the reviewer role in this team to do that.",
    Action.MAINTAIN: "You need the maintainer role in this team to do that.",
}


def memberships(user: Any) -> dict[int, str]:
    """The user's role per team id, loaded once per user object (one request)."""
    if not user.is_authenticated:
        return {}
    cache = getattr(user, "_modelgate_roles", None)
    if cache is None:
        # Plain SQL (accounts.rows): nearly every request asks, and the ORM's query
        # building would cost more than the read.
        cache = dict(
            rows.fetch(
                f"SELECT team_id, role FROM {rows.table(Membership)} WHERE user_id = %s",
                [user.pk],
            )
        )
        user._modelgate_roles = cache
    return cache


def prime_memberships(user: Any, roles: dict[int, str]) -> None:
    """Cache the user's roles read by a caller's own query of their memberships (every
    one of them), so the checks of this request do not read them again."""
    if user.is_authenticated:
        user._modelgate_roles = dict(roles)


def forget_memberships(user: Any) -> None:
    """Drop the cached roles after changing this user's memberships."""
    # Through attribute access, so a request's lazy user object forwards it to the user.
    if hasattr(user, "_modelgate_roles"):
        del user._modelgate_roles


def role_in(user: Any, team: Team | int) -> str | None:
    team_id = team if isinstance(team, int) else team.pk
    return memberships(user).get(team_id)


def team_of(obj: Any) -> Team:
    """The team that owns a team, model, version, artifact or anything holding one."""
    for path in ("", "team", "model.team", "version.model.team"):
        target = obj
        try:
            for attr in filter(None, path.split(".")):
                target = getattr(target, attr)
        except AttributeError:
            continue
        if isinstance(target, Team):
            return target
    raise TypeError(f"no team owns {obj!r}")


def _is_internal_model(obj: Any) -> bool:
    """Whether obj is (or belongs to) a model readable by every signed-in user."""
    model = obj if hasattr(obj, "visibility") else getattr(obj, "model", None)
    if model is None and hasattr(obj, "version"):
        model = obj.version.model
    return getattr(model, "visibility", None) == "internal"


def is_site_admin(user: Any) -> bool:
    """Site admins manage the installation (Django admin, the whole audit log)."""
    return bool(user is not None and user.is_authenticated and user.is_active and user.is_superuser)


def can(user: Any, action: Action | str, obj: Any) -> bool:
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    action = Action(action)
    role = role_in(user, team_of(obj))
    if action is Action.VIEW and not isinstance(obj, Team) and _is_internal_model(obj):
        return True
    return role is not None and role_rank(role) >= role_rank(REQUIRED_ROLE[action])


def require(user: Any, action: Action | str, obj: Any) -> None:
    """Raise PermissionDenied (403) unless the user may do the action to obj."""
    if not can(user, action, obj):
        raise PermissionDenied(_DENIED[Action(action)])


def teams_q(user: Any, action: Action | str = Action.VIEW, prefix: str = "") -> Q:
    """A filter for rows whose team (at `prefix`, e.g. "model__team") allows the action."""
    field = f"{prefix}__id__in" if prefix else "id__in"
    if not user.is_authenticated:
        return Q(pk__in=[])
    if user.is_superuser:
        return Q()
    role = REQUIRED_ROLE[Action(action)]
    team_ids = [tid for tid, r in memberships(user).items() if role_rank(r) >= role_rank(role)]
    return Q(**{field: team_ids})


def readable_models_q(user: Any, prefix: str = "") -> Q:
    """A filter for models (at `prefix`, e.g. "model") the user may read."""
    if not user.is_authenticated:
        return Q(pk__in=[])
    if user.is_superuser:
        return Q()
    at = f"{prefix}__" if prefix else ""
    return teams_q(user, Action.VIEW, f"{at}team") | Q(**{f"{at}visibility": "internal"})


def teams_for(user: Any, action: Action | str) -> QuerySet[Team]:
    return Team.objects.filter(teams_q(user, action))
