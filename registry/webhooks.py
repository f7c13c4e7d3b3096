"""Webhooks: a team's subscriptions to registry events, delivered as signed JSON.

Producers call `emit()` inside the transaction that makes the change; it writes one
WebhookDelivery row per active webhook of the team subscribed to the event and hands the
rows to a worker once the transaction commits (nothing is sent for a rolled-back change,
and a broker outage only delays delivery: the periodic `sweep()` finds the rows). A
delivery is attempted up to MAX_ATTEMPTS times with exponential backoff and jitter on
network errors, 429 and 5xx; any other answer, and a refused destination, is final.

The payload (the JSON body) of every event::

    {
      "id": "6f1c…",                  # event id: the same on retries and redeliveries
      "event": "stage.changed",       # one of Event
      "created": "2025-01-31T12:00:00.123456+00:00",
      "team": "fraud",                # team slug
      "model": {"id": 7, "name": "churn"} | null,
      "version": {"id": 42, "version": "1.4.0", "sequence": 12, "stage": "staging",
                  "created": "…"} | null,
      "actor": "alice" | null,        # username of who made the change
      "data": {…}                     # per event, below
    }

`data` per event: version.registered {}; stage.changed {"from_stage", "to_stage",
"comment", "transition_id"}; alias.moved {"alias", "from_version", "to_version",
"protected"} (to_version null when the alias was deleted); ping {"message", "webhook"}.
The promotion events and version.deprecated carry what their producers pass.

Each request carries X-Modelgate-Event, X-Modelgate-Delivery (the delivery row id),
X-Modelgate-Timestamp (Unix seconds) and X-Modelgate-Signature:
``sha256=`` + hex HMAC-SHA256(secret, timestamp + "." + body).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import random
import secrets
import time
import uuid
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

import urllib3
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from accounts import audit, rows
from accounts.models import Team
from accounts.policy import Action, require
from registry import outbound
from registry.models import (
    DeliveryState,
    ModelVersion,
    RegisteredModel,
    Webhook,
    WebhookAllowedHost,
    WebhookDelivery,
)

log = logging.getLogger(__name__)


class Event(StrEnum):
    VERSION_REGISTERED = "version.registered"
    PROMOTION_REQUESTED = "promotion.requested"
    PROMOTION_APPROVED = "promotion.approved"
    PROMOTION_REJECTED = "promotion.rejected"
    STAGE_CHANGED = "stage.changed"
    ALIAS_MOVED = "alias.moved"
    VERSION_DEPRECATED = "version.deprecated"
    MONITOR_BREACHED = "monitor.breached"
    PING = "ping"  # sent on request to one webhook; not subscribable


SUBSCRIBABLE = tuple(e for e in Event if e is not Event.PING)
EVENT_HELP = {
    Event.VERSION_REGISTERED: "a version was registered",
    Event.PROMOTION_REQUESTED: "someone asked for a promotion",
    Event.PROMOTION_APPROVED: "a promotion request was approved",
    Event.PROMOTION_REJECTED: "a promotion request was rejected",
    Event.STAGE_CHANGED: "a version moved to another stage",
    Event.ALIAS_MOVED: "an alias was set, moved or deleted",
    Event.VERSION_DEPRECATED: "a version was deprecated",
    Event.MONITOR_BREACHED: "a monitor's rule held for a deployment (with its retrain request)",
}

MAX_ATTEMPTS = 6
BACKOFF_BASE = 30  # seconds before the 2nd attempt; ×3 each time: 30 s … 40 min, ~1 h in all
JITTER = 0.2  # ± this fraction, so retries of many deliveries do not arrive together
STALE_RUNNING = dt.timedelta(minutes=5)  # an attempt takes 25 s at most (timeouts + read)
LATE_QUEUED = dt.timedelta(minutes=1)  # due this long ago and not taken: enqueue again
SWEEP_BATCH = 500
NAME_MAX = 100
SIGNATURE_HEADER = "X-Modelgate-Signature"
USER_AGENT = "Modelgate-Webhook/1"


# --- events -----------------------------------------------------------------------------


def subscribed(team: Team, event: str) -> list[Webhook]:
    """The active webhooks of `team` subscribed to `event`."""
    event = Event(event)
    # Plain SQL (accounts.rows): every registration asks, and most teams have no webhooks.
    found = rows.fetch(
        f"SELECT {rows.columns(Webhook, 'w')} FROM {rows.table(Webhook)} w "
        "WHERE w.team_id = %s AND w.active ORDER BY w.name",
        [team.pk],
    )
    hooks = [rows.instance(Webhook, row) for row in found]
    return [hook for hook in hooks if event in hook.events]


def emit(
    team: Team,
    event: str,
    payload: dict[str, Any],
    *,
    actor: Any = None,
    model: RegisteredModel | None = None,
    version: ModelVersion | None = None,
    hooks: list[Webhook] | None = None,
) -> None:
    """Queue `event` for every active webhook of `team` subscribed to it.

    Call it inside the transaction that makes the change: the deliveries commit with it and
    are handed to a worker on commit. `payload` becomes the body's "data"; `model` and
    `version` (whose model is implied) fill "model" and "version". `hooks` are
    subscribed(team, event) looked up earlier, by a caller that must not query while it
    holds a lock.
    """
    event = Event(event)
    if hooks is None:
        hooks = subscribed(team, event)
    if not hooks:
        return
    if version is not None and model is None:
        model = version.model
    body = envelope(event, team, payload, actor=actor, model=model, version=version)
    rows = [_delivery_row(hook, body) for hook in hooks]
    created = WebhookDelivery.objects.bulk_create(rows)
    _dispatch_on_commit([row.pk for row in created])


def envelope(
    event: Event,
    team: Team,
    data: dict[str, Any],
    *,
    actor: Any = None,
    model: RegisteredModel | None = None,
    version: ModelVersion | None = None,
) -> dict[str, Any]:
    """The JSON body of an event (see the module docstring)."""
    return {
        "id": str(uuid.uuid4()),
        "event": str(event),
        "created": timezone.now().isoformat(),
        "team": team.slug,
        "model": {"id": model.pk, "name": model.name} if model else None,
        "version": (
            {
                "id": version.pk,
                "version": version.version,
                "sequence": version.sequence,
                "stage": version.stage,
                "created": version.created_at.isoformat() if version.created_at else None,
            }
            if version
            else None
        ),
        "actor": actor.get_username() if getattr(actor, "is_authenticated", False) else None,
        "data": json.loads(json.dumps(data, default=str)),
    }


def _delivery_row(hook: Webhook, body: dict[str, Any]) -> WebhookDelivery:
    return WebhookDelivery(
        webhook=hook,
        event=body["event"],
        event_id=uuid.UUID(body["id"]),
        payload=body,
        next_attempt_at=timezone.now(),
    )


# --- signing ----------------------------------------------------------------------------


def body_bytes(payload: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed): compact JSON with sorted keys."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def request_headers(delivery: WebhookDelivery, secret: str, timestamp: str, body: bytes) -> dict:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Modelgate-Event": delivery.event,
        "X-Modelgate-Delivery": str(delivery.pk),
        "X-Modelgate-Event-Id": str(delivery.event_id),
        "X-Modelgate-Timestamp": timestamp,
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


def new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


# --- managing webhooks ------------------------------------------------------------------


def allowed_hosts() -> set[str]:
    return set(WebhookAllowedHost.objects.values_list("host", flat=True))


def clean_url(url: Any) -> str:
    """An http(s) URL whose host resolves, now, to public addresses only (or is allowed)."""
    try:
        target = outbound.parse_url(url)
        outbound.check_destination(target, allowed_hosts())
    except ValidationError as exc:
        raise ValidationError({"url": exc.messages}) from None
    except (outbound.UnsafeDestination, outbound.UnresolvableHost) as exc:
        raise ValidationError({"url": str(exc)}) from None
    return url.strip()


def clean_events(events: Any) -> list[str]:
    if not isinstance(events, list | tuple) or not all(isinstance(e, str) for e in events):
        raise ValidationError({"events": "events must be a list of event names"})
    unknown = sorted(set(events) - set(SUBSCRIBABLE))
    if unknown:
        raise ValidationError(
            {
                "events": f"unknown event {unknown[0]!r}: choose from "
                + ", ".join(str(e) for e in SUBSCRIBABLE)
            }
        )
    if not events:
        raise ValidationError({"events": "choose at least one event"})
    return [str(e) for e in SUBSCRIBABLE if e in events]  # one canonical order


def _clean_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError({"name": "enter a name"})
    if len(name.strip()) > NAME_MAX:
        raise ValidationError({"name": f"a name has at most {NAME_MAX} characters"})
    return name.strip()


def clean_fields(changes: dict[str, Any]) -> dict[str, Any]:
    """Every field's problems at once; ValidationError naming each field."""
    cleaners = {"name": _clean_name, "url": clean_url, "events": clean_events}
    clean: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for field, value in changes.items():
        if field == "active":
            if not isinstance(value, bool):
                errors["active"] = ["must be true or false"]
            clean[field] = value
            continue
        if field not in cleaners:
            errors[field] = ["cannot be changed"]
            continue
        try:
            clean[field] = cleaners[field](value)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    return clean


def snapshot(hook: Webhook) -> dict[str, Any]:
    """What the audit log records of a webhook (never its secret)."""
    return {"name": hook.name, "url": hook.url, "events": hook.events, "active": hook.active}


def _name_taken(team: Team, name: str) -> ValidationError:
    return ValidationError({"name": f"team {team.slug} already has a webhook named {name!r}"})


def create_webhook(
    team: Team, actor: Any, *, name: str, url: str, events: list[str], active: bool = True
) -> tuple[Webhook, str]:
    """A new webhook and its secret (shown to the user once, then only used to sign)."""
    require(actor, Action.MAINTAIN, team)
    clean = clean_fields({"name": name, "url": url, "events": events, "active": active})
    secret = new_secret()
    with transaction.atomic():
        if Webhook.objects.filter(team=team, name__iexact=clean["name"]).exists():
            raise _name_taken(team, clean["name"])
        try:
            with transaction.atomic():
                hook = Webhook.objects.create(team=team, secret=secret, created_by=actor, **clean)
        except IntegrityError:  # created by someone else a moment ago
            raise _name_taken(team, clean["name"]) from None
        audit.record(
            "webhook.create", actor=actor, obj=hook, team=team, changes=audit.diff({}, clean)
        )
    return hook, secret


def update_webhook(hook: Webhook, actor: Any, **changes: Any) -> Webhook:
    """Change the name, URL, events or active flag; audited with a before/after diff."""
    require(actor, Action.MAINTAIN, hook)
    clean = clean_fields(changes)
    with transaction.atomic():
        locked = Webhook.objects.select_for_update().select_related("team").get(pk=hook.pk)
        name = clean.get("name")
        if (
            name
            and Webhook.objects.filter(team=locked.team, name__iexact=name)
            .exclude(pk=locked.pk)
            .exists()
        ):
            raise _name_taken(locked.team, name)
        before = snapshot(locked)
        for field, value in clean.items():
            setattr(locked, field, value)
        after = snapshot(locked)
        if before != after:
            locked.save()
            audit.record(
                "webhook.update",
                actor=actor,
                obj=locked,
                team=locked.team,
                changes=audit.diff(before, after),
            )
    return locked


def delete_webhook(hook: Webhook, actor: Any) -> None:
    """Remove the webhook and its delivery log (the audit log keeps every attempt)."""
    require(actor, Action.MAINTAIN, hook)
    with transaction.atomic():
        locked = Webhook.objects.select_for_update().select_related("team").get(pk=hook.pk)
        audit.record(
            "webhook.delete",
            actor=actor,
            obj=locked,
            team=locked.team,
            changes=audit.diff(snapshot(locked), {}),
        )
        locked.delete()


def rotate_secret(hook: Webhook, actor: Any) -> str:
    """A new secret; deliveries sent from now on are signed with it."""
    require(actor, Action.MAINTAIN, hook)
    secret = new_secret()
    with transaction.atomic():
        locked = Webhook.objects.select_for_update().select_related("team").get(pk=hook.pk)
        before = locked.secret_rotated_at
        locked.secret, locked.secret_rotated_at = secret, timezone.now()
        locked.save(update_fields=["secret", "secret_rotated_at", "updated_at"])
        audit.record(
            "webhook.rotate_secret",
            actor=actor,
            obj=locked,
            team=locked.team,
            changes={"secret_rotated_at": [before, locked.secret_rotated_at]},
        )
    hook.secret, hook.secret_rotated_at = locked.secret, locked.secret_rotated_at
    return secret


def _require_active(hook: Webhook) -> None:
    if not hook.active:
        raise ValidationError({"active": f"webhook {hook.name} is inactive; activate it first"})


def send_ping(hook: Webhook, actor: Any) -> WebhookDelivery:
    """Queue a "ping" event to this webhook alone, to check the receiver."""
    require(actor, Action.MAINTAIN, hook)
    _require_active(hook)
    data = {"message": "Ping from Modelgate: this webhook works.", "webhook": hook.name}
    delivery = _delivery_row(hook, envelope(Event.PING, hook.team, data, actor=actor))
    delivery.created_by = actor
    with transaction.atomic():
        delivery.save()
        audit.record(
            "webhook.ping", actor=actor, obj=delivery, team=hook.team, changes={"event": "ping"}
        )
        _dispatch_on_commit([delivery.pk])
    return delivery


def redeliver(delivery: WebhookDelivery, actor: Any) -> WebhookDelivery:
    """Send a delivery's event again as a new delivery (same event id and payload)."""
    hook = delivery.webhook
    require(actor, Action.MAINTAIN, hook)
    _require_active(hook)
    again = _delivery_row(hook, delivery.payload)
    again.redelivery_of, again.created_by = delivery, actor
    with transaction.atomic():
        again.save()
        audit.record(
            "webhook.redeliver",
            actor=actor,
            obj=again,
            team=hook.team,
            changes={"event": [None, delivery.event], "redelivery_of": [None, delivery.pk]},
        )
        _dispatch_on_commit([again.pk])
    return again


# --- listing ----------------------------------------------------------------------------


def webhooks_with_last_delivery(team: Team) -> QuerySet[Webhook]:
    """The team's webhooks by name, each with its newest delivery's state, status and time
    (three index probes on registry_delivery_webhook per row, in one query)."""
    newest = WebhookDelivery.objects.filter(webhook=OuterRef("pk")).order_by("-id")
    return (
        Webhook.objects.filter(team=team)
        .annotate(
            last_state=Subquery(newest.values("state")[:1]),
            last_status_code=Subquery(newest.values("last_status_code")[:1]),
            last_at=Subquery(newest.values("created_at")[:1]),
        )
        .order_by("name", "pk")
    )


# --- delivering -------------------------------------------------------------------------


def backoff(attempts: int) -> float:
    """Seconds to wait after the given number of failed attempts, with jitter."""
    delay = BACKOFF_BASE * 3 ** (attempts - 1)
    return delay * random.uniform(1 - JITTER, 1 + JITTER)


def _dispatch_on_commit(ids: Iterable[int], delay: float = 0) -> None:
    from registry import tasks  # the task module imports this one

    ids = list(ids)
    transaction.on_commit(lambda: [tasks.dispatch(pk, delay) for pk in ids])


def attempt_delivery(delivery_id: int) -> str | None:
    """Make one attempt at a due, queued delivery; the resulting state, or None when there
    was nothing to do (delivered already, being sent by another worker, or not yet due).

    Idempotent: the row is claimed under its lock (skipping a row another worker holds),
    the HTTP request is made outside any transaction, and the outcome is written back
    with an audit event.
    """
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("webhook__team")
            .filter(pk=delivery_id, state=DeliveryState.QUEUED, next_attempt_at__lte=now)
            .first()
        )
        if delivery is None:
            return None
        hook = delivery.webhook
        if not hook.active:
            _finish(delivery, DeliveryState.FAILED, error="the webhook was deactivated")
            return DeliveryState.FAILED
        delivery.state, delivery.started_at = DeliveryState.RUNNING, now
        delivery.attempts += 1
        delivery.save(update_fields=["state", "started_at", "attempts", "updated_at"])

    body = body_bytes(delivery.payload)
    headers = request_headers(delivery, hook.secret, str(int(time.time())), body)
    delivery.request_headers = headers
    started = time.monotonic()
    status, excerpt, error, retry = None, "", "", False
    try:
        response = outbound.post(hook.url, body, headers, allowed_hosts=allowed_hosts())
    except outbound.UnsafeDestination as exc:
        error = str(exc)
    except (outbound.UnresolvableHost, urllib3.exceptions.HTTPError, OSError) as exc:
        error, retry = _network_error(exc), True
    except Exception as exc:  # never leave the row "running" until the sweep finds it
        log.exception("webhook delivery %s: unexpected error", delivery.pk)
        error, retry = f"unexpected error: {type(exc).__name__}", True
    else:
        status, excerpt = response.status, response.excerpt
        retry = status == 429 or status >= 500
        if 300 <= status < 400:
            error = f"the receiver answered {status} (a redirect); redirects are not followed"
        elif not 200 <= status < 300:
            error = f"the receiver answered {status}"
    delivery.duration_ms = int((time.monotonic() - started) * 1000)
    if error and retry and delivery.attempts < MAX_ATTEMPTS:
        state = DeliveryState.QUEUED
    else:
        state = DeliveryState.FAILED if error else DeliveryState.DELIVERED
    with transaction.atomic():
        _finish(delivery, state, status=status, excerpt=excerpt, error=error)
    return state


def _network_error(exc: BaseException) -> str:
    # NewConnectionError is a ConnectTimeoutError too (urllib3 keeps it so): test it first.
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return "could not connect: " + str(exc).rpartition("new connection: ")[2]
    if isinstance(exc, urllib3.exceptions.ConnectTimeoutError):
        return f"connection timed out after {outbound.CONNECT_TIMEOUT:g} s"
    if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
        return f"no response within {outbound.READ_TIMEOUT:g} s"
    return f"{type(exc).__name__}: {exc}"


def _finish(
    delivery: WebhookDelivery,
    state: str,
    *,
    status: int | None = None,
    excerpt: str = "",
    error: str = "",
) -> None:
    """Write an attempt's outcome and its audit event; schedule the retry on commit."""
    delivery.state = state
    delivery.last_status_code, delivery.last_error = status, error[:500]
    delivery.response_excerpt = excerpt
    if state == DeliveryState.QUEUED:
        delay = backoff(delivery.attempts)
        delivery.next_attempt_at = timezone.now() + dt.timedelta(seconds=delay)
        _dispatch_on_commit([delivery.pk], delay)
    else:
        delivery.finished_at, delivery.next_attempt_at = timezone.now(), None
    delivery.save()
    outcome = {"delivered": "delivered", "failed": "failed", "queued": "will retry"}[state]
    audit.record(
        "webhook.delivery",
        obj=delivery,
        team=delivery.webhook.team,
        actor_name="",
        changes={
            "event": delivery.event,
            "attempt": delivery.attempts,
            "outcome": outcome,
            "status_code": status,
            "error": error or None,
            "url": delivery.webhook.url,
        },
    )


def sweep(now: dt.datetime | None = None) -> int:
    """Hand again to workers the deliveries whose messages were lost: queued ones overdue
    (the broker was down when they were enqueued) and attempts whose worker died. Returns
    how many were dispatched."""
    from registry import tasks

    now = now or timezone.now()
    stale = WebhookDelivery.objects.filter(
        state=DeliveryState.RUNNING, started_at__lt=now - STALE_RUNNING
    )
    stale.filter(attempts__gte=MAX_ATTEMPTS).update(
        state=DeliveryState.FAILED,
        finished_at=now,
        next_attempt_at=None,
        last_error="the worker stopped during the last attempt",
    )
    requeued = list(stale.values_list("pk", flat=True)[:SWEEP_BATCH])
    WebhookDelivery.objects.filter(pk__in=requeued, state=DeliveryState.RUNNING).update(
        state=DeliveryState.QUEUED,
        next_attempt_at=now,
        last_error="the worker stopped during the attempt; retrying",
    )
    due = requeued + list(
        WebhookDelivery.objects.filter(
            state=DeliveryState.QUEUED, next_attempt_at__lte=now - LATE_QUEUED
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    for pk in due:
        tasks.dispatch(pk)
    return len(due)
