"""Webhook tables: a team's subscriptions, their deliveries, and the private-host allow list.

Rows change only through registry.webhooks (subscriptions, redeliveries) and
registry.tasks (delivery attempts); registry.models imports these classes.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from accounts.models import Team


class Webhook(models.Model):
    """A team's subscription: events are POSTed as signed JSON to `url`.

    The secret is kept as it is (not hashed) because the server signs every delivery with
    it; it is shown to maintainers once, when created or rotated, and never again.
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="webhooks")
    name = models.CharField(max_length=100)
    url = models.CharField("URL", max_length=2000)
    secret = models.CharField(max_length=100, editable=False)
    events = models.JSONField(default=list)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    secret_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["team_id", "name"]
        constraints = [
            models.UniqueConstraint("team", Lower("name"), name="registry_webhook_unique_name_ci"),
        ]

    def __str__(self) -> str:
        return f"{self.team.slug}/{self.name}"


class DeliveryState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Sending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One event for one webhook: a row with a state that the delivery task works through.

    `event_id` is the payload's "id": the same on every retry and on redeliveries (new rows
    pointing at `redelivery_of`), so a receiver can ignore what it has already handled.
    """

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=64)
    event_id = models.UUIDField(default=uuid.uuid4, editable=False)
    payload = models.JSONField()
    state = models.CharField(
        max_length=10, choices=DeliveryState.choices, default=DeliveryState.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)  # of the attempt in progress
    finished_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    request_headers = models.JSONField(default=dict, blank=True)  # of the last attempt
    response_excerpt = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    redelivery_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="redeliveries"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            # A webhook's delivery log (newest first) and its last delivery on the list.
            models.Index(fields=["webhook", "-id"], name="registry_delivery_webhook"),
            # The sweep: queued rows by due time, running rows by start.
            models.Index(fields=["state", "next_attempt_at"], name="registry_delivery_due"),
        ]

    def __str__(self) -> str:
        return f"{self.event} #{self.pk} to {self.webhook.name}"

    @property
    def finished(self) -> bool:
        return self.state in (DeliveryState.DELIVERED, DeliveryState.FAILED)


class WebhookAllowedHost(models.Model):
    """A host a site admin lets webhooks reach although it resolves to a loopback, private
    or link-local address (an internal CI server, say). Matched exactly, ignoring case."""

    host = models.CharField(
        max_length=253,
        unique=True,
        help_text="A host name or IP address exactly as it appears in webhook URLs.",
    )
    note = models.CharField(max_length=300, blank=True, help_text="Why it is allowed.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["host"]
        verbose_name = "webhook private host allowed"
        verbose_name_plural = "webhook private hosts allowed"

    def __str__(self) -> str:
        return self.host

    def save(self, *args: object, **kwargs: object) -> None:
        self.host = normalise_host(self.host)
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def clean(self) -> None:
        # Before the uniqueness check, so "CI.example" and "ci.example" are one host.
        self.host = normalise_host(self.host)


def normalise_host(host: str) -> str:
    """How URLs' hosts are compared: lowercase, IPv6 without brackets."""
    return host.strip().lower().strip("[]")
