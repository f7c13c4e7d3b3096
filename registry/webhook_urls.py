"""A team's webhook pages, under /teams/<slug>/webhooks/ (maintainers only)."""

from __future__ import annotations

from django.urls import path

from registry.views import webhooks

HOOK = "<slug:slug>/webhooks/<int:webhook_id>/"
DELIVERY = HOOK + "deliveries/<int:delivery_id>/"

urlpatterns = [
    path("<slug:slug>/webhooks/", webhooks.webhook_list, name="webhook-list"),
    path("<slug:slug>/webhooks/new/", webhooks.webhook_create, name="webhook-create"),
    path(HOOK, webhooks.webhook_detail, name="webhook-detail"),
    path(HOOK + "edit/", webhooks.webhook_edit, name="webhook-edit"),
    path(HOOK + "delete/", webhooks.webhook_delete, name="webhook-delete"),
    path(HOOK + "rotate-secret/", webhooks.webhook_rotate, name="webhook-rotate"),
    path(HOOK + "ping/", webhooks.webhook_ping, name="webhook-ping"),
    path(DELIVERY, webhooks.webhook_delivery, name="webhook-delivery"),
    path(DELIVERY + "redeliver/", webhooks.webhook_redeliver, name="webhook-redeliver"),
]
