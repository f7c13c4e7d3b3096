"""Sign-in events in the audit log: successful and failed logins, and logouts.

The request's IP, user agent and id come from AuditContextMiddleware, like every event.
A failed login records only the username that was tried (never the password: Django has
already masked it in `credentials`, and we do not read that key anyway).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.http import HttpRequest

from accounts import audit
from accounts.models import AuditEvent

_NAME_MAX = AuditEvent._meta.get_field("actor_name").max_length or 150
_REPR_MAX = AuditEvent._meta.get_field("object_repr").max_length or 300


def record_login(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    audit.record("auth.login", actor=user, obj=user)


def record_logout(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is not None and user.is_authenticated:  # logging out while signed out: nothing
        audit.record("auth.logout", actor=user, obj=user)


def record_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    field = get_user_model().USERNAME_FIELD
    tried = str(credentials.get(field) or credentials.get("username") or "")
    audit.record(
        "auth.login_failed",
        actor_name=tried[:_NAME_MAX],
        object_type="accounts.user",
        object_repr=tried[:_REPR_MAX],
    )


def connect() -> None:
    user_logged_in.connect(record_login, dispatch_uid="accounts.audit.login")
    user_logged_out.connect(record_logout, dispatch_uid="accounts.audit.logout")
    user_login_failed.connect(record_login_failed, dispatch_uid="accounts.audit.login_failed")
