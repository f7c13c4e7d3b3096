"""Webhooks, the domain: emit, signing, delivery with retries, SSRF refusals, the sweep."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import socket

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from accounts.models import AuditEvent
from registry import aliases, outbound, services, tasks, webhooks
from registry.models import DeliveryState, Webhook, WebhookAllowedHost, WebhookDelivery
from registry.webhooks import Event

pytestmark = pytest.mark.django_db


@pytest.fixture
def hook(team, maintainer, receiver, allow_localhost) -> Webhook:
    created, _secret = webhooks.create_webhook(
        team, maintainer, name="ci", url=receiver.url, events=list(webhooks.SUBSCRIBABLE)
    )
    return created


def make_hook(team, maintainer, name="ci", url="http://127.0.0.1:9/x", **kwargs):
    kwargs.setdefault("events", [Event.STAGE_CHANGED])
    return webhooks.create_webhook(team, maintainer, name=name, url=url, **kwargs)[0]


def due_now(delivery: WebhookDelivery) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


def only_delivery() -> WebhookDelivery:
    return WebhookDelivery.objects.get()


class TestEmit:
    def test_it_queues_one_delivery_per_active_subscribed_webhook(
        self, team, other_team, maintainer, outsider, allow_localhost
    ):
        subscribed = make_hook(team, maintainer, "a")
        make_hook(team, maintainer, "b", events=[Event.VERSION_REGISTERED])
        make_hook(team, maintainer, "c", active=False)
        make_hook(other_team, outsider, "d")
        with transaction.atomic():
            webhooks.emit(team, Event.STAGE_CHANGED, {"x": 1}, actor=maintainer)
        delivery = only_delivery()
        assert delivery.webhook == subscribed
        assert delivery.state == DeliveryState.QUEUED
        assert delivery.payload["data"] == {"x": 1}
        assert delivery.payload["actor"] == "maintainer"
        assert str(delivery.event_id) == delivery.payload["id"]

    def test_it_sends_nothing_when_the_change_rolls_back(
        self, team, maintainer, allow_localhost, django_capture_on_commit_callbacks
    ):
        make_hook(team, maintainer)
        with (
            django_capture_on_commit_callbacks() as callbacks,
            pytest.raises(RuntimeError),
            transaction.atomic(),
        ):
            webhooks.emit(team, Event.STAGE_CHANGED, {}, actor=maintainer)
            raise RuntimeError("the change failed")
        assert not WebhookDelivery.objects.exists()
        assert callbacks == []

    def test_it_hands_deliveries_over_only_on_commit(
        self, team, maintainer, allow_localhost, django_capture_on_commit_callbacks, monkeypatch
    ):
        make_hook(team, maintainer)
        handed = []
        monkeypatch.setattr(tasks, "dispatch", lambda pk, delay=0: handed.append(pk))
        with django_capture_on_commit_callbacks(execute=True):
            webhooks.emit(team, Event.STAGE_CHANGED, {}, actor=maintainer)
            assert handed == []
        assert handed == [only_delivery().pk]

    def test_it_refuses_an_unknown_event(self, team):
        with pytest.raises(ValueError):
            webhooks.emit(team, "version.exploded", {})

    def test_the_registry_emits_its_events(
        self, team, maintainer, make_model, make_version, allow_localhost
    ):
        make_hook(team, maintainer, events=list(webhooks.SUBSCRIBABLE))
        model = make_model("churn")
        version = make_version(model, "1.0.0")
        services.apply_transition(
            version=version, to_stage="staging", actor=maintainer, comment="ok"
        )
        aliases.set_alias(model, "champion", version, maintainer)
        aliases.delete_alias(model, "champion", maintainer)
        rows = list(WebhookDelivery.objects.order_by("pk"))
        assert [r.event for r in rows] == [
            "version.registered",
            "stage.changed",
            "alias.moved",
            "alias.moved",
        ]
        registered, staged, alias_set, alias_deleted = (r.payload for r in rows)
        assert registered["model"] == {"id": model.pk, "name": "churn"}
        assert registered["version"]["version"] == "1.0.0"
        assert registered["team"] == "fraud"
        assert staged["data"]["from_stage"] == "development"
        assert staged["data"]["to_stage"] == "staging"
        assert staged["version"]["stage"] == "staging"
        assert alias_set["data"] == {
            "alias": "champion",
            "from_version": None,
            "to_version": "1.0.0",
            "protected": False,
        }
        assert alias_deleted["data"]["to_version"] is None

    def test_a_team_without_webhooks_costs_one_query(self, team, django_assert_num_queries):
        with django_assert_num_queries(1):
            webhooks.emit(team, Event.STAGE_CHANGED, {})


class TestDelivery:
    def test_the_receiver_verifies_the_signature(self, team, maintainer, receiver, allow_localhost):
        hook, secret = webhooks.create_webhook(
            team, maintainer, name="ci", url=receiver.url, events=[Event.STAGE_CHANGED]
        )
        with transaction.atomic():
            webhooks.emit(team, Event.STAGE_CHANGED, {"to_stage": "staging"}, actor=maintainer)
        delivery = only_delivery()
        assert webhooks.attempt_delivery(delivery.pk) == DeliveryState.DELIVERED
        (request,) = receiver.received
        assert receiver.verify(secret, request)
        assert not receiver.verify("whsec_wrong", request)
        assert request.path == "/hooks/modelgate?src=test"
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["User-Agent"] == "Modelgate-Webhook/1"
        assert request.headers["X-Modelgate-Event"] == "stage.changed"
        assert request.headers["X-Modelgate-Delivery"] == str(delivery.pk)
        body = json.loads(request.body)
        assert body["id"] == str(delivery.event_id)
        assert body["data"] == {"to_stage": "staging"}
        delivery.refresh_from_db()
        assert delivery.last_status_code == 200
        assert delivery.response_excerpt == "thanks"
        assert delivery.finished_at is not None
        assert delivery.request_headers["X-Modelgate-Event"] == "stage.changed"

    def test_a_rotated_secret_signs_from_then_on(self, hook, maintainer, receiver):
        old = hook.secret
        new = webhooks.rotate_secret(hook, maintainer)
        webhooks.send_ping(hook, maintainer)
        webhooks.attempt_delivery(only_delivery().pk)
        assert receiver.verify(new, receiver.received[0])
        assert not receiver.verify(old, receiver.received[0])

    def test_it_retries_a_server_error_with_backoff_then_gives_up(self, hook, maintainer, receiver):
        receiver.status = 500
        delivery = webhooks.send_ping(hook, maintainer)
        delays = []
        for attempt in range(1, webhooks.MAX_ATTEMPTS + 1):
            before = timezone.now()
            state = webhooks.attempt_delivery(delivery.pk)
            delivery.refresh_from_db()
            assert delivery.attempts == attempt
            assert delivery.last_status_code == 500
            if attempt < webhooks.MAX_ATTEMPTS:
                assert state == DeliveryState.QUEUED
                delays.append((delivery.next_attempt_at - before).total_seconds())
                # Not due yet: another worker (or a duplicate message) does nothing.
                assert webhooks.attempt_delivery(delivery.pk) is None
                due_now(delivery)
        assert state == DeliveryState.FAILED
        assert delivery.next_attempt_at is None
        assert len(receiver.received) == webhooks.MAX_ATTEMPTS
        # Exponential, with at most ±20 % jitter: 30 s, 90 s, 270 s, 810 s, 2430 s.
        for n, delay in enumerate(delays, start=1):
            base = webhooks.BACKOFF_BASE * 3 ** (n - 1)
            assert base * 0.79 <= delay <= base * 1.21
        assert 0.8 * 3600 < sum(webhooks.BACKOFF_BASE * 3**n for n in range(5)) < 1.2 * 3600
        outcomes = AuditEvent.objects.filter(action="webhook.delivery").order_by("pk")
        assert [e.changes["outcome"] for e in outcomes] == ["will retry"] * 5 + ["failed"]
        assert outcomes.last().changes["status_code"] == 500

    def test_it_retries_429(self, hook, maintainer, receiver):
        receiver.status = 429
        delivery = webhooks.send_ping(hook, maintainer)
        assert webhooks.attempt_delivery(delivery.pk) == DeliveryState.QUEUED

    def test_a_client_error_is_final(self, hook, maintainer, receiver):
        receiver.status = 404
        delivery = webhooks.send_ping(hook, maintainer)
        assert webhooks.attempt_delivery(delivery.pk) == DeliveryState.FAILED
        delivery.refresh_from_db()
        assert delivery.last_error == "the receiver answered 404"

    def test_it_retries_when_the_connection_is_refused(self, team, maintainer, allow_localhost):
        with socket.socket() as sock:  # a port nobody listens on
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        hook = make_hook(team, maintainer, url=f"http://127.0.0.1:{port}/")
        delivery = webhooks.send_ping(hook, maintainer)
        assert webhooks.attempt_delivery(delivery.pk) == DeliveryState.QUEUED
        delivery.refresh_from_db()
        assert "could not connect" in delivery.last_error
        assert delivery.last_status_code is None
        for _ in range(webhooks.MAX_ATTEMPTS - 1):
            due_now(delivery)
            state = webhooks.attempt_delivery(delivery.pk)
        assert state == DeliveryState.FAILED

    def test_it_does_not_follow_redirects(self, hook, maintainer, receiver):
        receiver.status = 302
        receiver.headers = {"Location": "http://169.254.169.254/latest/meta-data/"}
        delivery = webhooks.send_ping(hook, maintainer)
        assert webhooks.attempt_delivery(delivery.pk) == DeliveryState.FAILED
        delivery.refresh_from_db()
        assert "redirects are not followed" in delivery.last_error
        assert "Location: http://169.254.169.254" in delivery.response_excerpt
        assert len(receiver.received) == 1

    def test_it_keeps_only_an_excerpt_of_the_response(self, hook, maintainer, receiver):
        receiver.answer = b"x" * 100_000
        delivery = webhooks.send_ping(hook, maintainer)
        webhooks.attempt_delivery(delivery.pk)
        delivery.refresh_from_db()
        assert len(delivery.response_excerpt) == outbound.MAX_RESPONSE_BYTES

    def test_a_delivered_delivery_is_not_sent_again(self, hook, maintainer, receiver):
        delivery = webhooks.send_ping(hook, maintainer)
        webhooks.attempt_delivery(delivery.pk)
        assert webhooks.attempt_delivery(delivery.pk) is None
        assert len(receiver.received) == 1

    def test_a_deactivated_webhook_gets_nothing(self, hook, maintainer, receiver):
        delivery = webhooks.send_ping(hook, maintainer)
        webhooks.update_webhook(hook, maintainer, active=False)
        assert webhooks.attempt_delivery(delivery.pk) == DeliveryState.FAILED
        assert receiver.received == []

    def test_redelivery_keeps_the_event_id(self, hook, maintainer, receiver):
        first = webhooks.send_ping(hook, maintainer)
        webhooks.attempt_delivery(first.pk)
        again = webhooks.redeliver(first, maintainer)
        assert again.pk != first.pk
        assert again.redelivery_of == first
        webhooks.attempt_delivery(again.pk)
        ids = [json.loads(r.body)["id"] for r in receiver.received]
        assert ids == [str(first.event_id)] * 2
        assert AuditEvent.objects.filter(action="webhook.redeliver").count() == 1


class TestDestinations:
    """SSRF: the address is checked when the URL is saved and again at every delivery."""

    @pytest.mark.parametrize(
        ("address", "reason"),
        [
            ("127.0.0.1", "loopback"),
            ("::1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("fe80::1", "link-local"),
            ("fd00::1", "private"),
            ("0.0.0.0", "unspecified"),
            ("::", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("240.0.0.1", "reserved"),
            ("100.64.0.1", "not public"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.0.0.1", "private"),
            ("2002:7f00:1::", "loopback"),  # 6to4 around 127.0.0.1
            ("64:ff9b::a00:1", "private"),  # NAT64 around 10.0.0.1
        ],
    )
    def test_it_names_why_an_address_is_refused(self, address, reason):
        assert outbound.non_public_reason(ipaddress.ip_address(address)) == reason

    @pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1::1", "8.8.8.8"])
    def test_it_accepts_public_addresses(self, address):
        assert outbound.non_public_reason(ipaddress.ip_address(address)) is None

    def test_a_host_that_turned_private_after_saving_is_refused_at_delivery(
        self, team, maintainer, dns, receiver
    ):
        dns["hooks.example.invalid"] = ["93.184.216.34"]
        url = f"http://hooks.example.invalid:{receiver.port}/"
        hook = make_hook(team, maintainer, url=url)
        dns["hooks.example.invalid"] = ["93.184.216.34", "127.0.0.1"]  # rebinding
        delivery = webhooks.send_ping(hook, maintainer)
        assert webhooks.attempt_delivery(delivery.pk) == DeliveryState.FAILED
        delivery.refresh_from_db()
        assert "127.0.0.1, a loopback address" in delivery.last_error
        assert receiver.received == []
        event = AuditEvent.objects.filter(action="webhook.delivery").get()
        assert event.changes["outcome"] == "failed"

    def test_a_site_admin_may_allow_a_private_host(self, team, maintainer, dns, receiver):
        dns["ci.internal.invalid"] = ["127.0.0.1"]
        url = f"http://ci.internal.invalid:{receiver.port}/hook"
        with pytest.raises(ValidationError) as refused:
            make_hook(team, maintainer, url=url)
        assert "loopback" in refused.value.message_dict["url"][0]
        WebhookAllowedHost.objects.create(host="CI.internal.invalid")
        hook = make_hook(team, maintainer, url=url)
        delivery = webhooks.send_ping(hook, maintainer)
        assert webhooks.attempt_delivery(delivery.pk) == DeliveryState.DELIVERED
        # Connected to the address that was checked, naming the host it asked for.
        assert receiver.received[0].headers["Host"] == f"ci.internal.invalid:{receiver.port}"

    def test_an_unresolvable_host_is_retried(self, team, maintainer, dns, receiver):
        dns["flaky.example.invalid"] = ["93.184.216.34"]
        hook = make_hook(team, maintainer, url="http://flaky.example.invalid/")
        dns["flaky.example.invalid"] = []
        delivery = webhooks.send_ping(hook, maintainer)
        assert webhooks.attempt_delivery(delivery.pk) == DeliveryState.QUEUED

    @pytest.mark.parametrize(
        ("url", "message"),
        [
            ("ftp://example.com/x", "must start with http:// or https://"),
            ("file:///etc/passwd", "must start with http:// or https://"),
            ("javascript:alert(1)", "must start with http:// or https://"),
            ("example.com/hook", "must start with http:// or https://"),
            ("http://", "needs a host name"),
            ("http://user:pw@example.com/", "cannot contain a user name or password"),
            ("http://example.com:99999/", "not a valid URL"),
            ("http://exa mple.com/", "cannot contain spaces"),
            ("https://example.com/#frag", "cannot have a #fragment"),
            ("https://example.com/" + "a" * 2000, "at most 2000 characters"),
            ("", "Enter the receiver's URL"),
            ("http://127.0.0.1/", "loopback"),
            ("http://[::1]/", "loopback"),
            ("http://169.254.169.254/latest", "link-local"),
            ("http://10.0.0.8/", "private"),
            ("http://nowhere.invalid/", "cannot be resolved"),
        ],
    )
    def test_it_refuses_bad_urls_naming_the_rule(self, team, maintainer, url, message):
        with pytest.raises(ValidationError) as refused:
            make_hook(team, maintainer, url=url)
        assert message in " ".join(refused.value.message_dict["url"])
        assert not Webhook.objects.exists()
        assert not AuditEvent.objects.filter(action__startswith="webhook.").exists()


class TestManaging:
    def test_only_maintainers_manage_webhooks(self, team, reviewer, maintainer, allow_localhost):
        with pytest.raises(PermissionDenied):
            make_hook(team, reviewer)
        hook = make_hook(team, maintainer)
        for change in (
            lambda: webhooks.update_webhook(hook, reviewer, active=False),
            lambda: webhooks.rotate_secret(hook, reviewer),
            lambda: webhooks.delete_webhook(hook, reviewer),
            lambda: webhooks.send_ping(hook, reviewer),
        ):
            with pytest.raises(PermissionDenied):
                change()
        assert Webhook.objects.get().active

    def test_every_change_is_audited_never_with_the_secret(self, team, maintainer, allow_localhost):
        hook, secret = webhooks.create_webhook(
            team, maintainer, name="ci", url="http://127.0.0.1:9/", events=["stage.changed"]
        )
        assert secret.startswith("whsec_") and len(secret) > 40
        webhooks.update_webhook(hook, maintainer, events=["alias.moved", "stage.changed"])
        new_secret = webhooks.rotate_secret(hook, maintainer)
        assert new_secret != secret
        webhooks.delete_webhook(hook, maintainer)
        events = AuditEvent.objects.filter(action__startswith="webhook.").order_by("pk")
        assert [e.action for e in events] == [
            "webhook.create",
            "webhook.update",
            "webhook.rotate_secret",
            "webhook.delete",
        ]
        assert events[1].changes == {
            "events": [["stage.changed"], ["stage.changed", "alias.moved"]]
        }
        logged = json.dumps([e.changes for e in events])
        assert secret not in logged and new_secret not in logged

    def test_names_are_unique_per_team_ignoring_case(self, team, maintainer, allow_localhost):
        make_hook(team, maintainer, "CI")
        with pytest.raises(ValidationError) as refused:
            make_hook(team, maintainer, "ci")
        assert "already has a webhook named" in refused.value.message_dict["name"][0]

    def test_it_reports_every_bad_field_at_once(self, team, maintainer):
        with pytest.raises(ValidationError) as refused:
            webhooks.create_webhook(team, maintainer, name=" ", url="ftp://x", events=["nope"])
        assert set(refused.value.message_dict) == {"name", "url", "events"}

    def test_it_refuses_to_ping_or_redeliver_through_an_inactive_webhook(
        self, team, maintainer, allow_localhost
    ):
        hook = make_hook(team, maintainer, active=False)
        with pytest.raises(ValidationError, match="inactive"):
            webhooks.send_ping(hook, maintainer)


class TestSweep:
    def test_it_requeues_what_a_dead_worker_left_and_what_the_broker_lost(
        self, hook, maintainer, monkeypatch
    ):
        handed = []
        monkeypatch.setattr(tasks, "dispatch", lambda pk, delay=0: handed.append(pk))
        long_ago = timezone.now() - dt.timedelta(hours=1)
        lost = webhooks.send_ping(hook, maintainer)
        WebhookDelivery.objects.filter(pk=lost.pk).update(next_attempt_at=long_ago)
        stuck = webhooks.send_ping(hook, maintainer)
        WebhookDelivery.objects.filter(pk=stuck.pk).update(
            state=DeliveryState.RUNNING, started_at=long_ago, attempts=2
        )
        worn_out = webhooks.send_ping(hook, maintainer)
        WebhookDelivery.objects.filter(pk=worn_out.pk).update(
            state=DeliveryState.RUNNING, started_at=long_ago, attempts=webhooks.MAX_ATTEMPTS
        )
        fresh = webhooks.send_ping(hook, maintainer)  # its message is on its way
        assert webhooks.sweep() == 2
        assert sorted(handed) == sorted([lost.pk, stuck.pk])
        stuck.refresh_from_db()
        worn_out.refresh_from_db()
        fresh.refresh_from_db()
        assert stuck.state == DeliveryState.QUEUED
        assert worn_out.state == DeliveryState.FAILED
        assert fresh.state == DeliveryState.QUEUED


class TestDispatch:
    def test_a_broker_outage_never_fails_the_caller(
        self, hook, maintainer, settings, caplog, monkeypatch
    ):
        settings.CELERY_TASK_ALWAYS_EAGER = False

        def broker_down(*args, **kwargs):
            raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

        monkeypatch.setattr(tasks.deliver_webhook, "apply_async", broker_down)
        delivery = webhooks.send_ping(hook, maintainer)
        tasks.enqueue(delivery.pk)  # what dispatch() runs on its thread: logs, never raises
        assert "the sweep will retry it" in caplog.text
        delivery.refresh_from_db()
        assert delivery.state == DeliveryState.QUEUED


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (REDIS_URL)")
@pytest.mark.django_db(transaction=True)
def test_a_celery_worker_delivers_through_the_broker(
    make_model, make_version, maintainer, receiver, allow_localhost, settings, wait_for_state
):
    """End to end with a broker: the version's commit enqueues the task in Redis, a real
    Celery worker claims the row and delivers it; the receiver verifies the signature."""
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    assert not settings.CELERY_TASK_ALWAYS_EAGER
    team = maintainer.memberships.get().team
    hook, secret = webhooks.create_webhook(
        team, maintainer, name="ci", url=receiver.url, events=[Event.VERSION_REGISTERED]
    )
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        make_version(make_model("churn"), "1.0.0")
        delivery = WebhookDelivery.objects.get(webhook=hook)
        wait_for_state(delivery, DeliveryState.DELIVERED)
    assert delivery.state == DeliveryState.DELIVERED
    assert receiver.verify(secret, receiver.received[0])
    assert json.loads(receiver.received[0].body)["event"] == "version.registered"
