"""Personal API tokens: create, authenticate, revoke, and the view decorator that accepts them.

A token's secret is "mg_" followed by 43 URL-safe characters (32 random bytes); only its
SHA-256 is stored, with the first 11 characters as a prefix so a leaked token can be
recognised in logs and in the admin. The secret is returned once, by `create`.

Scopes bound what a token may do on top of what its user may do (the permission policy
still decides the latter, for token and browser requests alike):

- ``read``: GET requests: browse, resolve versions, download artifacts and manifests.
- ``write``: register models and versions, change metadata, tags and aliases; it includes
  ``read``, since a job that registers a version also reads what it registered.
- ``review``: approve or reject promotion requests. It stands alone and includes neither of
  the others, so a token handed to a review bot can neither read artifacts nor register.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from accounts import audit, rows
from accounts.models import ApiToken, User

Scope = ApiToken.Scope

PREFIX = "mg_"
PREFIX_LENGTH = len(PREFIX) + 8  # what lists show: "mg_" and the first 8 secret characters
SECRET_BYTES = 32
# token_urlsafe(32) gives 43 characters of the URL-safe base64 alphabet.
TOKEN_RE = re.compile(r"^mg_[A-Za-z0-9_-]{43}$")
# last_used_at is refreshed at most this often, so using a token is not a write per request.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)

# What each scope lets a token do; write includes read, review stands alone.
_IMPLIES: dict[str, frozenset[str]] = {
    Scope.READ: frozenset({Scope.READ}),
    Scope.WRITE: frozenset({Scope.WRITE, Scope.READ}),
    Scope.REVIEW: frozenset({Scope.REVIEW}),
}


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def clean_scopes(scopes: Iterable[str]) -> list[str]:
    """The scopes in their canonical order (read, write, review), each once."""
    given = list(scopes)
    unknown = sorted({str(s) for s in given} - set(Scope.values))
    if unknown:
        choices = ", ".join(Scope.values)
        raise ValidationError(
            {"scopes": f"Unknown scope {', '.join(unknown)}; choose from {choices}."}
        )
    if not given:
        raise ValidationError({"scopes": "Choose at least one scope."})
    return [s for s in Scope.values if s in given]


def granted(token: ApiToken) -> frozenset[str]:
    """Everything the token's scopes allow, with write's implied read."""
    return frozenset().union(*(_IMPLIES.get(s, frozenset()) for s in token.scopes))


def has_scope(token: ApiToken, scope: str) -> bool:
    return Scope(scope) in granted(token)


def is_expired(token: ApiToken, now: dt.datetime | None = None) -> bool:
    return token.expires_at is not None and token.expires_at <= (now or timezone.now())


def status(token: ApiToken, now: dt.datetime | None = None) -> str:
    """ "active", "expired" or "revoked" (revocation wins: it was a deliberate act)."""
    if token.revoked_at is not None:
        return "revoked"
    return "expired" if is_expired(token, now) else "active"


def describe(token: ApiToken) -> str:
    """How audit events name a token: "deploy (mg_AbCdEfGh…) of alice"."""
    return f"{token.name} ({token.prefix}…) of {token.user.get_username()}"


def _audit_fields(token: ApiToken) -> dict[str, Any]:
    # Never the secret, nor its hash: the name, the owner, what it may do and until when.
    return {
        "name": token.name,
        "user": token.user.get_username(),
        "prefix": token.prefix,
        "scopes": list(token.scopes),
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
    }


def create(
    user: User,
    *,
    name: str,
    scopes: Iterable[str],
    expires_at: dt.datetime | None = None,
    actor: Any = None,
) -> tuple[ApiToken, str]:
    """Create a token for `user`; returns it and its secret, which is not stored anywhere.

    Raises ValidationError (by field: name, scopes, expires_at) and creates nothing when
    the name is empty or taken by another of the user's tokens, no or an unknown scope is
    given, or the expiry is not in the future.
    """
    name = (name or "").strip()
    errors: dict[str, str] = {}
    max_name = ApiToken._meta.get_field("name").max_length
    if not name:
        errors["name"] = "Give the token a name, e.g. the job that will use it."
    elif max_name is not None and len(name) > max_name:
        errors["name"] = f"The name may be at most {max_name} characters long."
    try:
        scope_list = clean_scopes(scopes)
    except ValidationError as exc:
        errors |= {"scopes": exc.message_dict["scopes"][0]}
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = "The expiry must be in the future."
    if errors:
        raise ValidationError(errors)

    secret = PREFIX + secrets.token_urlsafe(SECRET_BYTES)
    token = ApiToken(
        user=user,
        name=name,
        prefix=secret[:PREFIX_LENGTH],
        key_hash=hash_secret(secret),
        scopes=scope_list,
        expires_at=expires_at,
    )
    with transaction.atomic():
        if ApiToken.objects.filter(user=user, name=name).exists():
            raise ValidationError({"name": _name_taken(name)})
        try:
            with transaction.atomic():
                token.save()
        except IntegrityError:  # the same name, created concurrently
            raise ValidationError({"name": _name_taken(name)}) from None
        audit.record(
            "token.create",
            actor=actor if actor is not None else user,
            obj=token,
            object_repr=describe(token),
            changes={key: [None, value] for key, value in _audit_fields(token).items()},
        )
    return token, secret


def _name_taken(name: str) -> str:
    return (
        f"You already have a token named {name!r} (revoked tokens keep their names); "
        "choose another name."
    )


class TokenRejected(Exception):
    """Why a presented token was refused; the message is safe to show its holder."""


def verify(raw: str | None) -> ApiToken:
    """The active token whose secret is `raw`, or TokenRejected saying why not.

    The lookup is by the secret's SHA-256 (a unique index), never by comparing secrets,
    so timing reveals nothing about how much of a guess was right.
    """
    if not raw or not TOKEN_RE.match(raw):
        raise TokenRejected("The token is malformed.")
    token = _by_hash(hash_secret(raw))
    if token is None:
        raise TokenRejected("The token is not valid.")
    if token.revoked_at is not None:
        raise TokenRejected("The token has been revoked.")
    now = timezone.now()
    if is_expired(token, now):
        raise TokenRejected("The token has expired.")
    if not token.user.is_active:
        raise TokenRejected("The token's account is deactivated.")
    _touch(token, now)
    return token


def _by_hash(key_hash: str) -> ApiToken | None:
    """The token with this hash and its user: one plain-SQL read (accounts.rows), since
    every API request makes it."""
    found = rows.fetch(
        f"SELECT {rows.columns(ApiToken, 't')}, {rows.columns(User, 'u')} "
        f"FROM {rows.table(ApiToken)} t INNER JOIN {rows.table(User)} u ON u.id = t.user_id "
        "WHERE t.key_hash = %s",
        [key_hash],
    )
    if not found:
        return None
    split = rows.width(ApiToken)
    token = rows.instance(ApiToken, found[0][:split])
    token.user = rows.instance(User, found[0][split:])
    return token


def authenticate(raw: str | None) -> ApiToken | None:
    """The active token for this secret, or None when it is malformed, unknown, revoked,
    expired or belongs to a deactivated account."""
    try:
        return verify(raw)
    except TokenRejected:
        return None


def _touch(token: ApiToken, now: dt.datetime) -> None:
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_RESOLUTION:
        return
    # Conditional, so concurrent requests with one token write once; not audited (using a
    # token changes nothing a person did).
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).exclude(
        last_used_at__gt=now - LAST_USED_RESOLUTION
    ).update(last_used_at=now)
    token.last_used_at = now


def revoke(token: ApiToken, actor: Any) -> bool:
    """Revoke the token (audited); False when it already was, which changes nothing.

    Who may revoke is the caller's question: the profile page fetches only the user's own
    tokens, the admin action is for site admins.
    """
    with transaction.atomic():
        locked = ApiToken.objects.select_for_update().select_related("user").get(pk=token.pk)
        if locked.revoked_at is not None:
            token.revoked_at = locked.revoked_at
            return False
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        audit.record(
            "token.revoke",
            actor=actor,
            obj=locked,
            object_repr=describe(locked),
            changes={"revoked_at": [None, locked.revoked_at.isoformat()]},
        )
    token.revoked_at = locked.revoked_at
    return True


# --- the view decorator ----------------------------------------------------------------


@dataclass(frozen=True)
class BearerHeader:
    present: bool
    secret: str = ""


def bearer(request: HttpRequest) -> BearerHeader:
    """The Bearer credential of the Authorization header; other schemes are not ours."""
    header = request.headers.get("Authorization", "")
    scheme, _, credential = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return BearerHeader(present=False)
    return BearerHeader(present=True, secret=credential.strip())


def _unauthorized(description: str) -> HttpResponse:
    response = JsonResponse({"error": "invalid_token", "detail": description}, status=401)
    quoted = description.replace('"', "'")
    response["WWW-Authenticate"] = (
        f'Bearer realm="modelgate", error="invalid_token", error_description="{quoted}"'
    )
    return response


def _insufficient_scope(scope: str) -> HttpResponse:
    detail = f"This token lacks the '{scope}' scope this request needs."
    response = JsonResponse(
        {"error": "insufficient_scope", "detail": detail, "scope": scope}, status=403
    )
    response["WWW-Authenticate"] = (
        f'Bearer realm="modelgate", error="insufficient_scope", scope="{scope}"'
    )
    return response


def _csrf_failure(request: HttpRequest) -> HttpResponse | None:
    """Run the CSRF check the decorator switched off, for a browser (session) request."""
    check = CsrfViewMiddleware(lambda _request: HttpResponse())
    check.process_request(request)
    return check.process_view(request, lambda _request: HttpResponse(), (), {})


View = Callable[..., HttpResponse]


def token_or_session(scope: str) -> Callable[[View], View]:
    """Accept an API token (`Authorization: Bearer mg_…`) or the signed-in session.

    With a Bearer header the token alone decides who the user is: a malformed, unknown,
    revoked or expired token, or one whose account is deactivated, answers 401 with
    `WWW-Authenticate: Bearer`; a token without `scope` answers 403. The session is not
    consulted then, and neither is CSRF (a header a browser never sends on its own).
    Without the header the view behaves as any other: anonymous browsers are sent to sign
    in, and unsafe methods need the CSRF token. Object permissions stay with the view.
    """
    needed = Scope(scope)

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            credential = bearer(request)
            if credential.present:
                try:
                    token = verify(credential.secret)
                except TokenRejected as exc:
                    return _unauthorized(str(exc))
                if not has_scope(token, needed):
                    return _insufficient_scope(needed)
                request.user = token.user
                request.api_token = token  # type: ignore[attr-defined]
                return view(request, *args, **kwargs)
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if request.method not in ("GET", "HEAD", "OPTIONS", "TRACE"):
                failure = _csrf_failure(request)
                if failure is not None:
                    return failure
            return view(request, *args, **kwargs)

        # The decorator does the sign-in check itself (LoginRequiredMiddleware would send a
        # token client to the login page) and CSRF for session requests only.
        return csrf_exempt(login_not_required(wrapped))

    return decorator
