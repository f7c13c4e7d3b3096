"""Cursor pagination for the API over registry.pagination.keyset_page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from registry.pagination import KeysetPage, decode_cursor, keyset_page

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def page(
    queryset: QuerySet[Any],
    *,
    key: str,
    cursor: str | None,
    limit: int,
    key_type: Callable[[str], Any] = str,
) -> KeysetPage:
    """The page after `cursor`; a cursor we did not hand out is a 400, not the first page
    (a client looping on `next` must never start over silently)."""
    if cursor:
        text = decode_cursor(cursor)
        if text is None or key_type(text) is None:
            raise ValidationError({"cursor": "is not a cursor this API returned"})
    return keyset_page(queryset, key=key, after=cursor or None, before=None, size=limit,
                       key_type=key_type)  # fmt: skip
