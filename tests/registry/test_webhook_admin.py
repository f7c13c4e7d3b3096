"""The admin for webhooks: no secrets, validated edits, read-only deliveries with a
redeliver action, and the audited allow list of private hosts."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from registry import webhooks
from registry.models import Webhook, WebhookAllowedHost, WebhookDelivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, site_admin):
    client.force_login(site_admin)
    return client


@pytest.fixture
def hook(team, maintainer, allow_localhost) -> Webhook:
    return webhooks.create_webhook(
        team, maintainer, name="ci", url="http://127.0.0.1:9/", events=["stage.changed"]
    )[0]


def test_the_change_page_never_shows_the_secret(admin_client, hook):
    response = admin_client.get(reverse("admin:registry_webhook_change", args=[hook.pk]))
    assert response.status_code == 200
    assert hook.secret not in response.content.decode()


def test_an_edit_is_validated_and_audited(admin_client, hook):
    change = reverse("admin:registry_webhook_change", args=[hook.pk])
    data = {"name": "ci", "url": "http://10.9.9.9/", "events": '["stage.changed"]', "active": "on"}
    response = admin_client.post(change, data)
    assert response.status_code == 200  # the form again, with the error
    assert "a private address" in response.content.decode()
    hook.refresh_from_db()
    assert hook.url == "http://127.0.0.1:9/"
    admin_client.post(change, data | {"url": "http://127.0.0.1:8/"})
    hook.refresh_from_db()
    assert hook.url == "http://127.0.0.1:8/"
    event = AuditEvent.objects.get(action="webhook.update")
    assert event.changes == {"url": ["http://127.0.0.1:9/", "http://127.0.0.1:8/"]}


def test_deliveries_are_read_only_and_can_be_redelivered(admin_client, hook, maintainer):
    delivery = webhooks.send_ping(hook, maintainer)
    changelist = reverse("admin:registry_webhookdelivery_changelist")
    assert admin_client.get(changelist).status_code == 200
    response = admin_client.post(
        reverse("admin:registry_webhookdelivery_change", args=[delivery.pk]), {"event": "x"}
    )
    assert response.status_code == 403
    admin_client.post(
        changelist, {"action": "redeliver_selected", "_selected_action": [delivery.pk]}
    )
    again = WebhookDelivery.objects.latest("pk")
    assert again.redelivery_of == delivery
    assert AuditEvent.objects.filter(action="webhook.redeliver").count() == 1


def test_the_allow_list_is_audited_and_case_blind(admin_client):
    add = reverse("admin:registry_webhookallowedhost_add")
    admin_client.post(add, {"host": "CI.Internal.Example", "note": "CI"})
    host = WebhookAllowedHost.objects.get()
    assert host.host == "ci.internal.example"
    response = admin_client.post(add, {"host": "ci.internal.example", "note": "again"})
    assert response.status_code == 200 and "already exists" in response.content.decode()
    admin_client.post(
        reverse("admin:registry_webhookallowedhost_delete", args=[host.pk]), {"post": "yes"}
    )
    assert not WebhookAllowedHost.objects.exists()
    events = AuditEvent.objects.filter(action__startswith="webhook.").order_by("pk")
    actions = list(events.values_list("action", flat=True))
    assert actions == ["webhook.allowed_host.add", "webhook.allowed_host.delete"]
