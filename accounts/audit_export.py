"""Audit log exports: CSV and JSON Lines, streamed in keyset batches (constant memory).

Rows come in chain order (oldest first) and carry every field the hash covers, plus
`prev_hash` and `hash`, so an auditor can re-verify an export offline:

- each row: SHA-256 of the canonical JSON (sorted keys, no spaces, UTF-8) of the row's
  HASHED_FIELDS equals its `hash` (`accounts.audit.event_hash`);
- an unfiltered export (the site-wide log) also re-links the whole chain: each row's
  `prev_hash` is the `hash` of the row before it, and the first one's is 64 zeros.

JSON Lines keeps the values exactly as hashed (numbers, nulls, the `changes` object). CSV is
for spreadsheets: nulls are empty cells, `changes` is canonical JSON text, and a cell that
a spreadsheet would run as a formula (starting with = + - @, a tab or a carriage return), or
that starts with an apostrophe, gets one leading apostrophe; strip it to verify.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header

from accounts import audit
from accounts.models import AuditEvent

Format = Literal["csv", "jsonl"]
FORMATS: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/jsonl; charset=utf-8",
}
BATCH_SIZE = 1000

# What accounts.audit.event_hash covers, in the order the columns are written.
HASHED_FIELDS = tuple(audit.hashed_content(AuditEvent(created_at=dt.datetime.now(dt.UTC))))
COLUMNS = ("id", *HASHED_FIELDS[:8], "team_id", *HASHED_FIELDS[8:], "hash")

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


def event_row(event: AuditEvent) -> dict[str, Any]:
    """The event as exported: hashed fields in the exact form event_hash uses."""
    content = audit.hashed_content(event)
    return {"id": event.pk, **content, "team_id": event.team_id, "hash": event.hash}


def iter_events(events: QuerySet[AuditEvent], batch_size: int = 0) -> Iterator[AuditEvent]:
    """The events oldest first, one bounded query per batch (never the whole log at once)."""
    batch_size = batch_size or BATCH_SIZE
    after = 0
    while True:
        batch = list(events.filter(pk__gt=after).order_by("pk")[:batch_size])
        yield from batch
        if len(batch) < batch_size:
            return
        after = batch[-1].pk


def jsonl_lines(events: Iterable[AuditEvent]) -> Iterator[str]:
    for event in events:
        yield json.dumps(event_row(event), ensure_ascii=False) + "\n"


class _Line:
    """A write-only file for csv.writer that hands back what it was given."""

    def write(self, value: str) -> str:
        return value


def csv_cell(value: Any) -> str:
    """A value as CSV text that no spreadsheet runs as a formula."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        value = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_lines(events: Iterable[AuditEvent]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(COLUMNS)
    for event in events:
        row = event_row(event)
        yield writer.writerow([csv_cell(row[column]) for column in COLUMNS])


def export_response(
    events: QuerySet[AuditEvent], fmt: Format, basename: str
) -> StreamingHttpResponse:
    lines = csv_lines if fmt == "csv" else jsonl_lines
    response = StreamingHttpResponse(lines(iter_events(events)), content_type=FORMATS[fmt])
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"{basename}-{stamp}.{fmt}"
    )
    # Audit data names people and addresses: never keep it in a shared cache.
    response["Cache-Control"] = "private, no-store"
    return response
