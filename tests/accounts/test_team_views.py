"""The team pages: /teams/ and /teams/<slug>/ with their member management POSTs."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.db.models import QuerySet
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent, Membership, Team, User
from registry.models import RegisteredModel

Role = Membership.Role
pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "members"}
MEMBERS = ["maintainer", "reviewer", "contributor", "viewer"]


@pytest.fixture
def everyone(maintainer: User, reviewer: User, contributor: User, viewer: User) -> None:
    """The team with one member of each role."""


@pytest.fixture
def login(client: Client, request: pytest.FixtureRequest) -> Callable[[str], Client]:
    def as_persona(persona: str) -> Client:
        if persona != "anonymous":
            client.force_login(request.getfixturevalue(persona))
        return client

    return as_persona


@pytest.fixture
def alice(db: None) -> User:
    return User.objects.create_user("alice", "alice@example.com", "pw-for-tests-only")


def detail_url(team: Team | str = "fraud") -> str:
    return reverse("team-detail", args=[getattr(team, "slug", team)])


def add_url(team: Team | str = "fraud") -> str:
    return reverse("team-member-add", args=[getattr(team, "slug", team)])


def role_url(membership: Membership, slug: str | None = None) -> str:
    return reverse("team-member-role", args=[slug or membership.team.slug, membership.pk])


def remove_url(membership: Membership, slug: str | None = None) -> str:
    return reverse("team-member-remove", args=[slug or membership.team.slug, membership.pk])


def membership_of(user: User, team: Team) -> Membership:
    return Membership.objects.select_related("user", "team").get(user=user, team=team)


def roles(team: Team) -> dict[str, str]:
    return dict(team.memberships.values_list("user__username", "role"))


def membership_events() -> QuerySet[AuditEvent]:
    """Audit events of membership changes (signing in and other actions record their own)."""
    return AuditEvent.objects.filter(action__startswith="membership.")


def text(response: Any) -> str:
    return response.content.decode()


# GET /teams/


@pytest.mark.parametrize("persona", MEMBERS)
def test_it_lists_the_teams_of_a_member_with_their_role(
    login: Callable[[str], Client], everyone: None, other_team: Team, persona: str
) -> None:
    response = login(persona).get(reverse("team-list"))

    assert response.status_code == 200
    body = text(response)
    assert detail_url("fraud") in body and detail_url("growth") not in body
    assert Role(persona).label in body


def test_it_shows_member_and_model_counts(
    client: Client, everyone: None, make_model: Callable[..., RegisteredModel]
) -> None:
    make_model("churn")
    make_model("fraud-score")
    client.force_login(User.objects.get(username="viewer"))

    response = client.get(reverse("team-list"))

    row = re.search(r"<tr>.*?</tr>", text(response).split("<tbody>")[1], re.S)
    cells = re.findall(r'<td class="num">(.*?)</td>', row.group(0), re.S)
    assert cells[0] == "4"
    assert ">2</a>" in cells[1]


def test_it_lists_every_team_for_a_site_admin(
    client: Client, team: Team, other_team: Team, site_admin: User
) -> None:
    client.force_login(site_admin)

    body = text(client.get(reverse("team-list")))

    assert detail_url("fraud") in body and detail_url("growth") in body
    assert "Site admin" in body


def test_it_lists_only_the_outsiders_own_team(
    login: Callable[[str], Client], team: Team, outsider: User
) -> None:
    body = text(login("outsider").get(reverse("team-list")))

    assert detail_url("growth") in body and detail_url("fraud") not in body


def test_it_says_so_when_the_user_is_in_no_team(client: Client, alice: User) -> None:
    client.force_login(alice)

    assert "You are not in any team yet" in text(client.get(reverse("team-list")))


def test_it_sends_anonymous_visitors_to_sign_in(client: Client, team: Team) -> None:
    for url in (reverse("team-list"), detail_url()):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_it_lists_teams_in_constant_queries(
    client: Client, site_admin: User, django_assert_max_num_queries: Any
) -> None:
    for i in range(12):
        team = Team.objects.create(name=f"Team {i:02}", slug=f"team-{i}")
        for j in range(3):
            user = User.objects.create_user(f"u{i}-{j}")
            Membership.objects.create(team=team, user=user)
    client.force_login(site_admin)

    # session, user, the page's count, the page of teams with both counts as subqueries,
    # the navigation's review and notification counts
    with django_assert_max_num_queries(6):
        response = client.get(reverse("team-list"))

    assert text(response).count('<td class="num">3</td>') == 12


# GET /teams/<slug>/


@pytest.mark.parametrize("persona", [*MEMBERS, "site_admin"])
def test_it_shows_the_team_to_its_members(
    login: Callable[[str], Client],
    everyone: None,
    make_model: Callable[..., RegisteredModel],
    persona: str,
) -> None:
    Team.objects.filter(slug="fraud").update(description="Catches card fraud.")
    make_model("churn")

    response = login(persona).get(detail_url())

    assert response.status_code == 200
    body = text(response)
    assert "Catches card fraud." in body
    assert reverse("model-detail", args=["fraud", "churn"]) in body
    assert f"{reverse('models')}?team=fraud" in body
    for username in MEMBERS:
        assert f"{username}@example.com" in body


@pytest.mark.parametrize("persona", ["outsider", "alice"])
def test_it_hides_the_team_from_non_members(
    login: Callable[[str], Client], everyone: None, outsider: User, alice: User, persona: str
) -> None:
    assert login(persona).get(detail_url()).status_code == 404


def test_it_answers_404_for_an_unknown_team(client: Client, site_admin: User) -> None:
    client.force_login(site_admin)

    assert client.get(detail_url("nope")).status_code == 404


@pytest.mark.parametrize("persona", ["maintainer", "site_admin"])
def test_it_shows_maintainers_the_management_forms(
    login: Callable[[str], Client], everyone: None, persona: str
) -> None:
    body = text(login(persona).get(detail_url()))

    assert f'action="{add_url()}"' in body
    viewer = membership_of(User.objects.get(username="viewer"), Team.objects.get(slug="fraud"))
    assert f'action="{role_url(viewer)}"' in body
    assert f'action="{remove_url(viewer)}"' in body
    assert 'name="csrfmiddlewaretoken"' in body


@pytest.mark.parametrize("persona", ["reviewer", "contributor", "viewer"])
def test_it_shows_other_members_no_management_forms(
    login: Callable[[str], Client], everyone: None, persona: str
) -> None:
    body = text(login(persona).get(detail_url()))

    assert "/members/" not in body
    assert "Reviewer" in body  # roles shown as text


def test_it_renders_the_members_section_alone_for_htmx(client: Client, maintainer: User) -> None:
    client.force_login(maintainer)

    partial = client.get(detail_url(), **HTMX)
    whole = client.get(detail_url())
    restore = client.get(
        detail_url(), HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )

    assert partial.status_code == 200
    assert "<html" not in text(partial)
    assert text(partial).lstrip().startswith('<section id="members"')
    assert "<html" in text(whole) and 'id="members"' in text(whole)
    assert "<html" in text(restore)
    assert "HX-Request" in partial["Vary"]


def test_it_paginates_members_by_50(client: Client, team: Team, maintainer: User) -> None:
    for i in range(60):
        user = User.objects.create_user(f"member{i:02}", f"member{i:02}@example.com")
        Membership.objects.create(team=team, user=user)
    client.force_login(maintainer)

    first = text(client.get(detail_url()))
    second = text(client.get(detail_url() + "?page=2", **HTMX))

    assert first.count("@example.com</a>") == 50
    assert "Page 1 of 2" in first and f'href="{detail_url()}?page=2"' in first
    assert second.count("@example.com</a>") == 11
    assert "member59@example.com" in second and "member00@example.com" not in second


def test_it_shows_the_detail_of_40_members_in_constant_queries(
    client: Client,
    team: Team,
    maintainer: User,
    make_model: Callable[..., RegisteredModel],
    django_assert_max_num_queries: Any,
) -> None:
    for i in range(40):
        user = User.objects.create_user(f"member{i:02}", f"member{i:02}@example.com")
        Membership.objects.create(team=team, user=user, role=list(Role)[i % 4])
    for i in range(5):
        make_model(f"model-{i}")
    client.force_login(maintainer)

    # session, user, the user's roles, the team, member count, the page of members with
    # their users, the model count, the first models, the navigation's counts
    with django_assert_max_num_queries(9):
        response = client.get(detail_url())

    # the 40, the maintainer, and the contributor who registered the models
    assert text(response).count("@example.com</a>") == 42


# POST add


def test_it_adds_a_member(client: Client, maintainer: User, alice: User) -> None:
    client.force_login(maintainer)

    response = client.post(add_url(), {"user": "ALICE@example.com", "role": "reviewer"})

    assert response.status_code == 302
    assert response["Location"] == detail_url()
    assert roles(Team.objects.get(slug="fraud"))["alice"] == Role.REVIEWER
    event = membership_events().get()
    assert (event.action, event.changes) == ("membership.add", {"role": [None, "reviewer"]})
    assert event.request_id and event.ip == "127.0.0.1"
    assert "Added alice to Fraud as reviewer." in text(client.get(response["Location"]))


def test_it_adds_a_member_in_place_with_htmx(client: Client, maintainer: User, alice: User) -> None:
    client.force_login(maintainer)

    response = client.post(add_url(), {"user": "alice", "role": "viewer"}, **HTMX)

    assert response.status_code == 200
    body = text(response)
    assert "<html" not in body
    assert "Added alice to Fraud as viewer." in body
    assert "alice@example.com" in body
    # The notice was shown in place, not queued for the next page.
    assert "Added alice" not in text(client.get(detail_url()))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"user": "nobody", "role": "viewer"}, "No user has the username or email address"),
        ({"user": "viewer@example.com", "role": "viewer"}, "viewer is already a member of Fraud."),
        ({"user": "alice", "role": "owner"}, "Select a valid choice. owner is not one of"),
        ({"user": "", "role": "viewer"}, "This field is required."),
    ],
)
def test_it_shows_add_errors_and_changes_nothing(
    client: Client, maintainer: User, viewer: User, alice: User, data: dict, message: str
) -> None:
    team = Team.objects.get(slug="fraud")
    before = roles(team)
    client.force_login(maintainer)

    whole = client.post(add_url(), {**data, "page": "1"})
    partial = client.post(add_url(), data, **HTMX)

    assert whole.status_code == 400
    assert "<html" in text(whole) and message in text(whole)
    assert 'aria-invalid="true"' in text(whole)
    assert partial.status_code == 200
    assert "<html" not in text(partial) and message in text(partial)
    assert roles(team) == before
    assert not membership_events().exists()


# POST role


def test_it_changes_a_role(client: Client, maintainer: User, viewer: User) -> None:
    team = Team.objects.get(slug="fraud")
    client.force_login(maintainer)

    response = client.post(role_url(membership_of(viewer, team)), {"role": "contributor"})

    assert response.status_code == 302 and response["Location"] == detail_url()
    assert roles(team)["viewer"] == Role.CONTRIBUTOR
    event = membership_events().get()
    assert (event.action, event.changes) == (
        "membership.change",
        {"role": ["viewer", "contributor"]},
    )


def test_it_changes_a_role_in_place_with_htmx_and_keeps_the_page(
    client: Client, maintainer: User, viewer: User
) -> None:
    team = Team.objects.get(slug="fraud")
    client.force_login(maintainer)

    response = client.post(
        role_url(membership_of(viewer, team)), {"role": "reviewer", "page": "1"}, **HTMX
    )

    assert response.status_code == 200
    assert "<html" not in text(response)
    assert "viewer is now a reviewer of Fraud." in text(response)
    assert roles(team)["viewer"] == Role.REVIEWER


def test_it_returns_to_the_same_members_page(
    client: Client, maintainer: User, viewer: User
) -> None:
    client.force_login(maintainer)
    membership = membership_of(viewer, Team.objects.get(slug="fraud"))

    response = client.post(role_url(membership), {"role": "reviewer", "page": "2"})

    assert response["Location"] == detail_url() + "?page=2"


@pytest.mark.parametrize(
    ("role", "message"),
    [
        ("viewer", "maintainer is the last maintainer of Fraud; make someone else a maintainer"),
        ("owner", "&#x27;owner&#x27; is not a role; choose one of viewer, contributor"),
    ],
)
def test_it_shows_role_errors_and_changes_nothing(
    client: Client, maintainer: User, role: str, message: str
) -> None:
    team = Team.objects.get(slug="fraud")
    url = role_url(membership_of(maintainer, team))
    client.force_login(maintainer)

    whole = client.post(url, {"role": role})
    partial = client.post(url, {"role": role}, **HTMX)

    assert whole.status_code == 400 and message in text(whole) and "<html" in text(whole)
    assert partial.status_code == 200 and message in text(partial)
    assert 'role="alert"' in text(partial) and "<html" not in text(partial)
    assert roles(team) == {"maintainer": "maintainer"}
    assert not membership_events().exists()


def test_it_hides_the_forms_after_a_maintainer_steps_down(
    client: Client, maintainer: User, reviewer: User
) -> None:
    team = Team.objects.get(slug="fraud")
    Membership.objects.filter(user=reviewer).update(role=Role.MAINTAINER)
    client.force_login(maintainer)

    response = client.post(role_url(membership_of(maintainer, team)), {"role": "viewer"}, **HTMX)

    assert response.status_code == 200
    assert roles(team)["maintainer"] == Role.VIEWER
    assert "maintainer is now a viewer of Fraud." in text(response)
    assert "/members/" not in text(response)


# POST remove


def test_it_removes_a_member(client: Client, maintainer: User, contributor: User) -> None:
    team = Team.objects.get(slug="fraud")
    client.force_login(maintainer)

    response = client.post(remove_url(membership_of(contributor, team)))

    assert response.status_code == 302 and response["Location"] == detail_url()
    assert "contributor" not in roles(team)
    event = membership_events().get()
    assert (event.action, event.changes) == ("membership.remove", {"role": ["contributor", None]})
    assert "Removed contributor from Fraud." in text(client.get(detail_url()))


def test_it_removes_a_member_in_place_with_htmx(
    client: Client, maintainer: User, contributor: User
) -> None:
    team = Team.objects.get(slug="fraud")
    client.force_login(maintainer)

    response = client.post(remove_url(membership_of(contributor, team)), **HTMX)

    assert response.status_code == 200
    body = text(response)
    assert "<html" not in body
    assert "Removed contributor from Fraud." in body
    assert "contributor@example.com" not in body


def test_it_refuses_to_remove_the_last_maintainer(client: Client, maintainer: User) -> None:
    team = Team.objects.get(slug="fraud")
    client.force_login(maintainer)

    response = client.post(remove_url(membership_of(maintainer, team)))

    assert response.status_code == 400
    assert "maintainer is the last maintainer of Fraud" in text(response)
    assert roles(team) == {"maintainer": "maintainer"}
    assert not membership_events().exists()


def test_it_sends_a_maintainer_who_left_to_their_teams(
    client: Client, maintainer: User, reviewer: User
) -> None:
    team = Team.objects.get(slug="fraud")
    Membership.objects.filter(user=reviewer).update(role=Role.MAINTAINER)
    client.force_login(maintainer)
    membership = membership_of(maintainer, team)

    response = client.post(remove_url(membership), **HTMX)

    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("team-list")
    assert roles(team) == {"reviewer": "maintainer"}
    assert "Removed maintainer from Fraud." in text(client.get(reverse("team-list")))


def test_it_redirects_a_maintainer_who_left_without_htmx(
    client: Client, maintainer: User, reviewer: User
) -> None:
    Membership.objects.filter(user=reviewer).update(role=Role.MAINTAINER)
    client.force_login(maintainer)

    response = client.post(remove_url(membership_of(maintainer, Team.objects.get(slug="fraud"))))

    assert response.status_code == 302 and response["Location"] == reverse("team-list")


# Who may POST


def post_each(client: Client, team: Team, viewer: User, **extra: Any) -> list[int]:
    membership = membership_of(viewer, team)
    return [
        client.post(add_url(team), {"user": "alice", "role": "maintainer"}, **extra).status_code,
        client.post(role_url(membership), {"role": "maintainer"}, **extra).status_code,
        client.post(remove_url(membership), **extra).status_code,
    ]


@pytest.mark.parametrize("persona", ["reviewer", "contributor", "viewer"])
def test_it_forbids_members_below_maintainer_to_manage(
    login: Callable[[str], Client], everyone: None, alice: User, persona: str
) -> None:
    team = Team.objects.get(slug="fraud")
    before = roles(team)
    client = login(persona)

    assert post_each(client, team, User.objects.get(username="viewer")) == [403, 403, 403]
    assert post_each(client, team, User.objects.get(username="viewer"), **HTMX) == [403] * 3
    assert roles(team) == before
    assert not membership_events().exists()


def test_it_hides_the_team_from_outsiders_posting(
    login: Callable[[str], Client], everyone: None, outsider: User, alice: User
) -> None:
    team = Team.objects.get(slug="fraud")
    before = roles(team)

    assert post_each(login("outsider"), team, User.objects.get(username="viewer")) == [404] * 3
    assert roles(team) == before


def test_it_sends_anonymous_posts_to_sign_in(client: Client, everyone: None, alice: User) -> None:
    team = Team.objects.get(slug="fraud")
    before = roles(team)

    assert post_each(client, team, User.objects.get(username="viewer")) == [302] * 3
    assert roles(team) == before


def test_it_lets_a_site_admin_manage_any_team(
    client: Client, everyone: None, site_admin: User, alice: User
) -> None:
    team = Team.objects.get(slug="fraud")
    client.force_login(site_admin)

    assert post_each(client, team, User.objects.get(username="viewer")) == [302] * 3
    assert roles(team) == {
        "alice": "maintainer",
        "contributor": "contributor",
        "maintainer": "maintainer",
        "reviewer": "reviewer",
    }
    assert membership_events().count() == 3


def test_it_refuses_another_teams_membership_under_ones_own_team(
    client: Client, maintainer: User, outsider: User, other_team: Team
) -> None:
    """A maintainer of Fraud cannot reach Growth's memberships by putting their id under
    /teams/fraud/ (nor under /teams/growth/, which they cannot see)."""
    theirs = membership_of(outsider, other_team)
    client.force_login(maintainer)

    for slug in ("fraud", "growth"):
        assert client.post(role_url(theirs, slug), {"role": "viewer"}).status_code == 404
        assert client.post(remove_url(theirs, slug)).status_code == 404
    assert roles(other_team) == {"outsider": "maintainer"}


def test_it_answers_405_to_get_on_the_post_urls(client: Client, maintainer: User) -> None:
    membership = membership_of(maintainer, Team.objects.get(slug="fraud"))
    client.force_login(maintainer)

    for url in (add_url(), role_url(membership), remove_url(membership)):
        assert client.get(url).status_code == 405


def test_it_answers_405_to_post_on_the_pages(client: Client, maintainer: User) -> None:
    client.force_login(maintainer)

    assert client.post(reverse("team-list")).status_code == 405
    assert client.post(detail_url()).status_code == 405


# CSRF


def test_it_requires_the_csrf_token(maintainer: User, viewer: User, alice: User) -> None:
    team = Team.objects.get(slug="fraud")
    client = Client(enforce_csrf_checks=True)
    client.force_login(maintainer)
    before = roles(team)

    assert post_each(client, team, viewer) == [403, 403, 403]
    assert roles(team) == before

    page = text(client.get(detail_url()))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    header = re.search(r'"x-csrftoken": "([^"]+)"', page).group(1)
    response = client.post(
        add_url(), {"user": "alice", "role": "viewer", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    # htmx sends the token from <body hx-headers> as a header instead.
    response = client.post(
        role_url(membership_of(alice, team)), {"role": "reviewer"}, HTTP_X_CSRFTOKEN=header, **HTMX
    )
    assert response.status_code == 200
    assert roles(team)["alice"] == Role.REVIEWER
