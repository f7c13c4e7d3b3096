"""Who is calling: `Authorization: Bearer <token>` (what MLFLOW_TRACKING_TOKEN sends),
HTTP basic with username + token (MLFLOW_TRACKING_USERNAME/PASSWORD), or the browser's
session (with the CSRF check for changes). Object permissions stay with the policy."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from django.http import HttpRequest

from accounts import tokens
from accounts.models import ApiToken
from mlflow_api.errors import PERMISSION_DENIED, UNAUTHENTICATED, MlflowError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _basic(header: str) -> tuple[str, str] | None:
    scheme, _, credential = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(credential.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise MlflowError(UNAUTHENTICATED, "Malformed basic credentials.") from None
    username, sep, secret = decoded.partition(":")
    if not sep:
        raise MlflowError(UNAUTHENTICATED, "Malformed basic credentials.")
    return username, secret


def authenticate(request: HttpRequest) -> Any:
    """The user the request acts as, or MlflowError (401 / 403)."""
    header = request.headers.get("Authorization", "")
    credential = tokens.bearer(request)
    if credential.present:
        token = _verify(credential.secret)
    elif (basic := _basic(header)) is not None:
        username, secret = basic
        token = _verify(secret)
        if username and username != token.user.get_username():
            raise MlflowError(UNAUTHENTICATED, "The token does not belong to that user.")
    elif header.strip():
        raise MlflowError(UNAUTHENTICATED, "Use a Bearer token or basic auth with a token.")
    else:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            raise MlflowError(
                UNAUTHENTICATED,
                "Authentication required: set MLFLOW_TRACKING_TOKEN to a Modelgate API token.",
            )
        if request.method not in SAFE_METHODS and tokens._csrf_failure(request) is not None:
            raise MlflowError(PERMISSION_DENIED, "CSRF verification failed.")
        return user
    scope = ApiToken.Scope.READ if request.method in SAFE_METHODS else ApiToken.Scope.WRITE
    if not tokens.has_scope(token, scope):
        raise MlflowError(
            PERMISSION_DENIED, f"This token lacks the '{scope}' scope this request needs."
        )
    request.user = token.user
    request.api_token = token  # type: ignore[attr-defined]
    return token.user


def _verify(secret: str) -> ApiToken:
    try:
        return tokens.verify(secret)
    except tokens.TokenRejected as exc:
        raise MlflowError(UNAUTHENTICATED, str(exc)) from None
