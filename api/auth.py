"""Who is calling the API: a Bearer token (scripts, CI) or the browser's session.

A Bearer header alone decides: a bad token answers 401, a token without the scope the
method needs answers 403, and the session is not consulted. Without the header the
session cookie is used, with Django's CSRF check for unsafe methods. Object permissions
stay with the endpoints (the policy), for token and session callers alike.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from accounts import tokens
from accounts.models import ApiToken

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Unauthenticated(Exception):
    """No credentials, or credentials that were refused (401)."""

    def __init__(self, message: str = "Authentication required: send a Bearer token.") -> None:
        super().__init__(message)
        self.message = message


class InsufficientScope(Exception):
    """A valid token whose scopes do not cover the request's method (403)."""

    def __init__(self, scope: str) -> None:
        self.scope = scope
        super().__init__(f"This token lacks the '{scope}' scope this request needs.")


class CsrfFailed(Exception):
    """A session request changing state without the CSRF token (403)."""


# Endpoints (URL names) that act as a reviewer: they need "review", not "write".
REVIEW_ENDPOINTS = frozenset({"api-request-reviews", "api-request-override"})


def needed_scope(request: HttpRequest) -> str:
    """Reading needs "read"; reviewing a promotion request needs "review"; anything else
    that changes state needs "write" (which implies read)."""
    if (request.method or "GET") in SAFE_METHODS:
        return ApiToken.Scope.READ
    match = request.resolver_match
    if match is not None and match.url_name in REVIEW_ENDPOINTS:
        return ApiToken.Scope.REVIEW
    return ApiToken.Scope.WRITE


class BearerToken(HttpBearer):
    def __call__(self, request: HttpRequest) -> Any:
        credential = tokens.bearer(request)
        if not credential.present:
            return None  # not ours: let the session try
        return self.authenticate(request, credential.secret)

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        try:
            api_token = tokens.verify(token)
        except tokens.TokenRejected as exc:
            raise Unauthenticated(str(exc)) from None
        scope = needed_scope(request)
        if not tokens.has_scope(api_token, scope):
            raise InsufficientScope(scope)
        request.user = api_token.user
        request.api_token = api_token  # type: ignore[attr-defined]
        return api_token.user


class Session(APIKeyCookie):
    """The signed-in browser session; unsafe methods need the CSRF token."""

    param_name = settings.SESSION_COOKIE_NAME

    def __call__(self, request: HttpRequest) -> Any:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None  # 401 rather than a CSRF complaint to someone signed out
        if request.method not in SAFE_METHODS and check_csrf(request) is not None:
            raise CsrfFailed("CSRF verification failed: send the X-CSRFToken header.")
        return user

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:  # pragma: no cover
        return self(request)


AUTH = [BearerToken(), Session()]
