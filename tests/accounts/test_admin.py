"""The admin panel: teams with memberships (through accounts.teams, audited, never without a
maintainer), users, API tokens (revoke action, no secrets) and the read-only audit log."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from accounts import audit, tokens
from accounts.models import AuditEvent, Membership, Team, User
from registry.models import RegisteredModel

pytestmark = pytest.mark.django_db

Role = Membership.Role
MakeModel = Callable[..., RegisteredModel]


@pytest.fixture
def admin_client(client: Client, site_admin: User) -> Client:
    client.force_login(site_admin)
    return client


def changes_recorded(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- access ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "admin:index",
        "admin:accounts_team_changelist",
        "admin:accounts_user_changelist",
        "admin:accounts_apitoken_changelist",
        "admin:accounts_auditevent_changelist",
    ],
)
def test_it_sends_non_staff_to_the_admin_sign_in(
    client: Client, maintainer: User, url: str
) -> None:
    client.force_login(maintainer)

    response = client.get(reverse(url))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


# --- list pages: they render, with a bounded number of queries ------------------------------


@pytest.fixture
def populated(
    team: Team,
    other_team: Team,
    maintainer: User,
    reviewer: User,
    viewer: User,
    outsider: User,
    make_model: MakeModel,
) -> None:
    for name in ("churn", "fraud-score", "ltv"):
        make_model(name)
    for user in (maintainer, reviewer, viewer, outsider):
        for i in range(3):
            tokens.create(user, name=f"token {i}", scopes=["read", "write"][: i % 2 + 1])
    for i in range(30):
        audit.record("test.event", obj=team, team=team if i % 2 else other_team)


@pytest.mark.parametrize(
    ("url", "max_queries"),
    [
        # session, user, count (twice: filtered and full), rows with their member and model
        # counts as subqueries
        ("admin:accounts_team_changelist", 5),
        # + the team filter's teams, the users' memberships with teams (one prefetch)
        ("admin:accounts_user_changelist", 7),
        # session, user, count twice, rows with their users
        ("admin:accounts_apitoken_changelist", 5),
        # session, user, the actions, the teams, one count, rows, the date range, the days
        ("admin:accounts_auditevent_changelist", 8),
        # Lineage, read-only: session, user, counts, rows with their teams (+ filters)
        ("admin:lineage_dataset_changelist", 6),
        ("admin:lineage_trainingrun_changelist", 6),
        ("admin:lineage_deployment_changelist", 8),
    ],
)
def test_it_renders_each_list_page_with_few_queries(
    admin_client: Client,
    populated: None,
    url: str,
    max_queries: int,
    django_assert_max_num_queries: Any,
) -> None:
    with django_assert_max_num_queries(max_queries):
        response = admin_client.get(reverse(url))

    assert response.status_code == 200


def test_it_lists_teams_with_their_member_and_model_counts(
    admin_client: Client, populated: None
) -> None:
    response = admin_client.get(reverse("admin:accounts_team_changelist"))

    counts = {t.slug: (t.member_count, t.model_count) for t in response.context["cl"].result_list}
    assert counts == {"fraud": (4, 3), "growth": (1, 0)}  # contributor made the models


def test_it_lists_users_with_their_teams(admin_client: Client, populated: None) -> None:
    Membership.objects.create(
        user=User.objects.get(username="viewer"), team=Team.objects.get(slug="growth")
    )

    html = admin_client.get(reverse("admin:accounts_user_changelist")).content.decode()

    assert "fraud (viewer), growth (viewer)" in html
    assert "growth (maintainer)" in html


def test_it_renders_the_team_page_with_its_members(
    admin_client: Client, team: Team, maintainer: User, viewer: User
) -> None:
    response = admin_client.get(reverse("admin:accounts_team_change", args=[team.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert "memberships-TOTAL_FORMS" in html and "maintainer" in html


# --- teams and memberships ------------------------------------------------------------------


def team_post(team: Team, rows: list[dict[str, Any]], new: list[dict[str, Any]] = ()) -> dict:
    """The change form as the admin submits it: existing rows, then new ones."""
    data: dict[str, Any] = {
        "name": team.name,
        "slug": team.slug,
        "description": team.description,
        "memberships-TOTAL_FORMS": len(rows) + len(new),
        "memberships-INITIAL_FORMS": len(rows),
        "memberships-MIN_NUM_FORMS": 0,
        "memberships-MAX_NUM_FORMS": 1000,
    }
    for i, row in enumerate([*rows, *new]):
        prefix = f"memberships-{i}-"
        data[prefix + "team"] = team.pk
        if "membership" in row:
            data[prefix + "id"] = row["membership"].pk
        if "user" in row:
            data[prefix + "user"] = row["user"].pk
        data[prefix + "role"] = row.get("role", row.get("membership", Membership()).role)
        if row.get("delete"):
            data[prefix + "DELETE"] = "on"
    return data


def member(user: User) -> Membership:
    return Membership.objects.get(user=user)


def roles(team: Team) -> dict[str, str]:
    return dict(team.memberships.values_list("user__username", "role"))


def change_team(client: Client, team: Team, rows: list, new: list = ()) -> Any:
    return client.post(
        reverse("admin:accounts_team_change", args=[team.pk]), team_post(team, rows, new)
    )


def test_it_creates_a_team_with_members_and_records_it(
    admin_client: Client, site_admin: User, viewer: User
) -> None:
    data = {
        "name": "Search",
        "slug": "search",
        "description": "",
        "memberships-TOTAL_FORMS": 1,
        "memberships-INITIAL_FORMS": 0,
        "memberships-MIN_NUM_FORMS": 0,
        "memberships-MAX_NUM_FORMS": 1000,
        "memberships-0-user": viewer.pk,
        "memberships-0-role": "maintainer",
    }

    response = admin_client.post(reverse("admin:accounts_team_add"), data)

    assert response.status_code == 302
    team = Team.objects.get(slug="search")
    assert roles(team) == {"viewer": "maintainer"}
    [created] = changes_recorded("team.create")
    assert created.actor == site_admin and created.team == team
    assert created.changes["slug"] == [None, "search"]
    [added] = changes_recorded("membership.add")
    assert added.team == team and added.changes == {"role": [None, "maintainer"]}


def test_it_adds_changes_and_removes_members_and_records_each(
    admin_client: Client,
    team: Team,
    maintainer: User,
    reviewer: User,
    viewer: User,
    outsider: User,
    site_admin: User,
) -> None:
    rows = [
        {"membership": member(maintainer)},
        {"membership": member(reviewer), "role": "contributor"},
        {"membership": member(viewer), "delete": True},
    ]

    response = change_team(admin_client, team, rows, [{"user": outsider, "role": "viewer"}])

    assert response.status_code == 302
    assert roles(team) == {
        "maintainer": "maintainer",
        "reviewer": "contributor",
        "outsider": "viewer",
    }
    [changed] = changes_recorded("membership.change")
    assert changed.changes == {"role": ["reviewer", "contributor"]}
    assert changed.actor == site_admin and changed.team == team
    [removed] = changes_recorded("membership.remove")
    assert removed.changes == {"role": ["viewer", None]} and "viewer" in removed.object_repr
    [added] = changes_recorded("membership.add")
    assert added.changes == {"role": [None, "viewer"]} and "outsider" in added.object_repr
    assert not changes_recorded("team.change")  # the team's own fields did not change


def test_it_records_a_change_to_the_team_itself(
    admin_client: Client, team: Team, maintainer: User
) -> None:
    data = team_post(team, [{"membership": member(maintainer)}]) | {"name": "Fraud & Abuse"}

    admin_client.post(reverse("admin:accounts_team_change", args=[team.pk]), data)

    [event] = changes_recorded("team.change")
    assert event.changes == {"name": ["Fraud", "Fraud & Abuse"]}


@pytest.mark.parametrize(
    "last_row",
    [{"delete": True}, {"role": "reviewer"}],
    ids=["removing", "demoting"],
)
def test_it_refuses_to_leave_a_team_without_a_maintainer(
    admin_client: Client, team: Team, maintainer: User, viewer: User, last_row: dict
) -> None:
    rows = [{"membership": member(maintainer)} | last_row, {"membership": member(viewer)}]

    response = change_team(admin_client, team, rows)

    assert response.status_code == 200
    assert "maintainer is the last maintainer of Fraud" in response.content.decode()
    assert roles(team) == {"maintainer": "maintainer", "viewer": "viewer"}
    assert not AuditEvent.objects.filter(action__startswith="membership.").exists()


def test_it_allows_handing_over_maintenance_in_one_save(
    admin_client: Client, team: Team, maintainer: User, viewer: User
) -> None:
    rows = [
        {"membership": member(maintainer), "delete": True},
        {"membership": member(viewer), "role": "maintainer"},
    ]

    response = change_team(admin_client, team, rows)

    assert response.status_code == 302
    assert roles(team) == {"viewer": "maintainer"}
    assert [
        e.action for e in AuditEvent.objects.filter(action__startswith="membership.").order_by("id")
    ] == ["membership.change", "membership.remove"]


def test_it_refuses_adding_a_deactivated_account(
    admin_client: Client, team: Team, maintainer: User, outsider: User
) -> None:
    User.objects.filter(pk=outsider.pk).update(is_active=False)

    response = change_team(
        admin_client, team, [{"membership": member(maintainer)}], [{"user": outsider}]
    )

    assert response.status_code == 200
    assert "The account outsider is deactivated." in response.content.decode()
    assert roles(team) == {"maintainer": "maintainer"}


def test_it_refuses_a_member_twice(admin_client: Client, team: Team, maintainer: User) -> None:
    response = change_team(
        admin_client,
        team,
        [{"membership": member(maintainer)}],
        [{"user": maintainer, "role": "viewer"}],
    )

    assert response.status_code == 200
    assert roles(team) == {"maintainer": "maintainer"}


def test_it_refuses_with_a_message_when_the_rule_breaks_under_the_lock(
    admin_client: Client, team: Team, maintainer: User, viewer: User, monkeypatch: Any
) -> None:
    # Another admin removed a maintainer between the form's check and the save.
    from accounts import admin as accounts_admin

    monkeypatch.setattr(accounts_admin.MembershipFormSet, "clean", lambda self: None)
    rows = [{"membership": member(maintainer), "delete": True}, {"membership": member(viewer)}]

    response = change_team(admin_client, team, rows)

    assert response.status_code == 302
    assert any("last maintainer" in m for m in messages_of(response))
    assert roles(team) == {"maintainer": "maintainer", "viewer": "viewer"}
    assert not AuditEvent.objects.filter(action__startswith="membership.").exists()


def test_it_records_deleting_a_team(admin_client: Client, other_team: Team, outsider: User) -> None:
    response = admin_client.post(
        reverse("admin:accounts_team_delete", args=[other_team.pk]), {"post": "yes"}
    )

    assert response.status_code == 302
    assert not Team.objects.filter(slug="growth").exists()
    [event] = changes_recorded("team.delete")
    assert event.changes["members"] == [["outsider (maintainer)"], None]


# --- users -----------------------------------------------------------------------------------


def test_it_adds_a_user_of_our_user_model_and_records_it(
    admin_client: Client, site_admin: User
) -> None:
    response = admin_client.post(
        reverse("admin:accounts_user_add"),
        {
            "username": "newcomer",
            "usable_password": "true",
            "password1": "a-long-enough-passphrase-7",
            "password2": "a-long-enough-passphrase-7",
        },
    )

    assert response.status_code == 302
    user = User.objects.get(username="newcomer")
    [event] = changes_recorded("user.create")
    assert event.actor == site_admin and event.object_id == str(user.pk)
    assert user.password not in str(event.changes)


def test_it_records_changes_to_a_user_without_the_password(
    admin_client: Client, viewer: User
) -> None:
    # The admin's date-time widgets post whole seconds.
    User.objects.filter(pk=viewer.pk).update(date_joined=viewer.date_joined.replace(microsecond=0))
    viewer.refresh_from_db()
    url = reverse("admin:accounts_user_change", args=[viewer.pk])
    form = admin_client.get(url).context["adminform"].form
    data = {
        k: v
        for k, v in form.initial.items()
        if v is not None and k not in ("groups", "user_permissions")
    }
    data |= {
        "email": "new@example.com",
        "is_staff": "on",
        "is_active": "on",
        "last_login_0": "",
        "last_login_1": "",
        "date_joined_0": viewer.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": viewer.date_joined.strftime("%H:%M:%S"),
    }
    data.pop("last_login", None)
    data.pop("date_joined", None)
    data.pop("is_superuser", None)

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    [event] = changes_recorded("user.change")
    assert event.changes == {
        "email": ["viewer@example.com", "new@example.com"],
        "is_staff": [False, True],
    }


def test_it_records_a_password_set_by_an_admin(
    admin_client: Client, site_admin: User, viewer: User
) -> None:
    url = reverse("admin:auth_user_password_change", args=[viewer.pk])
    new = "another-long-passphrase-9"

    response = admin_client.post(
        url, {"password1": new, "password2": new, "usable_password": "true"}
    )

    assert response.status_code == 302
    viewer.refresh_from_db()
    assert viewer.check_password(new)
    [event] = changes_recorded("user.password_change")
    assert event.actor == site_admin and event.object_id == str(viewer.pk)
    assert new not in str(event.changes) and viewer.password not in str(event.changes)


# --- API tokens -----------------------------------------------------------------------------


def test_it_never_shows_a_tokens_hash(admin_client: Client, viewer: User) -> None:
    token, secret = tokens.create(viewer, name="ci", scopes=["read"])

    for url in (
        reverse("admin:accounts_apitoken_changelist"),
        reverse("admin:accounts_apitoken_change", args=[token.pk]),
    ):
        html = admin_client.get(url).content.decode()
        assert f"{token.prefix}…" in html or token.prefix in html
        assert token.key_hash not in html and secret not in html
        assert "key_hash" not in html


def test_it_lets_no_one_add_edit_or_delete_a_token(admin_client: Client, viewer: User) -> None:
    token, _ = tokens.create(viewer, name="ci", scopes=["read"])

    assert admin_client.get(reverse("admin:accounts_apitoken_add")).status_code == 403
    change = reverse("admin:accounts_apitoken_change", args=[token.pk])
    assert admin_client.post(change, {"name": "renamed"}).status_code == 403
    delete = reverse("admin:accounts_apitoken_delete", args=[token.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    token.refresh_from_db()
    assert token.name == "ci"


def test_it_revokes_selected_tokens_and_records_each(
    admin_client: Client, site_admin: User, viewer: User, outsider: User
) -> None:
    a, secret_a = tokens.create(viewer, name="a", scopes=["read"])
    b, _ = tokens.create(outsider, name="b", scopes=["write"])
    kept, secret_kept = tokens.create(viewer, name="kept", scopes=["read"])
    tokens.revoke(b, actor=outsider)

    response = admin_client.post(
        reverse("admin:accounts_apitoken_changelist"),
        {"action": "revoke_selected", "_selected_action": [a.pk, b.pk]},
    )

    assert response.status_code == 302
    assert messages_of(response) == ["Revoked 1 token. 1 was already revoked."]
    assert tokens.authenticate(secret_a) is None
    assert tokens.authenticate(secret_kept) == kept
    revoked = changes_recorded("token.revoke")
    assert [(e.object_id, e.actor) for e in revoked] == [
        (str(b.pk), outsider),
        (str(a.pk), site_admin),
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": "active"}, {"ci", "deploy", "staff"}),
        ({"status": "revoked"}, {"old"}),
        ({"scope": "read"}, {"ci", "old", "staff"}),
        ({"scope": "write"}, {"deploy"}),
        ({"scope": "review"}, {"ci"}),
        ({"user__is_staff__exact": "1"}, {"staff"}),
        ({"q": "deplo"}, {"deploy"}),
        ({"q": "outsider"}, {"deploy"}),
    ],
)
def test_it_filters_and_searches_tokens(
    admin_client: Client,
    site_admin: User,
    viewer: User,
    outsider: User,
    query: dict[str, str],
    expected: set[str],
) -> None:
    tokens.create(viewer, name="ci", scopes=["read", "review"])
    old, _ = tokens.create(viewer, name="old", scopes=["read"])
    tokens.revoke(old, actor=viewer)
    tokens.create(outsider, name="deploy", scopes=["write"])
    tokens.create(site_admin, name="staff", scopes=["read"])

    response = admin_client.get(reverse("admin:accounts_apitoken_changelist"), query)

    assert {t.name for t in response.context["cl"].result_list} == expected


def test_it_finds_a_token_by_its_prefix(admin_client: Client, viewer: User) -> None:
    token, secret = tokens.create(viewer, name="leaked", scopes=["read"])
    tokens.create(viewer, name="other", scopes=["read"])

    response = admin_client.get(reverse("admin:accounts_apitoken_changelist"), {"q": secret[:11]})

    assert [t.name for t in response.context["cl"].result_list] == ["leaked"]


# --- the audit log --------------------------------------------------------------------------


@pytest.fixture
def event(team: Team, maintainer: User) -> AuditEvent:
    return audit.record(
        "model.create", actor=maintainer, obj=team, team=team, changes={"name": [None, "x"]}
    )


def test_it_lets_no_one_add_change_or_delete_audit_events(
    admin_client: Client, event: AuditEvent
) -> None:
    assert admin_client.get(reverse("admin:accounts_auditevent_add")).status_code == 403
    change = reverse("admin:accounts_auditevent_change", args=[event.pk])
    assert admin_client.post(change, {"action": "edited"}).status_code == 403
    delete = reverse("admin:accounts_auditevent_delete", args=[event.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    event.refresh_from_db()
    assert event.action == "model.create"
    assert audit.verify_chain()[1] is None


def test_it_shows_an_audit_event_read_only(admin_client: Client, event: AuditEvent) -> None:
    response = admin_client.get(reverse("admin:accounts_auditevent_change", args=[event.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert event.hash in html and "model.create" in html
    assert "<input" not in re.sub(r'<input type="hidden"[^>]*>', "", html.split("<form")[-1])


def test_it_offers_no_bulk_delete_of_audit_events(admin_client: Client, event: AuditEvent) -> None:
    response = admin_client.get(reverse("admin:accounts_auditevent_changelist"))

    assert "delete_selected" not in response.content.decode()
    assert response.context["cl"].show_full_result_count is False


def test_it_filters_and_searches_the_audit_log(
    admin_client: Client, team: Team, other_team: Team, maintainer: User
) -> None:
    audit.record("model.create", actor=maintainer, obj=team, team=team)
    audit.record("token.create", actor=maintainer, obj=team, team=other_team)
    audit.record("token.revoke", actor=maintainer, obj=team, team=other_team)
    url = reverse("admin:accounts_auditevent_changelist")

    def actions(query: dict[str, str]) -> list[str]:
        return [e.action for e in admin_client.get(url, query).context["cl"].result_list]

    # newest first (signing the admin in is an event too)
    assert actions({}) == ["token.revoke", "token.create", "model.create", "auth.login"]
    assert actions({"action": "token.create"}) == ["token.create"]
    assert actions({"team_slug": "growth"}) == ["token.revoke", "token.create"]
    assert actions({"q": "revoke"}) == ["token.revoke"]
    year = AuditEvent.objects.first().created_at.year
    assert len(actions({"created_at__year": str(year)})) == 4
    html = admin_client.get(url).content.decode()
    assert "token.create" in html and "Growth" in html  # the filters' choices


def test_it_counts_a_small_or_filtered_audit_log_exactly(
    event: AuditEvent, is_postgres: bool
) -> None:
    from accounts.admin import EstimatedCountPaginator

    assert EstimatedCountPaginator(AuditEvent.objects.all(), 50).count == 1
    assert EstimatedCountPaginator(AuditEvent.objects.filter(action="x"), 50).count == 0


def test_it_estimates_the_size_of_a_large_unfiltered_audit_log_on_postgresql(
    event: AuditEvent, is_postgres: bool, monkeypatch: Any, django_assert_num_queries: Any
) -> None:
    if not is_postgres:
        pytest.skip("the planner's estimate is PostgreSQL's")
    from django.db import connection

    from accounts.admin import EstimatedCountPaginator

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE accounts_auditevent")
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'accounts_auditevent'")
        estimate = int(cursor.fetchone()[0])
    monkeypatch.setattr(EstimatedCountPaginator, "ESTIMATE_ABOVE", -2)

    with django_assert_num_queries(1):
        assert EstimatedCountPaginator(AuditEvent.objects.all(), 50).count == max(estimate, 0)
