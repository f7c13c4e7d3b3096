"""Keyset (cursor) pagination: page N costs the same as page 1, whatever the table size."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str | None:
    """The key a cursor holds, or None when it is malformed (then the first page is shown)."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        return None
    # Keys are printable ASCII; anything else (NUL, say) cannot be one of ours.
    return key if key and key.isprintable() and len(key) <= 255 else None


@dataclass
class KeysetPage:
    items: list[Any]
    next_cursor: str | None
    previous_cursor: str | None


def keyset_page(
    queryset: QuerySet[Any], *, key: str, after: str | None, before: str | None, size: int
) -> KeysetPage:
    """A page of `queryset` in descending `key` order.

    `after` continues past the given cursor (older items); `before` goes back (newer items).
    One query: it fetches one extra row to know whether there is another page.
    """
    after_key = decode_cursor(after) if after else None
    before_key = decode_cursor(before) if before else None
    if before_key is not None:
        rows = list(queryset.filter(**{f"{key}__gt": before_key}).order_by(key)[: size + 1])
        has_newer = len(rows) > size
        items = list(reversed(rows[:size]))
        has_older = True
    else:
        if after_key is not None:
            queryset = queryset.filter(**{f"{key}__lt": after_key})
        rows = list(queryset.order_by(f"-{key}")[: size + 1])
        items = rows[:size]
        has_older = len(rows) > size
        has_newer = after_key is not None
    first = getattr(items[0], key) if items else None
    last = getattr(items[-1], key) if items else None
    return KeysetPage(
        items=items,
        next_cursor=encode_cursor(last) if has_older and last is not None else None,
        previous_cursor=encode_cursor(first) if has_newer and first is not None else None,
    )
