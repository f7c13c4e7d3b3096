from __future__ import annotations

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from accounts.models import User


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
