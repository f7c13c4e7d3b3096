"""Membership roles: their order, the capabilities each one grants, one membership per team."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import Membership, Team, User, role_rank

Role = Membership.Role


def test_it_orders_roles_from_least_to_most_powerful() -> None:
    assert list(Role) == [Role.VIEWER, Role.CONTRIBUTOR, Role.REVIEWER, Role.MAINTAINER]
    assert [role_rank(role) for role in Role] == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("role", "can_contribute", "can_review", "can_maintain"),
    [
        (Role.VIEWER, False, False, False),
        (Role.CONTRIBUTOR, True, False, False),
        (Role.REVIEWER, True, True, False),
        (Role.MAINTAINER, True, True, True),
    ],
)
def test_it_grants_each_role_the_capabilities_of_the_roles_below_it(
    role: str, can_contribute: bool, can_review: bool, can_maintain: bool
) -> None:
    membership = Membership(role=role)

    assert membership.can_contribute is can_contribute
    assert membership.can_review is can_review
    assert membership.can_maintain is can_maintain


@pytest.mark.parametrize("held", list(Role))
@pytest.mark.parametrize("needed", list(Role))
def test_it_says_a_role_is_at_least_another_by_their_order(held: str, needed: str) -> None:
    order = list(Role)

    assert Membership(role=held).has_at_least(needed) is (order.index(held) >= order.index(needed))


def test_it_defaults_to_viewer() -> None:
    assert Membership().role == Role.VIEWER
    assert Membership().can_contribute is False


@pytest.mark.django_db
def test_it_allows_only_one_membership_per_user_and_team(team: Team, viewer: User) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(user=viewer, team=team, role=Role.MAINTAINER)

    assert list(viewer.memberships.values_list("team__slug", "role")) == [("fraud", "viewer")]


@pytest.mark.django_db
def test_it_reports_the_duplicate_membership_when_validating(team: Team, viewer: User) -> None:
    duplicate = Membership(user=viewer, team=team, role=Role.MAINTAINER)

    with pytest.raises(ValidationError) as excinfo:
        duplicate.full_clean()

    assert "__all__" in excinfo.value.message_dict


@pytest.mark.django_db
def test_it_lets_a_user_hold_different_roles_in_different_teams(
    team: Team, other_team: Team, viewer: User
) -> None:
    Membership.objects.create(user=viewer, team=other_team, role=Role.MAINTAINER)

    roles = {m.team.slug: m.can_maintain for m in viewer.memberships.select_related("team")}
    assert roles == {"fraud": False, "growth": True}


@pytest.mark.django_db
def test_it_describes_a_membership(team: Team, reviewer: User) -> None:
    assert str(reviewer.memberships.get()) == "reviewer in Fraud (reviewer)"
