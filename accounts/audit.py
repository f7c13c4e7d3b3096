"""The audit log: append-only, hash-chained events for every state change.

Each event stores the hash of the event before it and a SHA-256 over its own content and
that previous hash, so editing, deleting or inserting an event breaks the chain from there
on; the head row (AuditHead) holds the tip, so removing the newest events shows too.
Appends lock the head row, which serialises them; `verify_chain` walks the chain.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from accounts import rows
from accounts.models import AuditEvent, AuditHead, Team

GENESIS = "0" * 64
HEAD_ID = 1  # the one AuditHead row


@dataclass(frozen=True)
class RequestContext:
    ip: str | None = None
    user_agent: str = ""
    request_id: str = ""


_context: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "audit_request_context", default=None
)


def set_request_context(context: RequestContext) -> contextvars.Token[RequestContext | None]:
    return _context.set(context)


def reset_request_context(token: contextvars.Token[RequestContext | None]) -> None:
    _context.reset(token)


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """{field: [old, new]} for the fields whose values differ."""
    return {
        key: [before.get(key), after.get(key)]
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


def record(
    action: str,
    *,
    actor: Any = None,
    obj: Model | None = None,
    team: Team | None = None,
    changes: dict[str, Any] | None = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
    actor_name: str = "",
) -> AuditEvent:
    """Append one event; call it inside the transaction that makes the change.

    `action` is a dotted verb such as "version.register" or "membership.remove". The
    object defaults its type/id/repr from `obj`; `changes` is usually `diff(before, after)`.
    """
    context = _context.get() or RequestContext()  # tasks and commands have no request
    model_id = _registered_model_id(obj)
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
        object_repr = object_repr or str(obj)[:300]
    user = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    # No savepoint: the event commits or rolls back with the change it records.
    with transaction.atomic(savepoint=False):
        event = AuditEvent(
            actor=user,
            actor_name=actor_name or (user.get_username() if user else ""),
            action=action,
            object_type=object_type,
            object_id=object_id,
            object_repr=object_repr,
            team=team,
            team_slug=team.slug if team else "",
            model_id=model_id,
            changes=_jsonable(changes or {}),
            ip=context.ip,
            user_agent=context.user_agent[:300],
            request_id=context.request_id[:64],
        )
        # The head is locked last, once the event is built: every audited change in the
        # site waits for it, until the transaction that took it commits.
        event.created_at = timezone.now()
        if connection.vendor != "postgresql" or not _append_in_one_statement(event):
            event.prev_hash = _lock_head()
            event.created_at = timezone.now()  # in chain order, like the ids
            event.hash = event_hash(event)
            rows.insert([event])  # plain SQL: while the head's lock is held, all changes wait
            _advance_head(event)
    return event


def _hash_around_prev(event: AuditEvent) -> tuple[str, str]:
    """The event's canonical JSON (event_hash) before and after the previous hash's value:
    its keys are sorted, so the value sits between the keys that sort before "prev_hash"
    and those after (both sides always have some)."""
    content = hashed_content(event)
    del content["prev_hash"]
    before = {key: value for key, value in content.items() if key < "prev_hash"}
    after = {key: value for key, value in content.items() if key > "prev_hash"}
    return _canonical(before)[:-1] + ',"prev_hash":"', '",' + _canonical(after)[1:]


def _append_in_one_statement(event: AuditEvent) -> bool:
    """PostgreSQL: lock the head, insert the event chained to it (the database computes
    the same SHA-256 as event_hash) and advance the head, in one statement, so the
    site-wide head lock is taken by the statement that also releases the chain's tip for
    the commit. False when the head row is missing (the caller's path creates it)."""
    prefix, suffix = _hash_around_prev(event)
    fields = [f for f in AuditEvent._meta.local_concrete_fields if not f.primary_key]
    quote = connection.ops.quote_name
    values, params = [], []
    for field in fields:
        if field.attname == "prev_hash":
            values.append("head.last_hash")
        elif field.attname == "hash":
            values.append("encode(sha256(convert_to(%s || head.last_hash || %s, 'UTF8')), 'hex')")
            params += [prefix, suffix]
        else:
            values.append("%s")
            params.append(field.get_db_prep_save(getattr(event, field.attname), connection))
    head = rows.table(AuditHead)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH head AS (SELECT last_hash FROM {head} WHERE id = %s FOR UPDATE), "
            f"appended AS (INSERT INTO {rows.table(AuditEvent)} "
            f"({', '.join(quote(f.column) for f in fields)}) "
            f"SELECT {', '.join(values)} FROM head RETURNING id, prev_hash, hash) "
            f"UPDATE {head} SET last_event_id = appended.id, last_hash = appended.hash "
            f"FROM appended WHERE {head}.id = %s "
            "RETURNING appended.id, appended.prev_hash, appended.hash",
            [HEAD_ID, *params, HEAD_ID],
        )
        row = cursor.fetchone()
    if row is None:
        return False
    event.pk, event.prev_hash, event.hash = row
    event._state.adding, event._state.db = False, connection.alias
    return True


# The head's statements are plain SQL: they run while the site-wide head lock is held,
# where the ORM's query building would be paid again by every change waiting behind it.


def _lock_head() -> str:
    """Lock the chain's head row until the transaction ends; answer the last hash."""
    table = connection.ops.quote_name(AuditHead._meta.db_table)
    # SQLite has no row locks: its transactions take the database's write lock instead.
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT last_hash FROM {table} WHERE id = %s{lock}", [HEAD_ID])
        row = cursor.fetchone()
    if row is not None:
        return row[0]
    # The migration creates the head; should it be missing (a flushed database), a new
    # one starts at event 0, which verify_chain() reports if events already exist.
    head, _ = AuditHead.objects.select_for_update().get_or_create(pk=HEAD_ID)
    return head.last_hash


def _advance_head(event: AuditEvent) -> None:
    table = connection.ops.quote_name(AuditHead._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_event_id = %s, last_hash = %s WHERE id = %s",
            [event.pk, event.hash, HEAD_ID],
        )


def _registered_model_id(obj: Model | None) -> int | None:
    """The registered model an object belongs to: itself, or via .model / .version.model."""
    if obj is None:
        return None
    if obj._meta.label_lower == "registry.registeredmodel":
        return obj.pk
    if hasattr(obj, "model_id"):
        return obj.model_id
    version = getattr(obj, "version", None)
    return getattr(version, "model_id", None)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def hashed_content(event: AuditEvent) -> dict[str, Any]:
    """Exactly what an event's hash covers (exports publish it, so anyone can re-check)."""
    return {
        "created_at": event.created_at.astimezone(dt.UTC).isoformat(),
        "actor_id": event.actor_id,
        "actor_name": event.actor_name,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "object_repr": event.object_repr,
        "team_slug": event.team_slug,
        "model_id": event.model_id,
        "changes": event.changes,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "request_id": event.request_id,
        "prev_hash": event.prev_hash,
    }


def event_hash(event: AuditEvent) -> str:
    """SHA-256 over the event's content (canonical JSON), which includes the previous hash."""
    return hashlib.sha256(_canonical(hashed_content(event)).encode()).hexdigest()


def _canonical(content: dict[str, Any]) -> str:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class ChainBreak:
    event_id: int | None
    problem: str


def verify_chain(batch_size: int = 2000) -> tuple[int, ChainBreak | None]:
    """Walk the chain oldest first: (events checked, the first break or None)."""
    previous = GENESIS
    checked = 0
    last_id = 0
    for event in _events(batch_size):
        if event.prev_hash != previous:
            return checked, ChainBreak(
                event.pk, "an event before it was deleted, or this one was inserted out of order"
            )
        if event_hash(event) != event.hash:
            return checked, ChainBreak(event.pk, "its content was edited after it was written")
        previous, last_id = event.hash, event.pk
        checked += 1
    head = AuditHead.objects.filter(pk=HEAD_ID).first()
    if head is None:
        return checked, ChainBreak(None, "the chain's head row is missing")
    if (head.last_event_id, head.last_hash) != (last_id, previous):
        return checked, ChainBreak(
            head.last_event_id or None, "events at the end of the log were deleted"
        )
    return checked, None


def _events(batch_size: int) -> Iterator[AuditEvent]:
    after = 0
    while True:
        batch = list(AuditEvent.objects.filter(pk__gt=after).order_by("pk")[:batch_size])
        yield from batch
        if len(batch) < batch_size:
            return
        after = batch[-1].pk
