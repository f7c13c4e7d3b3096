"""Team membership: add a member, change a role, remove a member.

The team page, the admin and the API call these functions; each one asks the policy
(maintainers of the team and site admins may), locks the team's memberships, keeps at
least one maintainer in the team, and records an audit event in the same transaction, so a
refused change changes nothing and writes no event.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.shortcuts import get_object_or_404

from accounts import audit, policy
from accounts.models import Membership, Team, User

Role = Membership.Role


def team_for_user(user: Any, slug: str, action: policy.Action = policy.Action.VIEW) -> Team:
    """The team with this slug, fetched through the policy: 404 for a team the user may not
    see (its existence is not leaked), 403 when they see it but may not do `action`."""
    team = get_object_or_404(policy.teams_for(user, policy.Action.VIEW), slug=slug)
    policy.require(user, action, team)
    return team


def clean_role(role: Any) -> str:
    if role not in Role.values:
        choices = ", ".join(Role.values)
        raise ValidationError({"role": f"{role!r} is not a role; choose one of {choices}."})
    return str(role)


def find_user(identifier: str) -> User:
    """The active user with this username or email address, ignoring case.

    An exact username wins; a username that differs only in case, or an email address
    shared by several accounts, is refused as ambiguous rather than guessed.
    """
    text = (identifier or "").strip()
    if not text:
        raise ValidationError({"user": "Enter a username or an email address."})
    candidates = list(
        User.objects.filter(Q(username__iexact=text) | Q(email__iexact=text)).order_by("pk")[:10]
    )
    exact = [u for u in candidates if u.username == text]
    by_username = [u for u in candidates if u.username.lower() == text.lower()]
    by_email = [u for u in candidates if u.email.lower() == text.lower()]
    for matches in (exact, by_username, by_email):
        if len(matches) == 1:
            user = matches[0]
            if not user.is_active:
                raise ValidationError({"user": f"The account {user.username} is deactivated."})
            return user
        if len(matches) > 1:
            raise ValidationError(
                {"user": f"Several accounts match {text!r}; enter the exact username instead."}
            )
    raise ValidationError({"user": f"No user has the username or email address {text!r}."})


def describe(membership: Membership) -> str:
    """How audit events and messages name a membership: "alice in Fraud"."""
    return f"{membership.user} in {membership.team}"


def ensure_a_maintainer_remains(
    team: Team, *, removing: Membership | None = None, demoting: Membership | None = None
) -> None:
    """Refuse to remove or demote the team's last maintainer (also when it is oneself).

    Reads the stored roles, so call it inside the transaction that holds the team's
    membership locks (see `_lock_memberships`).
    """
    target = removing or demoting
    if target is None:
        return
    maintainers = set(
        Membership.objects.filter(team=team, role=Role.MAINTAINER).values_list("pk", flat=True)
    )
    if target.pk in maintainers and maintainers <= {target.pk}:
        raise ValidationError(
            f"{target.user} is the last maintainer of {team}; make someone else a maintainer first."
        )


def add_member(team: Team, actor: Any, user_identifier: str, role: str) -> Membership:
    """Add the user named by username or email to the team with the role."""
    policy.require(actor, policy.Action.MAINTAIN, team)
    role = clean_role(role)
    user = find_user(user_identifier)
    with transaction.atomic():
        current = _lock_memberships(team, actor)
        if any(m.user_id == user.pk for m in current.values()):
            raise ValidationError({"user": f"{user} is already a member of {team}."})
        try:
            with transaction.atomic():
                membership = Membership.objects.create(team=team, user=user, role=role)
        except IntegrityError:  # added by someone else since we looked
            raise ValidationError({"user": f"{user} is already a member of {team}."}) from None
        audit.record(
            "membership.add",
            actor=actor,
            obj=membership,
            object_repr=describe(membership),
            team=team,
            changes={"role": [None, role]},
        )
    _forget(actor, user)
    return membership


def change_role(membership: Membership, actor: Any, role: str) -> Membership:
    """Give the member another role; the last maintainer may not be demoted."""
    team = membership.team
    policy.require(actor, policy.Action.MAINTAIN, team)
    role = clean_role(role)
    with transaction.atomic():
        current = _lock_memberships(team, actor)
        locked = _still_member(current, membership)
        if locked.role == role:
            return locked
        if role != Role.MAINTAINER:
            ensure_a_maintainer_remains(team, demoting=locked)
        before = locked.role
        locked.role = role
        locked.save(update_fields=["role"])
        audit.record(
            "membership.change",
            actor=actor,
            obj=locked,
            object_repr=describe(locked),
            team=team,
            changes=audit.diff({"role": before}, {"role": role}),
        )
    membership.role = role
    _forget(actor, membership.user)
    return locked


def remove_member(membership: Membership, actor: Any) -> None:
    """Take the member out of the team; the last maintainer may not be removed."""
    team = membership.team
    policy.require(actor, policy.Action.MAINTAIN, team)
    with transaction.atomic():
        current = _lock_memberships(team, actor)
        locked = _still_member(current, membership)
        ensure_a_maintainer_remains(team, removing=locked)
        membership_id, role, name = locked.pk, locked.role, describe(locked)
        locked.delete()
        audit.record(
            "membership.remove",
            actor=actor,
            object_type=Membership._meta.label_lower,
            object_id=str(membership_id),
            object_repr=name,
            team=team,
            changes={"role": [role, None]},
        )
    _forget(actor, membership.user)


def _lock_memberships(team: Team, actor: Any) -> dict[int, Membership]:
    """Lock the team's membership rows (in id order, so two changes cannot deadlock) and
    check the actor's right again against what is now stored.

    Two maintainers demoting each other at the same moment: the second waits here for
    the first to commit, then finds it is no longer a maintainer (or that the other is
    the last one) and is refused, so the team always keeps a maintainer.
    """
    rows = (
        Membership.objects.filter(team=team)
        .select_related("user", "team")
        .order_by("pk")
        .select_for_update(of=("self",))  # the memberships, not the joined user and team rows
    )
    locked = {m.pk: m for m in rows}
    policy.forget_memberships(actor)
    policy.require(actor, policy.Action.MAINTAIN, team)
    return locked


def _still_member(current: dict[int, Membership], membership: Membership) -> Membership:
    locked = current.get(membership.pk)
    if locked is None:
        raise ValidationError(f"{membership.user} is no longer a member of {membership.team}.")
    return locked


def _forget(actor: Any, user: User) -> None:
    """Drop cached roles of the affected user (and of the actor, when it is them)."""
    policy.forget_memberships(user)
    if getattr(actor, "pk", None) == user.pk:
        policy.forget_memberships(actor)
