"""The profile page: details, teams and roles, the password change, and API tokens created
(secret shown once), listed and revoked in the browser."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import tokens
from accounts.models import ApiToken, AuditEvent, Membership, User

pytestmark = pytest.mark.django_db

PROFILE = reverse("profile")
CREATE = reverse("token-create")
SECRET_RE = re.compile(r"mg_[A-Za-z0-9_-]{43}")


def recorded_changes() -> list[AuditEvent]:
    """Audit events other than sign-ins (force_login records one)."""
    return list(AuditEvent.objects.exclude(action__startswith="auth."))


def revoke_url(token: ApiToken) -> str:
    return reverse("token-revoke", args=[token.pk])


def create(client: Client, **data: Any) -> Any:
    return client.post(CREATE, {"name": "deploy", "scopes": ["read"], "expiry": "90"} | data)


@pytest.fixture
def signed_in(client: Client, viewer: User) -> Client:
    client.force_login(viewer)
    return client


# --- the page -------------------------------------------------------------------------------


def test_it_sends_anonymous_visitors_to_sign_in(client: Client) -> None:
    response = client.get(PROFILE)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_it_shows_the_users_details_teams_and_roles(
    client: Client, viewer: User, other_team: Any
) -> None:
    Membership.objects.create(user=viewer, team=other_team, role=Membership.Role.REVIEWER)
    client.force_login(viewer)

    response = client.get(PROFILE)

    assert response.status_code == 200
    html = response.content.decode()
    assert "viewer@example.com" in html
    assert re.search(r"Fraud</a>\s*<span[^>]*>Viewer</span>", html)
    assert re.search(r"Growth</a>\s*<span[^>]*>Reviewer</span>", html)
    assert f'href="{reverse("password_change")}"' in html
    assert "You have no API tokens yet." in html


def test_it_refuses_other_methods_on_the_page(signed_in: Client) -> None:
    assert signed_in.post(PROFILE).status_code == 405
    assert signed_in.get(CREATE).status_code == 405


def test_it_lists_the_users_tokens_only(signed_in: Client, viewer: User, contributor: User) -> None:
    mine, _ = tokens.create(viewer, name="ci", scopes=["read", "write"])
    old, _ = tokens.create(viewer, name="old", scopes=["read"])
    tokens.revoke(old, actor=viewer)
    stale, _ = tokens.create(
        viewer, name="stale", scopes=["review"], expires_at=timezone.now() + dt.timedelta(days=1)
    )
    ApiToken.objects.filter(pk=stale.pk).update(expires_at=timezone.now())
    theirs, _ = tokens.create(contributor, name="theirs", scopes=["read"])

    html = signed_in.get(PROFILE).content.decode()

    assert f"<code>{mine.prefix}…</code>" in html
    assert theirs.prefix not in html and "theirs" not in html
    rows = {m[0]: m[1] for m in re.findall(r'fw-semibold">(\w+)</td>(.*?)</tr>', html, re.S)}
    assert set(rows) == {"ci", "old", "stale"}
    assert ">active<" in rows["ci"] and ">read<" in rows["ci"] and ">write<" in rows["ci"]
    assert ">revoked<" in rows["old"] and "Revoke" not in rows["old"]
    assert ">expired<" in rows["stale"]
    assert revoke_url(mine) in rows["ci"]


# --- creating a token ---------------------------------------------------------------------


def test_it_creates_a_token_and_shows_the_secret_once(signed_in: Client, viewer: User) -> None:
    response = create(signed_in, name="deploy job", scopes=["read", "write"])

    assert response.status_code == 200
    html = response.content.decode()
    [secret] = set(SECRET_RE.findall(html))
    assert "you will not see it again" in html
    assert f'value="{secret}"' in html  # a read-only field to copy from
    assert f"Bearer {secret}" in html  # and a ready-made curl line
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get(user=viewer)
    assert (token.name, token.scopes, token.prefix) == (
        "deploy job",
        ["read", "write"],
        secret[:11],
    )
    assert tokens.authenticate(secret) == token
    # The page lists it, and nowhere is the secret shown again.
    later = signed_in.get(PROFILE).content.decode()
    assert f"{token.prefix}…" in later
    assert secret not in later and not SECRET_RE.search(later)


def test_it_records_the_creation(signed_in: Client, viewer: User) -> None:
    create(signed_in)

    [event] = AuditEvent.objects.filter(action="token.create")
    assert event.actor == viewer
    assert event.ip == "127.0.0.1"


@pytest.mark.parametrize(
    ("expiry", "expected"),
    [
        ("30", dt.timedelta(days=30)),
        ("90", dt.timedelta(days=90)),
        ("365", dt.timedelta(days=365)),
        ("never", None),
    ],
)
def test_it_sets_the_chosen_expiry(
    signed_in: Client, viewer: User, expiry: str, expected: dt.timedelta | None
) -> None:
    create(signed_in, expiry=expiry)

    token = ApiToken.objects.get(user=viewer)
    if expected is None:
        assert token.expires_at is None
    else:
        assert abs(token.expires_at - (timezone.now() + expected)) < dt.timedelta(minutes=1)


def test_it_expires_a_token_at_the_start_of_the_chosen_day(signed_in: Client, viewer: User) -> None:
    day = timezone.now().date() + dt.timedelta(days=10)

    create(signed_in, expiry="date", expires_on=day.isoformat())

    token = ApiToken.objects.get(user=viewer)
    assert token.expires_at == dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


TODAY = dt.datetime.now(dt.UTC).date()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": ""}, "This field is required."),
        ({"name": "   "}, "This field is required."),
        ({"name": "x" * 101}, "at most 100 characters"),
        ({"scopes": []}, "This field is required."),
        ({"scopes": ["admin"]}, "Select a valid choice. admin is not one of"),
        ({"expiry": "7"}, "Select a valid choice. 7 is not one of"),
        ({"expiry": "date"}, "Pick the day the token should expire."),
        ({"expiry": "date", "expires_on": "not-a-date"}, "Enter a valid date."),
        (
            {"expiry": "date", "expires_on": (TODAY - dt.timedelta(days=1)).isoformat()},
            "Pick a day after today.",
        ),
        ({"expiry": "date", "expires_on": TODAY.isoformat()}, "Pick a day after today."),
    ],
    ids=[
        "empty-name",
        "blank-name",
        "long-name",
        "no-scope",
        "unknown-scope",
        "unknown-expiry",
        "date-missing",
        "date-malformed",
        "date-past",
        "date-today",
    ],
)
def test_it_refuses_bad_input_with_a_form_error_and_creates_nothing(
    signed_in: Client, data: dict[str, Any], message: str
) -> None:
    response = create(signed_in, **data)

    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert "invalid-feedback" in html
    assert not SECRET_RE.search(html)
    assert not ApiToken.objects.exists()
    assert not recorded_changes()


def test_it_refuses_a_duplicate_name(signed_in: Client, viewer: User) -> None:
    tokens.create(viewer, name="deploy", scopes=["read"])

    response = create(signed_in, name="deploy")

    assert response.status_code == 400
    assert "You already have a token named" in response.content.decode()
    assert ApiToken.objects.count() == 1


def test_it_keeps_what_was_typed_after_an_error(signed_in: Client) -> None:
    html = create(signed_in, name="my job", scopes=[]).content.decode()

    assert 'value="my job"' in html


def test_it_needs_the_csrf_token_to_create(viewer: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(viewer)

    assert create(client).status_code == 403
    assert not ApiToken.objects.exists()


# --- revoking a token ---------------------------------------------------------------------


def test_it_asks_before_revoking(signed_in: Client, viewer: User) -> None:
    token, _ = tokens.create(viewer, name="ci", scopes=["read"])

    response = signed_in.get(revoke_url(token))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Revoke token “ci”?" in html
    assert f'action="{revoke_url(token)}"' in html and 'method="post"' in html
    token.refresh_from_db()
    assert token.revoked_at is None


def test_it_revokes_a_token(signed_in: Client, viewer: User) -> None:
    token, secret = tokens.create(viewer, name="ci", scopes=["read"])

    response = signed_in.post(revoke_url(token), follow=True)

    assert response.redirect_chain == [(PROFILE, 302)]
    assert "Token “ci” revoked" in response.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert tokens.authenticate(secret) is None
    [event] = AuditEvent.objects.filter(action="token.revoke")
    assert event.actor == viewer and event.object_id == str(token.pk)


def test_it_says_when_a_token_was_already_revoked(signed_in: Client, viewer: User) -> None:
    token, _ = tokens.create(viewer, name="ci", scopes=["read"])
    tokens.revoke(token, actor=viewer)

    response = signed_in.post(revoke_url(token), follow=True)

    assert "was already revoked" in response.content.decode()
    assert AuditEvent.objects.filter(action="token.revoke").count() == 1


@pytest.mark.parametrize("method", ["get", "post"])
def test_it_answers_404_for_someone_elses_token(
    signed_in: Client, contributor: User, method: str
) -> None:
    theirs, secret = tokens.create(contributor, name="theirs", scopes=["read"])

    response = getattr(signed_in, method)(revoke_url(theirs))

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
    assert tokens.authenticate(secret) == theirs
    assert not AuditEvent.objects.filter(action="token.revoke").exists()


def test_it_answers_404_for_an_unknown_token(signed_in: Client) -> None:
    assert signed_in.post(reverse("token-revoke", args=[999999])).status_code == 404


def test_it_needs_the_csrf_token_to_revoke(viewer: User) -> None:
    token, _ = tokens.create(viewer, name="ci", scopes=["read"])
    client = Client(enforce_csrf_checks=True)
    client.force_login(viewer)

    assert client.post(revoke_url(token)).status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None


def test_it_refuses_other_methods_to_revoke(signed_in: Client, viewer: User) -> None:
    token, _ = tokens.create(viewer, name="ci", scopes=["read"])

    assert signed_in.delete(revoke_url(token)).status_code == 405


def test_it_renders_the_profile_with_few_queries(
    signed_in: Client, viewer: User, other_team: Any, django_assert_max_num_queries: Any
) -> None:
    Membership.objects.create(user=viewer, team=other_team, role=Membership.Role.REVIEWER)
    for i in range(10):
        tokens.create(viewer, name=f"t{i}", scopes=["read"])

    # session, user, tokens, memberships with their teams, the navigation's counts
    with django_assert_max_num_queries(6):
        assert signed_in.get(PROFILE).status_code == 200


# --- password change ------------------------------------------------------------------------

NEW_PASSWORD = "a-much-better-passphrase-42"


def change_password(client: Client, old: str = "pw-for-tests-only", new: str = NEW_PASSWORD):
    return client.post(
        reverse("password_change"),
        {"old_password": old, "new_password1": new, "new_password2": new},
    )


def test_it_shows_the_password_form_in_the_layout(signed_in: Client) -> None:
    response = signed_in.get(reverse("password_change"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Change your password" in html and 'class="navbar' in html
    assert 'autocomplete="current-password"' in html and 'autocomplete="new-password"' in html


def test_it_changes_the_password_and_records_it(signed_in: Client, viewer: User) -> None:
    response = change_password(signed_in)

    assert response.status_code == 302
    assert response["Location"] == reverse("password_change_done")
    viewer.refresh_from_db()
    assert viewer.check_password(NEW_PASSWORD)
    # Still signed in here.
    assert signed_in.get(reverse("password_change_done")).status_code == 200
    [event] = AuditEvent.objects.filter(action="user.password_change")
    assert event.actor == viewer and event.object_id == str(viewer.pk)
    logged = str(event.changes) + event.object_repr
    assert NEW_PASSWORD not in logged and viewer.password not in logged


def test_it_refuses_a_wrong_old_password(signed_in: Client, viewer: User) -> None:
    response = change_password(signed_in, old="wrong")

    assert response.status_code == 200
    assert "Your old password was entered incorrectly" in response.content.decode()
    viewer.refresh_from_db()
    assert viewer.check_password("pw-for-tests-only")
    assert not recorded_changes()


def test_it_refuses_a_weak_new_password(signed_in: Client) -> None:
    response = change_password(signed_in, new="123")

    assert response.status_code == 200
    assert "This password is too short" in response.content.decode()
    assert not recorded_changes()


def test_it_needs_a_signed_in_user_to_change_a_password(client: Client) -> None:
    response = client.get(reverse("password_change"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
