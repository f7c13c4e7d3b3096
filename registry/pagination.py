"""Keyset (cursor) pagination: page N costs the same as page 1, whatever the table size."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
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


def int_key(key: str) -> int | None:
    """For keyset_page on integer keys (ids): a cursor must hold digits."""
    return int(key) if key.isascii() and key.isdigit() and len(key) <= 18 else None


def keyset_page(
    queryset: QuerySet[Any],
    *,
    key: str,
    after: str | None,
    before: str | None,
    size: int,
    key_type: Callable[[str], Any] = str,
) -> KeysetPage:
    """A page of `queryset` in descending `key` order.

    `after` continues past the given cursor (older items); `before` goes back (newer items).
    One query: it fetches one extra row to know whether there is another page. `key_type`
    turns a cursor's text into the key's type (None when it cannot be one: first page).
    """
    after_key = _cursor_key(after, key_type)
    before_key = _cursor_key(before, key_type)
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
        next_cursor=encode_cursor(str(last)) if has_older and last is not None else None,
        previous_cursor=encode_cursor(str(first)) if has_newer and first is not None else None,
    )


def _cursor_key(cursor: str | None, key_type: Callable[[str], Any]) -> Any:
    text = decode_cursor(cursor) if cursor else None
    return key_type(text) if text is not None else None
