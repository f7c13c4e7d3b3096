"""The team's webhook pages: /teams/<slug>/webhooks/… (maintainers only)."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from registry import webhooks
from registry.models import DeliveryState, PromotionPolicy, Webhook, WebhookDelivery

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
ALL_EVENTS = [str(e) for e in webhooks.SUBSCRIBABLE]


@pytest.fixture
def hook(team, maintainer, receiver, allow_localhost) -> Webhook:
    return webhooks.create_webhook(
        team, maintainer, name="ci", url=receiver.url, events=["stage.changed"]
    )[0]


@pytest.fixture
def as_maintainer(client, maintainer):
    client.force_login(maintainer)
    return client


def url(name: str, *args) -> str:
    return reverse(name, args=["fraud", *args])


def form_data(receiver, **changes):
    data = {"name": "deploys", "url": receiver.url, "events": ["stage.changed"], "active": "on"}
    return data | changes


class TestList:
    def test_it_lists_webhooks_with_their_last_delivery(
        self, as_maintainer, hook, maintainer, django_assert_max_num_queries
    ):
        delivery = webhooks.send_ping(hook, maintainer)
        webhooks.attempt_delivery(delivery.pk)
        # Session, user, roles, team, count, the page with each last delivery, the
        # navigation's counts.
        with django_assert_max_num_queries(7):
            response = as_maintainer.get(url("webhook-list"))
        page = response.content.decode()
        assert "ci" in page and hook.url in page
        assert "Delivered" in page and "HTTP 200" in page

    def test_it_costs_the_same_for_many_webhooks(
        self, as_maintainer, team, maintainer, allow_localhost, django_assert_max_num_queries
    ):
        for n in range(30):
            hook = webhooks.create_webhook(
                team, maintainer, name=f"h{n}", url="http://127.0.0.1:9/", events=ALL_EVENTS
            )[0]
            webhooks.send_ping(hook, maintainer)
        with django_assert_max_num_queries(7):
            response = as_maintainer.get(url("webhook-list"))
        assert response.content.decode().count("Queued") == 30

    def test_it_shows_an_empty_state(self, as_maintainer):
        response = as_maintainer.get(url("webhook-list"))
        assert "No webhooks yet" in response.content.decode()

    def test_the_team_page_links_it_for_maintainers_only(self, client, maintainer, viewer):
        client.force_login(maintainer)
        assert url("webhook-list") in client.get(url("team-detail")).content.decode()
        client.force_login(viewer)
        assert url("webhook-list") not in client.get(url("team-detail")).content.decode()


class TestCreate:
    def test_it_shows_the_secret_once(self, as_maintainer, receiver, allow_localhost):
        response = as_maintainer.post(url("webhook-create"), form_data(receiver))
        assert response.status_code == 200
        hook = Webhook.objects.get()
        assert hook.secret in response.content.decode()
        assert response["Cache-Control"].startswith("max-age=0")
        assert hook.events == ["stage.changed"] and hook.active
        page = as_maintainer.get(url("webhook-detail", hook.pk)).content.decode()
        assert hook.secret not in page
        assert AuditEvent.objects.filter(action="webhook.create").count() == 1

    @pytest.mark.parametrize(
        ("changes", "field", "message"),
        [
            ({"url": "ftp://example.com/"}, "url", "must start with http:// or https://"),
            ({"url": "http://10.0.0.1/"}, "url", "a private address"),
            ({"events": []}, "events", "Choose at least one event."),
            ({"events": ["version.exploded"]}, "events", "not one of the available choices"),
            ({"name": ""}, "name", "This field is required."),
        ],
    )
    def test_it_names_the_field_and_rule_and_saves_nothing(
        self, as_maintainer, receiver, allow_localhost, changes, field, message
    ):
        response = as_maintainer.post(url("webhook-create"), form_data(receiver, **changes))
        assert response.status_code == 400
        errors = response.context["form"].errors[field]
        assert any(message in error for error in errors), errors
        assert not Webhook.objects.exists()

    def test_it_reports_every_problem_at_once(self, as_maintainer, receiver, allow_localhost):
        data = form_data(receiver, url="ftp://example.com/", events=[])
        errors = as_maintainer.post(url("webhook-create"), data).context["form"].errors
        assert set(errors) == {"url", "events"}

    def test_it_refuses_a_name_taken_in_the_team(self, as_maintainer, hook, receiver):
        response = as_maintainer.post(url("webhook-create"), form_data(receiver, name="CI"))
        assert response.status_code == 400
        assert "already has a webhook named" in response.context["form"].errors["name"][0]
        assert Webhook.objects.count() == 1


class TestEditDeleteRotate:
    def test_it_edits(self, as_maintainer, hook, receiver):
        data = form_data(receiver, name="ci", events=["alias.moved"])
        data.pop("active")
        response = as_maintainer.post(url("webhook-edit", hook.pk), data)
        assert response.status_code == 302
        hook.refresh_from_db()
        assert hook.events == ["alias.moved"] and not hook.active

    def test_an_edit_to_a_private_url_changes_nothing(self, as_maintainer, hook, receiver):
        data = form_data(receiver, name="ci", url="http://192.168.0.10/")
        response = as_maintainer.post(url("webhook-edit", hook.pk), data)
        assert response.status_code == 400
        assert "private" in response.context["form"].errors["url"][0]
        hook.refresh_from_db()
        assert hook.url == receiver.url

    def test_it_deletes_after_confirmation(self, as_maintainer, hook):
        confirm = as_maintainer.get(url("webhook-delete", hook.pk))
        assert "cannot be undone" in confirm.content.decode()
        assert Webhook.objects.exists()
        response = as_maintainer.post(url("webhook-delete", hook.pk))
        assert response.status_code == 302
        assert not Webhook.objects.exists()

    def test_it_rotates_the_secret_and_shows_the_new_one_once(self, as_maintainer, hook):
        old = hook.secret
        assert "Rotate" in as_maintainer.get(url("webhook-rotate", hook.pk)).content.decode()
        response = as_maintainer.post(url("webhook-rotate", hook.pk))
        hook.refresh_from_db()
        assert hook.secret != old
        assert hook.secret in response.content.decode()


class TestDeliveryLog:
    def test_ping_with_htmx_answers_the_refreshed_log(self, as_maintainer, hook):
        response = as_maintainer.post(url("webhook-ping", hook.pk), **HTMX)
        body = response.content.decode()
        assert response.status_code == 200
        assert body.lstrip().startswith('<section id="deliveries"')
        assert "Ping queued as delivery" in body
        assert WebhookDelivery.objects.get().event == "ping"

    def test_ping_without_javascript_redirects_to_the_log(self, as_maintainer, hook):
        response = as_maintainer.post(url("webhook-ping", hook.pk))
        assert response.status_code == 302
        assert response["Location"] == url("webhook-detail", hook.pk)

    def test_the_log_pages_with_constant_queries(
        self, as_maintainer, hook, maintainer, django_assert_max_num_queries
    ):
        for _ in range(60):
            webhooks.send_ping(hook, maintainer)
        # Session, user, roles, team, webhook, one page of deliveries, the navigation's
        # counts.
        with django_assert_max_num_queries(7):
            first = as_maintainer.get(url("webhook-detail", hook.pk))
        page = first.context["page"]
        assert len(page.items) == 50 and page.next_cursor
        with django_assert_max_num_queries(7):
            older = as_maintainer.get(
                url("webhook-detail", hook.pk), {"cursor": page.next_cursor}, **HTMX
            )
        assert len(older.context["page"].items) == 10
        assert older.content.decode().lstrip().startswith('<section id="deliveries"')

    def test_the_log_refreshes_itself_while_a_delivery_is_on_its_way(
        self, as_maintainer, hook, maintainer, receiver
    ):
        delivery = webhooks.send_ping(hook, maintainer)
        page = as_maintainer.get(url("webhook-detail", hook.pk)).content.decode()
        assert 'hx-trigger="every 3s"' in page
        webhooks.attempt_delivery(delivery.pk)
        page = as_maintainer.get(url("webhook-detail", hook.pk)).content.decode()
        assert "hx-trigger" not in page

    def test_the_delivery_page_shows_request_and_response(
        self, as_maintainer, hook, maintainer, receiver
    ):
        receiver.answer = b"received, thank you"
        delivery = webhooks.send_ping(hook, maintainer)
        webhooks.attempt_delivery(delivery.pk)
        page = as_maintainer.get(url("webhook-delivery", hook.pk, delivery.pk)).content.decode()
        assert "X-Modelgate-Signature: sha256=" in page
        assert "received, thank you" in page
        assert str(delivery.event_id) in page
        assert "Redeliver" in page

    def test_redeliver_without_javascript_goes_to_the_new_delivery(
        self, as_maintainer, hook, maintainer
    ):
        delivery = webhooks.send_ping(hook, maintainer)
        response = as_maintainer.post(url("webhook-redeliver", hook.pk, delivery.pk))
        again = WebhookDelivery.objects.latest("pk")
        assert again.redelivery_of == delivery
        assert response["Location"] == url("webhook-delivery", hook.pk, again.pk)

    def test_redeliver_with_htmx_answers_the_log(self, as_maintainer, hook, maintainer):
        delivery = webhooks.send_ping(hook, maintainer)
        response = as_maintainer.post(url("webhook-redeliver", hook.pk, delivery.pk), **HTMX)
        assert f"Delivery #{delivery.pk} queued again as" in response.content.decode()

    def test_redelivering_through_an_inactive_webhook_is_refused(
        self, as_maintainer, hook, maintainer
    ):
        delivery = webhooks.send_ping(hook, maintainer)
        webhooks.update_webhook(hook, maintainer, active=False)
        response = as_maintainer.post(url("webhook-redeliver", hook.pk, delivery.pk))
        assert response.status_code == 400
        assert "is inactive; activate it first" in response.content.decode()
        assert WebhookDelivery.objects.count() == 1


class TestOtherTeamsIds:
    @pytest.fixture
    def their_hook(self, other_team, outsider, allow_localhost):
        hook = webhooks.create_webhook(
            other_team, outsider, name="theirs", url="http://127.0.0.1:9/", events=ALL_EVENTS
        )[0]
        webhooks.send_ping(hook, outsider)
        return hook

    def test_another_teams_webhook_is_not_found_under_ones_team(self, as_maintainer, their_hook):
        for name in ("webhook-detail", "webhook-edit", "webhook-delete", "webhook-rotate"):
            assert as_maintainer.get(url(name, their_hook.pk)).status_code == 404
        assert as_maintainer.post(url("webhook-delete", their_hook.pk)).status_code == 404
        assert Webhook.objects.filter(pk=their_hook.pk).exists()

    def test_another_webhooks_delivery_is_not_found(self, as_maintainer, hook, their_hook):
        theirs = their_hook.deliveries.get()
        assert as_maintainer.get(url("webhook-delivery", hook.pk, theirs.pk)).status_code == 404
        response = as_maintainer.post(url("webhook-redeliver", hook.pk, theirs.pk))
        assert response.status_code == 404
        assert WebhookDelivery.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_slow_receiver_never_delays_the_request(
    client,
    settings,
    make_model,
    make_version,
    maintainer,
    receiver,
    allow_localhost,
    wait_for_state,
):
    """The stage change returns at once; the delivery happens afterwards, in the background
    (the embedded mode's thread; with a broker, a Celery worker)."""
    settings.CELERY_TASK_ALWAYS_EAGER = True  # the embedded mode, whatever the environment
    receiver.delay = 3
    hook = webhooks.create_webhook(
        maintainer.memberships.get().team,
        maintainer,
        name="slow",
        url=receiver.url,
        events=["stage.changed"],
    )[0]
    model = make_model("churn")
    version = make_version(model, "1.0.0")
    PromotionPolicy.objects.create(team=model.team, target_stage="staging", required_approvals=0)
    client.force_login(maintainer)
    started = time.monotonic()
    response = client.post(
        reverse("version-stage", args=["fraud", "churn", "1.0.0"]), {"to_stage": "staging"}
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 302
    assert elapsed < 1.5, f"the request took {elapsed:.2f} s"
    delivery = WebhookDelivery.objects.get(webhook=hook)
    wait_for_state(delivery, DeliveryState.DELIVERED)
    assert delivery.state == DeliveryState.DELIVERED
    assert delivery.payload["version"]["id"] == version.pk
    assert delivery.duration_ms >= 3000
