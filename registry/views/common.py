from __future__ import annotations

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from accounts.models import User


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails
    user: User  # type: ignore[assignment]


def wants_partial(request: HtmxHttpRequest) -> bool:
    """A partial swap was asked for; boosted navigations and direct visits get whole pages."""
    return bool(request.htmx) and not request.htmx.boosted
