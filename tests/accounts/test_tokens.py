"""API tokens: created with a shown-once secret and stored hashed, authenticated by hash,
scoped, revoked and audited; and the Bearer decorator on the artifact endpoints."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from accounts import tokens
from accounts.models import ApiToken, AuditEvent, User
from registry.models import ModelVersion, RegisteredModel

pytestmark = pytest.mark.django_db

Scope = ApiToken.Scope
MakeModel = Callable[..., RegisteredModel]
MakeVersion = Callable[..., ModelVersion]
WEIGHTS = b"\x00weights\xffof a model\n" * 100


def make_token(user: User, name: str = "deploy", scopes: Any = ("read",), **kw: Any):
    return tokens.create(user, name=name, scopes=list(scopes), **kw)


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


# --- creating: the secret, the prefix, the hash ----------------------------------------


def test_it_returns_a_secret_with_a_recognisable_prefix(viewer: User) -> None:
    token, secret = make_token(viewer)

    assert secret.startswith("mg_")
    assert len(secret) == 3 + 43
    assert token.prefix == secret[:11]
    assert token.prefix.startswith("mg_") and len(token.prefix) == 11


def test_it_stores_only_the_sha256_of_the_secret(viewer: User) -> None:
    secrets_ = [make_token(viewer, name=f"t{i}")[1] for i in range(3)]

    rows = list(ApiToken.objects.values())
    stored = json.dumps(rows, default=str)
    for secret in secrets_:
        assert secret not in stored
        assert secret[11:] not in stored  # not even the part after the prefix
    assert {r["key_hash"] for r in rows} == {
        hashlib.sha256(s.encode()).hexdigest() for s in secrets_
    }


def test_it_never_writes_the_secret_or_its_hash_to_the_audit_log(viewer: User) -> None:
    token, secret = make_token(viewer)
    tokens.revoke(token, actor=viewer)

    logged = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert secret not in logged
    assert token.key_hash not in logged


def test_it_records_the_creation_in_the_audit_log(viewer: User) -> None:
    expires = timezone.now() + dt.timedelta(days=30)
    token, _ = make_token(viewer, scopes=["write", "read"], expires_at=expires)

    [event] = events("token.create")
    assert event.actor == viewer
    assert (event.object_type, event.object_id) == ("accounts.apitoken", str(token.pk))
    assert event.object_repr == f"deploy ({token.prefix}…) of viewer"
    assert event.changes["name"] == [None, "deploy"]
    assert event.changes["scopes"] == [None, ["read", "write"]]
    assert event.changes["expires_at"] == [None, expires.isoformat()]


def test_it_stores_scopes_in_canonical_order_once_each(viewer: User) -> None:
    token, _ = make_token(viewer, scopes=["review", "read", "review"])

    assert token.scopes == ["read", "review"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"scopes": []}, "scopes"),
        ({"scopes": ["admin"]}, "scopes"),
        ({"scopes": ["read", "delete"]}, "scopes"),
        ({"expires_at": timezone.now() - dt.timedelta(seconds=1)}, "expires_at"),
    ],
    ids=[
        "empty-name",
        "blank-name",
        "long-name",
        "no-scope",
        "unknown-scope",
        "one-unknown",
        "past-expiry",
    ],
)
def test_it_refuses_bad_input_and_creates_nothing(
    viewer: User, kwargs: dict[str, Any], field: str
) -> None:
    args = {"name": "deploy", "scopes": ["read"]} | kwargs

    with pytest.raises(ValidationError) as exc:
        tokens.create(viewer, **args)

    assert field in exc.value.message_dict
    assert not ApiToken.objects.exists()
    assert not AuditEvent.objects.exists()


def test_it_refuses_a_name_the_user_already_used_even_for_a_revoked_token(viewer: User) -> None:
    token, _ = make_token(viewer, name="ci")
    tokens.revoke(token, actor=viewer)

    with pytest.raises(ValidationError) as exc:
        make_token(viewer, name=" ci ")

    assert "already have a token named 'ci'" in exc.value.message_dict["name"][0]
    assert ApiToken.objects.count() == 1


def test_it_lets_two_users_use_the_same_name(viewer: User, contributor: User) -> None:
    make_token(viewer, name="ci")
    make_token(contributor, name="ci")

    assert ApiToken.objects.filter(name="ci").count() == 2


# --- authenticating ---------------------------------------------------------------------


def test_it_authenticates_a_good_token(viewer: User) -> None:
    token, secret = make_token(viewer)

    assert tokens.authenticate(secret) == token
    assert tokens.authenticate(secret).user == viewer


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "mg_",
        "mg_short",
        "Bearer mg_" + "a" * 43,
        "mg_" + "a" * 42,
        "mg_" + "a" * 44,
        "xx_" + "a" * 43,
        "MG_" + "a" * 43,
        "mg_" + "!" * 43,
        "mg_" + "a" * 42 + "\n",
        " mg_" + "a" * 43,
    ],
    ids=[
        "none",
        "empty",
        "prefix-only",
        "short",
        "with-scheme",
        "one-short",
        "one-long",
        "wrong-prefix",
        "upper-prefix",
        "bad-alphabet",
        "newline",
        "leading-space",
    ],
)
def test_it_rejects_a_malformed_token(viewer: User, raw: str | None) -> None:
    make_token(viewer)

    assert tokens.authenticate(raw) is None
    with pytest.raises(tokens.TokenRejected, match="malformed"):
        tokens.verify(raw)


def test_it_rejects_a_forged_token_with_a_real_prefix(viewer: User) -> None:
    token, secret = make_token(viewer)
    body = secret[11:]
    forged = secret[:11] + ("A" if body[0] != "A" else "B") + body[1:]

    assert tokens.authenticate(forged) is None
    with pytest.raises(tokens.TokenRejected, match="not valid"):
        tokens.verify(forged)


def test_it_rejects_an_unknown_well_formed_token(viewer: User) -> None:
    make_token(viewer)

    assert tokens.authenticate("mg_" + "x" * 43) is None


def test_it_rejects_an_expired_token(viewer: User) -> None:
    token, secret = make_token(viewer, expires_at=timezone.now() + dt.timedelta(days=1))
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now())

    assert tokens.authenticate(secret) is None
    with pytest.raises(tokens.TokenRejected, match="expired"):
        tokens.verify(secret)


def test_it_rejects_a_revoked_token(viewer: User, site_admin: User) -> None:
    token, secret = make_token(viewer)
    tokens.revoke(token, actor=site_admin)

    with pytest.raises(tokens.TokenRejected, match="revoked"):
        tokens.verify(secret)


def test_it_rejects_the_token_of_a_deactivated_account(viewer: User) -> None:
    _, secret = make_token(viewer)
    User.objects.filter(pk=viewer.pk).update(is_active=False)

    with pytest.raises(tokens.TokenRejected, match="deactivated"):
        tokens.verify(secret)


def test_it_records_when_a_token_was_last_used(viewer: User) -> None:
    token, secret = make_token(viewer)
    assert token.last_used_at is None

    tokens.authenticate(secret)

    token.refresh_from_db()
    assert timezone.now() - token.last_used_at < dt.timedelta(seconds=5)


def test_it_writes_last_used_at_at_most_once_a_minute(
    viewer: User, django_assert_num_queries: Any
) -> None:
    token, secret = make_token(viewer)
    tokens.authenticate(secret)
    token.refresh_from_db()
    first = token.last_used_at

    with django_assert_num_queries(1):  # the lookup; no write
        tokens.authenticate(secret)

    token.refresh_from_db()
    assert token.last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - dt.timedelta(minutes=2))
    tokens.authenticate(secret)
    token.refresh_from_db()
    assert token.last_used_at > first


# --- revoking ---------------------------------------------------------------------------


def test_it_revokes_once_and_records_it(viewer: User, site_admin: User) -> None:
    token, _ = make_token(viewer)

    assert tokens.revoke(token, actor=site_admin) is True
    assert tokens.revoke(token, actor=site_admin) is False

    token.refresh_from_db()
    assert token.revoked_at is not None
    [event] = events("token.revoke")
    assert event.actor == site_admin
    assert event.object_id == str(token.pk)
    assert event.changes == {"revoked_at": [None, token.revoked_at.isoformat()]}


# --- scopes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scopes", "read", "write", "review"),
    [
        (["read"], True, False, False),
        (["write"], True, True, False),
        (["review"], False, False, True),
        (["read", "review"], True, False, True),
        (["read", "write", "review"], True, True, True),
    ],
)
def test_it_lets_write_include_read_and_keeps_review_apart(
    viewer: User, scopes: list[str], read: bool, write: bool, review: bool
) -> None:
    token, _ = make_token(viewer, scopes=scopes)

    assert tokens.has_scope(token, Scope.READ) is read
    assert tokens.has_scope(token, Scope.WRITE) is write
    assert tokens.has_scope(token, Scope.REVIEW) is review


def test_it_names_each_token_status(viewer: User) -> None:
    now = timezone.now()
    token, _ = make_token(viewer)

    assert tokens.status(token, now) == "active"
    token.expires_at = now
    assert tokens.status(token, now) == "expired"
    token.revoked_at = now
    assert tokens.status(token, now) == "revoked"


# --- Bearer tokens on the artifact endpoints ------------------------------------------


@pytest.fixture
def version(make_model: MakeModel, make_version: MakeVersion) -> ModelVersion:
    return make_version(make_model("churn"), "1.0.0", files={"weights/model.bin": WEIGHTS})


def download_url(v: ModelVersion, path: str = "weights/model.bin") -> str:
    return reverse("artifact-download", args=[v.model.team.slug, v.model.name, v.version, path])


def manifest_url(v: ModelVersion) -> str:
    return reverse("version-manifest", args=[v.model.team.slug, v.model.name, v.version])


def bearer(secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def test_it_downloads_a_file_with_a_read_token(
    client: Client, viewer: User, version: ModelVersion
) -> None:
    _, secret = make_token(viewer, scopes=["read"])

    response = client.get(download_url(version), **bearer(secret))

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == WEIGHTS
    assert response["X-Checksum-SHA256"] == hashlib.sha256(WEIGHTS).hexdigest()
    assert "sessionid" not in response.cookies  # no session is started for a token


def test_it_reads_the_manifest_with_a_read_token(
    client: Client, viewer: User, version: ModelVersion
) -> None:
    _, secret = make_token(viewer, scopes=["read"])

    response = client.get(manifest_url(version), **bearer(secret))

    assert response.status_code == 200
    assert response.json()["files"] == [
        {
            "path": "weights/model.bin",
            "size": len(WEIGHTS),
            "sha256": hashlib.sha256(WEIGHTS).hexdigest(),
        }
    ]


def test_it_lets_a_write_token_read(client: Client, viewer: User, version: ModelVersion) -> None:
    _, secret = make_token(viewer, scopes=["write"])

    assert client.get(manifest_url(version), **bearer(secret)).status_code == 200


@pytest.mark.parametrize("url", [download_url, manifest_url], ids=["download", "manifest"])
def test_it_refuses_a_token_without_the_read_scope(
    client: Client, viewer: User, version: ModelVersion, url: Callable[..., str]
) -> None:
    _, secret = make_token(viewer, scopes=["review"])

    response = client.get(url(version), **bearer(secret))

    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in response["WWW-Authenticate"]
    assert 'scope="read"' in response["WWW-Authenticate"]


def test_it_applies_the_policy_to_the_tokens_user(
    client: Client, outsider: User, version: ModelVersion
) -> None:
    _, secret = make_token(outsider, scopes=["read", "write", "review"])

    assert client.get(download_url(version), **bearer(secret)).status_code == 404
    assert client.get(manifest_url(version), **bearer(secret)).status_code == 404


@pytest.mark.parametrize(
    ("spoil", "detail"),
    [
        (lambda token, secret: "mg_broken", "malformed"),
        (lambda token, secret: secret[:11] + "A" * 35, "not valid"),
        (lambda token, secret: tokens.revoke(token, None) and secret, "revoked"),
        (
            lambda token, secret: (
                ApiToken.objects.filter(pk=token.pk).update(
                    expires_at=timezone.now() - dt.timedelta(minutes=1)
                )
                and secret
            ),
            "expired",
        ),
        (
            lambda token, secret: (
                User.objects.filter(pk=token.user_id).update(is_active=False) and secret
            ),
            "deactivated",
        ),
    ],
    ids=["malformed", "forged", "revoked", "expired", "inactive-user"],
)
def test_it_answers_401_to_a_bad_token(
    client: Client,
    viewer: User,
    version: ModelVersion,
    spoil: Callable[[ApiToken, str], str],
    detail: str,
) -> None:
    token, secret = make_token(viewer)
    presented = spoil(token, secret)

    response = client.get(download_url(version), **bearer(presented))

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith('Bearer realm="modelgate"')
    assert 'error="invalid_token"' in response["WWW-Authenticate"]
    assert detail in response.json()["detail"]


def test_it_does_not_fall_back_to_the_session_when_a_token_is_bad(
    client: Client, viewer: User, version: ModelVersion
) -> None:
    client.force_login(viewer)

    response = client.get(download_url(version), **bearer("mg_" + "z" * 43))

    assert response.status_code == 401


def test_it_still_serves_signed_in_browsers(
    client: Client, viewer: User, version: ModelVersion
) -> None:
    client.force_login(viewer)

    response = client.get(download_url(version))

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == WEIGHTS


@pytest.mark.parametrize("header", [None, "Basic dmlld2VyOnB3", "Token mg_abc"])
def test_it_sends_anonymous_browsers_to_sign_in(
    client: Client, version: ModelVersion, header: str | None
) -> None:
    extra = {"HTTP_AUTHORIZATION": header} if header else {}

    response = client.get(download_url(version), **extra)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={download_url(version)}"


def test_it_keeps_refusing_other_methods(
    client: Client, viewer: User, version: ModelVersion
) -> None:
    _, secret = make_token(viewer)

    assert client.post(download_url(version), **bearer(secret)).status_code == 405


def test_it_marks_the_token_used_by_a_download(
    client: Client, viewer: User, version: ModelVersion
) -> None:
    token, secret = make_token(viewer)

    client.get(manifest_url(version), **bearer(secret))

    token.refresh_from_db()
    assert token.last_used_at is not None


def test_it_downloads_with_few_queries(
    client: Client, viewer: User, version: ModelVersion, django_assert_max_num_queries: Any
) -> None:
    _, secret = make_token(viewer)
    client.get(manifest_url(version), **bearer(secret))  # last_used_at is now fresh

    # token+user, memberships, the version, the artifact
    with django_assert_max_num_queries(4):
        response = client.get(download_url(version), **bearer(secret))
    assert response.status_code == 200


# --- the decorator on a state-changing view ---------------------------------------------


@tokens.token_or_session(scope="write")
def _register(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"registered by {request.user}")


def test_it_lets_a_write_token_post_without_csrf(rf: RequestFactory, viewer: User) -> None:
    _, secret = make_token(viewer, scopes=["write"])
    request = rf.post("/register", **bearer(secret))
    request.user = AnonymousUser()

    response = _register(request)

    assert response.status_code == 200
    assert response.content == b"registered by viewer"


def test_it_refuses_a_read_token_a_write(rf: RequestFactory, viewer: User) -> None:
    _, secret = make_token(viewer, scopes=["read"])
    request = rf.post("/register", **bearer(secret))
    request.user = AnonymousUser()

    assert _register(request).status_code == 403


def test_it_still_checks_csrf_for_a_session_post(rf: RequestFactory, viewer: User) -> None:
    request = rf.post("/register")
    request.user = viewer

    assert _register(request).status_code == 403


def test_it_is_exempt_from_the_login_middleware_and_does_its_own_check() -> None:
    assert getattr(_register, "login_required", True) is False
    assert getattr(_register, "csrf_exempt", False) is True
