"""Team membership rules (accounts.teams): who may add, re-role and remove members, the last
maintainer, user lookup, and the one audit event per change."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.utils.functional import SimpleLazyObject

from accounts import policy, teams
from accounts.models import AuditEvent, Membership, Team, User
from tests.threads import run_at_once

Role = Membership.Role
ON_POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
pytestmark = pytest.mark.django_db

DENIED = ["reviewer", "contributor", "viewer", "outsider", "anonymous"]


@pytest.fixture
def alice(db: None) -> User:
    """Signed up, in no team yet."""
    return User.objects.create_user(
        "alice", "Alice.Smith@Example.com", "pw-for-tests-only", first_name="Alice"
    )


@pytest.fixture
def actor(request: pytest.FixtureRequest) -> Callable[[str], Any]:
    def get(persona: str) -> Any:
        if persona == "anonymous":
            return AnonymousUser()
        return request.getfixturevalue(persona)

    return get


def membership_of(user: User, team: Team) -> Membership:
    return Membership.objects.select_related("user", "team").get(user=user, team=team)


def roles(team: Team) -> dict[str, str]:
    return dict(team.memberships.values_list("user__username", "role"))


def membership_events() -> QuerySet[AuditEvent]:
    """Audit events of membership changes (signing in and other actions record their own)."""
    return AuditEvent.objects.filter(action__startswith="membership.")


# add_member


def test_it_lets_a_maintainer_add_a_member(team: Team, maintainer: User, alice: User) -> None:
    membership = teams.add_member(team, maintainer, "alice", Role.CONTRIBUTOR)

    assert membership_of(alice, team).role == Role.CONTRIBUTOR
    assert membership.pk == membership_of(alice, team).pk
    event = membership_events().get()
    assert event.action == "membership.add"
    assert event.actor == maintainer
    assert event.team == team
    assert event.object_type == "accounts.membership"
    assert event.object_id == str(membership.pk)
    assert event.object_repr == "alice in Fraud"
    assert event.changes == {"role": [None, "contributor"]}


def test_it_lets_a_site_admin_add_a_member(team: Team, site_admin: User, alice: User) -> None:
    teams.add_member(team, site_admin, "alice", Role.MAINTAINER)

    assert roles(team) == {"alice": "maintainer"}
    assert membership_events().get().actor == site_admin


@pytest.mark.parametrize("persona", DENIED)
def test_it_refuses_to_let_others_add_members(
    team: Team, maintainer: User, alice: User, actor: Callable[[str], Any], persona: str
) -> None:
    who = actor(persona)
    before = roles(team)

    with pytest.raises(PermissionDenied):
        teams.add_member(team, who, "alice", Role.VIEWER)

    assert roles(team) == before
    assert not membership_events().exists()


@pytest.mark.parametrize("identifier", ["alice.smith@example.com", "ALICE.SMITH@EXAMPLE.COM"])
def test_it_finds_the_user_by_email_ignoring_case(
    team: Team, maintainer: User, alice: User, identifier: str
) -> None:
    teams.add_member(team, maintainer, identifier, Role.VIEWER)

    assert membership_of(alice, team).role == Role.VIEWER


def test_it_finds_the_user_by_username_ignoring_case(
    team: Team, maintainer: User, alice: User
) -> None:
    teams.add_member(team, maintainer, "  Alice ", Role.VIEWER)

    assert "alice" in roles(team)


def test_it_prefers_the_exact_username_over_other_spellings(
    team: Team, maintainer: User, alice: User
) -> None:
    User.objects.create_user("Alice", "other@example.com", "pw-for-tests-only")

    teams.add_member(team, maintainer, "Alice", Role.VIEWER)

    assert "Alice" in roles(team) and "alice" not in roles(team)


@pytest.mark.parametrize(
    ("identifier", "message"),
    [
        ("nobody", "No user has the username or email address 'nobody'"),
        ("nobody@example.com", "No user has the username or email address 'nobody@example.com'"),
        ("   ", "Enter a username or an email address"),
    ],
)
def test_it_names_the_user_field_for_an_unknown_user(
    team: Team, maintainer: User, identifier: str, message: str
) -> None:
    before = roles(team)

    with pytest.raises(ValidationError) as excinfo:
        teams.add_member(team, maintainer, identifier, Role.VIEWER)

    assert message in excinfo.value.message_dict["user"][0]
    assert roles(team) == before
    assert not membership_events().exists()


def test_it_refuses_an_email_shared_by_several_accounts(
    team: Team, maintainer: User, alice: User
) -> None:
    User.objects.create_user("alice2", "alice.smith@example.com", "pw-for-tests-only")

    with pytest.raises(ValidationError) as excinfo:
        teams.add_member(team, maintainer, "alice.smith@example.com", Role.VIEWER)

    assert "Several accounts match" in excinfo.value.message_dict["user"][0]
    assert not membership_events().exists()


def test_it_refuses_a_deactivated_account(team: Team, maintainer: User, alice: User) -> None:
    User.objects.filter(pk=alice.pk).update(is_active=False)

    with pytest.raises(ValidationError) as excinfo:
        teams.add_member(team, maintainer, "alice", Role.VIEWER)

    assert excinfo.value.message_dict["user"] == ["The account alice is deactivated."]


def test_it_refuses_to_add_a_member_twice(team: Team, maintainer: User, viewer: User) -> None:
    with pytest.raises(ValidationError) as excinfo:
        teams.add_member(team, maintainer, "VIEWER@example.com", Role.MAINTAINER)

    assert excinfo.value.message_dict["user"] == ["viewer is already a member of Fraud."]
    assert membership_of(viewer, team).role == Role.VIEWER
    assert not membership_events().exists()


@pytest.mark.parametrize("role", ["owner", "", None, "Maintainer"])
def test_it_names_the_role_field_for_an_unknown_role(
    team: Team, maintainer: User, alice: User, role: Any
) -> None:
    with pytest.raises(ValidationError) as excinfo:
        teams.add_member(team, maintainer, "alice", role)

    assert (
        "is not a role; choose one of viewer, contributor, reviewer, maintainer"
        in (excinfo.value.message_dict["role"][0])
    )
    assert not Membership.objects.filter(user=alice).exists()
    assert not membership_events().exists()


def test_it_lets_a_member_of_another_team_be_added(
    team: Team, maintainer: User, outsider: User
) -> None:
    teams.add_member(team, maintainer, "outsider", Role.REVIEWER)

    assert set(outsider.memberships.values_list("team__slug", "role")) == {
        ("growth", "maintainer"),
        ("fraud", "reviewer"),
    }


# change_role


def test_it_lets_a_maintainer_change_a_role(team: Team, maintainer: User, viewer: User) -> None:
    membership = membership_of(viewer, team)

    changed = teams.change_role(membership, maintainer, Role.REVIEWER)

    assert changed.role == membership.role == Role.REVIEWER
    assert membership_of(viewer, team).role == Role.REVIEWER
    event = membership_events().get()
    assert event.action == "membership.change"
    assert event.actor == maintainer
    assert event.team == team
    assert event.object_id == str(membership.pk)
    assert event.object_repr == "viewer in Fraud"
    assert event.changes == {"role": ["viewer", "reviewer"]}


def test_it_lets_a_site_admin_change_a_role(
    team: Team, site_admin: User, maintainer: User, viewer: User
) -> None:
    teams.change_role(membership_of(viewer, team), site_admin, Role.MAINTAINER)

    assert roles(team)["viewer"] == Role.MAINTAINER
    assert membership_events().get().changes == {"role": ["viewer", "maintainer"]}


@pytest.mark.parametrize("persona", DENIED)
def test_it_refuses_to_let_others_change_roles(
    team: Team, maintainer: User, viewer: User, actor: Callable[[str], Any], persona: str
) -> None:
    who = actor(persona)
    before = roles(team)

    with pytest.raises(PermissionDenied):
        teams.change_role(membership_of(viewer, team), who, Role.MAINTAINER)

    assert roles(team) == before
    assert not membership_events().exists()


def test_it_refuses_an_unknown_role_when_changing(
    team: Team, maintainer: User, viewer: User
) -> None:
    with pytest.raises(ValidationError) as excinfo:
        teams.change_role(membership_of(viewer, team), maintainer, "admin")

    assert "role" in excinfo.value.message_dict
    assert roles(team)["viewer"] == Role.VIEWER
    assert not membership_events().exists()


def test_it_records_nothing_when_the_role_stays_the_same(
    team: Team, maintainer: User, viewer: User
) -> None:
    teams.change_role(membership_of(viewer, team), maintainer, Role.VIEWER)

    assert not membership_events().exists()


def test_it_refuses_to_demote_the_last_maintainer(
    team: Team, maintainer: User, site_admin: User
) -> None:
    with pytest.raises(ValidationError) as excinfo:
        teams.change_role(membership_of(maintainer, team), site_admin, Role.REVIEWER)

    assert excinfo.value.messages == [
        "maintainer is the last maintainer of Fraud; make someone else a maintainer first."
    ]
    assert roles(team)["maintainer"] == Role.MAINTAINER
    assert not membership_events().exists()


def test_it_refuses_to_let_the_last_maintainer_demote_themselves(
    team: Team, maintainer: User
) -> None:
    with pytest.raises(ValidationError, match="maintainer is the last maintainer of Fraud"):
        teams.change_role(membership_of(maintainer, team), maintainer, Role.VIEWER)

    assert roles(team)["maintainer"] == Role.MAINTAINER
    assert not membership_events().exists()


def test_it_lets_a_maintainer_step_down_when_another_remains(
    team: Team, maintainer: User, reviewer: User
) -> None:
    teams.change_role(membership_of(reviewer, team), maintainer, Role.MAINTAINER)
    assert policy.can(maintainer, policy.Action.MAINTAIN, team)

    teams.change_role(membership_of(maintainer, team), maintainer, Role.CONTRIBUTOR)

    assert roles(team) == {"maintainer": "contributor", "reviewer": "maintainer"}
    # Their own cached roles were dropped: the same user object is no longer a maintainer.
    assert not policy.can(maintainer, policy.Action.MAINTAIN, team)
    assert [e.action for e in membership_events().order_by("pk")] == [
        "membership.change",
        "membership.change",
    ]


def test_it_checks_the_actors_role_again_once_the_rows_are_locked(
    team: Team, maintainer: User, reviewer: User, viewer: User
) -> None:
    Membership.objects.filter(user=reviewer).update(role=Role.MAINTAINER)
    assert policy.can(maintainer, policy.Action.MAINTAIN, team)  # cached for this request
    Membership.objects.filter(user=maintainer).update(role=Role.VIEWER)  # by someone else

    with pytest.raises(PermissionDenied):
        teams.change_role(membership_of(viewer, team), maintainer, Role.MAINTAINER)

    assert roles(team)["viewer"] == Role.VIEWER
    assert not membership_events().exists()


def test_it_forgets_the_cached_roles_of_a_lazy_request_user(
    team: Team, maintainer: User, reviewer: User
) -> None:
    Membership.objects.filter(user=reviewer).update(role=Role.MAINTAINER)
    request_user = SimpleLazyObject(lambda: User.objects.get(pk=maintainer.pk))
    assert policy.can(request_user, policy.Action.MAINTAIN, team)

    teams.change_role(membership_of(maintainer, team), request_user, Role.VIEWER)

    assert not policy.can(request_user, policy.Action.MAINTAIN, team)


def test_it_refuses_a_membership_removed_in_the_meantime(
    team: Team, maintainer: User, viewer: User
) -> None:
    membership = membership_of(viewer, team)
    Membership.objects.filter(pk=membership.pk).delete()

    with pytest.raises(ValidationError, match="viewer is no longer a member of Fraud"):
        teams.change_role(membership, maintainer, Role.REVIEWER)

    assert not membership_events().exists()


# remove_member


def test_it_lets_a_maintainer_remove_a_member(
    team: Team, maintainer: User, contributor: User
) -> None:
    membership = membership_of(contributor, team)

    teams.remove_member(membership, maintainer)

    assert "contributor" not in roles(team)
    event = membership_events().get()
    assert event.action == "membership.remove"
    assert event.actor == maintainer
    assert event.team == team
    assert event.object_type == "accounts.membership"
    assert event.object_id == str(membership.pk)
    assert event.object_repr == "contributor in Fraud"
    assert event.changes == {"role": ["contributor", None]}


def test_it_lets_a_site_admin_remove_a_member(
    team: Team, site_admin: User, maintainer: User, viewer: User
) -> None:
    teams.remove_member(membership_of(viewer, team), site_admin)

    assert roles(team) == {"maintainer": "maintainer"}


@pytest.mark.parametrize("persona", DENIED)
def test_it_refuses_to_let_others_remove_members(
    team: Team, maintainer: User, viewer: User, actor: Callable[[str], Any], persona: str
) -> None:
    who = actor(persona)
    before = roles(team)

    with pytest.raises(PermissionDenied):
        teams.remove_member(membership_of(viewer, team), who)

    assert roles(team) == before
    assert not membership_events().exists()


def test_it_refuses_to_remove_the_last_maintainer(
    team: Team, maintainer: User, viewer: User, site_admin: User
) -> None:
    with pytest.raises(ValidationError) as excinfo:
        teams.remove_member(membership_of(maintainer, team), site_admin)

    assert excinfo.value.messages == [
        "maintainer is the last maintainer of Fraud; make someone else a maintainer first."
    ]
    assert roles(team)["maintainer"] == Role.MAINTAINER
    assert not membership_events().exists()


def test_it_refuses_to_let_the_last_maintainer_leave(team: Team, maintainer: User) -> None:
    with pytest.raises(ValidationError, match="last maintainer"):
        teams.remove_member(membership_of(maintainer, team), maintainer)

    assert roles(team) == {"maintainer": "maintainer"}
    assert not membership_events().exists()


def test_it_lets_a_maintainer_leave_when_another_remains(
    team: Team, maintainer: User, reviewer: User
) -> None:
    teams.change_role(membership_of(reviewer, team), maintainer, Role.MAINTAINER)

    teams.remove_member(membership_of(maintainer, team), maintainer)

    assert roles(team) == {"reviewer": "maintainer"}
    assert not policy.can(maintainer, policy.Action.VIEW, team)


# ensure_a_maintainer_remains


def test_it_does_not_guard_members_who_are_not_maintainers(team: Team, viewer: User) -> None:
    # A team set up in the admin may have no maintainer at all; its viewers can still go.
    teams.ensure_a_maintainer_remains(team, removing=membership_of(viewer, team))
    teams.ensure_a_maintainer_remains(team, demoting=membership_of(viewer, team))
    teams.ensure_a_maintainer_remains(team)


def test_it_guards_only_the_last_maintainer(team: Team, maintainer: User, reviewer: User) -> None:
    mine = membership_of(maintainer, team)
    with pytest.raises(ValidationError):
        teams.ensure_a_maintainer_remains(team, removing=mine)

    Membership.objects.filter(user=reviewer).update(role=Role.MAINTAINER)

    teams.ensure_a_maintainer_remains(team, removing=mine)
    teams.ensure_a_maintainer_remains(team, demoting=mine)


# team_for_user


def test_it_fetches_a_team_through_the_policy(
    team: Team, viewer: User, outsider: User, site_admin: User
) -> None:
    from django.http import Http404

    assert teams.team_for_user(viewer, "fraud") == team
    assert teams.team_for_user(site_admin, "fraud", policy.Action.MAINTAIN) == team
    with pytest.raises(PermissionDenied):
        teams.team_for_user(viewer, "fraud", policy.Action.MAINTAIN)
    with pytest.raises(Http404):
        teams.team_for_user(outsider, "fraud")
    with pytest.raises(Http404):
        teams.team_for_user(AnonymousUser(), "fraud")


# Two maintainers demoting each other at once (PostgreSQL row locks)


# Concurrency needs row locks: PostgreSQL only.
@pytest.mark.skipif(not ON_POSTGRES, reason="row locks need PostgreSQL")
@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_it_keeps_a_maintainer_when_two_demote_each_other_at_once(
    team: Team, maintainer: User, is_postgres: bool
) -> None:
    assert is_postgres
    other = User.objects.create_user("second", "second@example.com", "pw-for-tests-only")
    Membership.objects.create(user=other, team=team, role=Role.MAINTAINER)
    pairs = [(maintainer.pk, other.pk), (other.pk, maintainer.pk)]
    outcomes: list[str] = []

    def prepare(index: int) -> tuple[Any, Membership]:
        actor_id, target_id = pairs[index]
        actor = SimpleLazyObject(lambda: User.objects.get(pk=actor_id))  # as request.user
        membership = Membership.objects.select_related("user", "team").get(
            user_id=target_id, team=team
        )
        policy.memberships(actor)  # both checked their right before either acted
        return actor, membership

    def demote(prepared: tuple[Any, Membership]) -> None:
        actor, membership = prepared
        try:
            teams.change_role(membership, actor, Role.VIEWER)
            outcomes.append("demoted")
        except (ValidationError, PermissionDenied) as exc:
            outcomes.append(type(exc).__name__)

    run_at_once(len(pairs), prepare, demote)
    assert len(outcomes) == 2 and outcomes.count("demoted") == 1, outcomes
    assert set(outcomes) - {"demoted"} <= {"ValidationError", "PermissionDenied"}, outcomes
    assert list(team.memberships.values_list("role", flat=True)).count(Role.MAINTAINER) == 1
    assert membership_events().filter(action="membership.change").count() == 1
