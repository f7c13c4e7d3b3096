"""Sign-in hardening: django-axes locks a username+address pair out after five failures for
15 minutes, with a lockout page in the layout; session and CSRF cookies are hardened."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.http import HttpRequest
from django.test import Client
from django.urls import reverse

from accounts.models import User

pytestmark = pytest.mark.django_db

LOGIN = reverse("login")
PASSWORD = "pw-for-tests-only"


def sign_in(client: Client, username: str, password: str, ip: str = "127.0.0.1", url=LOGIN):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=ip)


def fail(client: Client, username: str, times: int, ip: str = "127.0.0.1") -> Any:
    response = None
    for _ in range(times):
        response = sign_in(client, username, "wrong password", ip)
    return response


def signed_in_as(client: Client) -> str | None:
    response = client.get(reverse("profile"))
    return response.context["user"].username if response.status_code == 200 else None


def test_it_keeps_axes_on_in_the_default_settings() -> None:
    assert settings.AXES_ENABLED is True
    assert settings.AXES_FAILURE_LIMIT == 5
    cool_off: dt.timedelta = settings.AXES_COOLOFF_TIME
    assert cool_off == dt.timedelta(minutes=15)
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]
    assert settings.AXES_RESET_ON_SUCCESS is True
    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"


def test_it_signs_in_with_the_right_password(client: Client, viewer: User) -> None:
    response = sign_in(client, "viewer", PASSWORD)

    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard")
    assert signed_in_as(client) == "viewer"


def test_it_shows_the_form_again_after_a_few_failures(client: Client, viewer: User) -> None:
    response = fail(client, "viewer", 4)

    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_it_locks_out_after_five_failures(client: Client, viewer: User) -> None:
    response = fail(client, "viewer", 5)

    assert response.status_code == 429
    html = response.content.decode()
    assert "Too many sign-in attempts" in html
    assert "Try again in 15 minutes" in html
    assert "<strong>viewer</strong>" in html
    assert 'class="navbar' in html  # in the layout


def test_it_refuses_even_the_right_password_while_locked_out(client: Client, viewer: User) -> None:
    fail(client, "viewer", 5)

    response = sign_in(client, "viewer", PASSWORD)

    assert response.status_code == 429
    assert signed_in_as(client) is None


def test_it_locks_the_admin_sign_in_too(client: Client, site_admin: User) -> None:
    url = reverse("admin:login")
    for _ in range(5):
        response = sign_in(client, "admin", "wrong", url=url)

    assert response.status_code == 429
    assert sign_in(client, "admin", PASSWORD, url=url).status_code == 429


def test_it_locks_only_that_username_from_that_address(
    client: Client, viewer: User, contributor: User
) -> None:
    fail(client, "viewer", 5)

    assert sign_in(Client(), "viewer", PASSWORD, ip="10.0.0.2").status_code == 302
    assert sign_in(Client(), "contributor", PASSWORD).status_code == 302


def test_it_lets_the_user_in_again_after_the_cool_off(client: Client, viewer: User) -> None:
    fail(client, "viewer", 5)
    attempt = AccessAttempt.objects.get(username="viewer")
    AccessAttempt.objects.filter(pk=attempt.pk).update(
        attempt_time=attempt.attempt_time - dt.timedelta(minutes=16)
    )

    assert sign_in(client, "viewer", PASSWORD).status_code == 302
    assert signed_in_as(client) == "viewer"


def test_it_forgets_failures_after_a_successful_sign_in(client: Client, viewer: User) -> None:
    fail(client, "viewer", 4)
    assert sign_in(client, "viewer", PASSWORD).status_code == 302
    client.post(reverse("logout"))

    assert fail(client, "viewer", 4).status_code == 200
    assert sign_in(client, "viewer", PASSWORD).status_code == 302


def test_it_counts_failures_for_unknown_usernames_too(client: Client) -> None:
    assert fail(client, "nobody", 5).status_code == 429


def test_it_leaves_force_login_alone(client: Client, viewer: User) -> None:
    client.force_login(viewer)

    assert signed_in_as(client) == "viewer"


def test_it_signs_in_the_test_client_when_given_a_request(client: Client, viewer: User) -> None:
    # Axes needs the request on every authenticate(); sign-ins over HTTP always pass it.
    assert client.login(request=HttpRequest(), username="viewer", password=PASSWORD) is True
    assert signed_in_as(client) == "viewer"


# --- cookies ------------------------------------------------------------------------------


def test_it_sets_a_hardened_session_cookie(client: Client, viewer: User) -> None:
    response = sign_in(client, "viewer", PASSWORD)

    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["samesite"] == "Lax"
    assert cookie["httponly"] is True
    assert cookie["max-age"] == 14 * 24 * 3600
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE is False


def test_it_sets_a_same_site_csrf_cookie(client: Client) -> None:
    response = client.get(LOGIN)

    assert response.cookies[settings.CSRF_COOKIE_NAME]["samesite"] == "Lax"
