from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from accounts.models import User
from registry.errors import Conflict


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails
    user: User  # type: ignore[assignment]


def wants_partial(request: HtmxHttpRequest) -> bool:
    """A partial swap was asked for.

    Boosted navigations, direct visits and htmx's history restores (Back after the page
    left its cache) all need the whole page.
    """
    htmx = request.htmx
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def error_text(exc: ValidationError | Conflict) -> str:
    """A refusal as one line for a flash message, naming each field and its rule."""
    if isinstance(exc, Conflict):
        return exc.message
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)
