"""A team's webhooks: list, create, edit, delete, rotate the secret, ping, and each
webhook's delivery log with redelivery.

Only the team's maintainers (and site admins) see these pages: other members get 403,
everyone else 404 (accounts.teams.team_for_user). Another team's webhook or delivery id
under this team's URL answers 404.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from accounts import teams
from accounts.models import Team
from accounts.policy import Action
from registry import webhooks
from registry.models import DeliveryState, Webhook, WebhookDelivery
from registry.pagination import int_key, keyset_page
from registry.views.common import HtmxHttpRequest, wants_partial
from registry.webhook_forms import WebhookForm

WEBHOOKS_PER_PAGE = 50
DELIVERIES_PER_PAGE = 50
DETAIL = "registry/webhooks/detail.html"
POLL_WINDOW = dt.timedelta(minutes=1)


def _team(request: HtmxHttpRequest, slug: str) -> Team:
    return teams.team_for_user(request.user, slug, Action.MAINTAIN)


def _webhook(request: HtmxHttpRequest, slug: str, webhook_id: int) -> Webhook:
    """The team's webhook, for its maintainers; another team's id answers 404."""
    team = _team(request, slug)
    hook = get_object_or_404(Webhook.objects.filter(team=team), pk=webhook_id)
    hook.team = team
    return hook


def _delivery(
    request: HtmxHttpRequest, slug: str, webhook_id: int, delivery_id: int
) -> WebhookDelivery:
    """One of the webhook's deliveries; another webhook's id answers 404."""
    hook = _webhook(request, slug, webhook_id)
    deliveries = WebhookDelivery.objects.filter(webhook=hook).select_related("created_by")
    delivery = get_object_or_404(deliveries, pk=delivery_id)
    delivery.webhook = hook
    return delivery


@require_GET
def webhook_list(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    # Queries: the user's roles, the team, the count, one page with each last delivery.
    team = _team(request, slug)
    queryset = webhooks.webhooks_with_last_delivery(team)
    page = Paginator(queryset, WEBHOOKS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "registry/webhooks/list.html", {"team": team, "page": page})


@require_http_methods(["GET", "POST"])
@never_cache
def webhook_create(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    team = _team(request, slug)
    form = WebhookForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            hook, secret = webhooks.create_webhook(team, request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            # Shown on this response only, like a new API token: never in the session.
            return _secret_page(request, hook, secret, created=True)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "registry/webhooks/form.html", {"team": team, "form": form}, status=status
    )


@require_http_methods(["GET", "POST"])
def webhook_edit(request: HtmxHttpRequest, slug: str, webhook_id: int) -> HttpResponse:
    hook = _webhook(request, slug, webhook_id)
    initial = webhooks.snapshot(hook)
    form = WebhookForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            webhooks.update_webhook(hook, request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Saved webhook {form.cleaned_data['name']}.")
            return redirect(_detail_url(hook))
    status = 400 if request.method == "POST" else 200
    context = {"team": hook.team, "form": form, "webhook": hook}
    return render(request, "registry/webhooks/form.html", context, status=status)


@require_http_methods(["GET", "POST"])
def webhook_delete(request: HtmxHttpRequest, slug: str, webhook_id: int) -> HttpResponse:
    hook = _webhook(request, slug, webhook_id)
    if request.method == "POST":
        webhooks.delete_webhook(hook, request.user)
        messages.success(request, f"Deleted webhook {hook.name}.")
        return redirect("webhook-list", hook.team.slug)
    return render(request, "registry/webhooks/confirm.html", {"webhook": hook, "action": "delete"})


@require_http_methods(["GET", "POST"])
@never_cache
def webhook_rotate(request: HtmxHttpRequest, slug: str, webhook_id: int) -> HttpResponse:
    hook = _webhook(request, slug, webhook_id)
    if request.method == "POST":
        return _secret_page(request, hook, webhooks.rotate_secret(hook, request.user))
    return render(request, "registry/webhooks/confirm.html", {"webhook": hook, "action": "rotate"})


def _secret_page(
    request: HtmxHttpRequest, hook: Webhook, secret: str, *, created: bool = False
) -> HttpResponse:
    context = {"webhook": hook, "secret": secret, "created": created}
    return render(request, "registry/webhooks/secret.html", context)


@require_GET
@vary_on_headers("HX-Request")
def webhook_detail(request: HtmxHttpRequest, slug: str, webhook_id: int) -> HttpResponse:
    hook = _webhook(request, slug, webhook_id)
    context = _log_context(request, hook)
    if wants_partial(request):
        return render(request, f"{DETAIL}#deliveries", context)
    return render(request, DETAIL, context)


def _log_context(request: HtmxHttpRequest, hook: Webhook, **extra: Any) -> dict[str, Any]:
    # Queries: one page of deliveries, newest first (registry_delivery_webhook).
    page = keyset_page(
        WebhookDelivery.objects.filter(webhook=hook),
        key="pk",
        after=request.GET.get("cursor"),
        before=request.GET.get("before"),
        size=DELIVERIES_PER_PAGE,
        key_type=int_key,
    )
    soon = timezone.now() + POLL_WINDOW
    for delivery in page.items:
        delivery.webhook = hook
    on_its_way = any(
        d.state == DeliveryState.RUNNING
        or (d.state == DeliveryState.QUEUED and d.next_attempt_at and d.next_attempt_at < soon)
        for d in page.items
    )
    return {
        "team": hook.team,
        "webhook": hook,
        "page": page,
        # The newest page refreshes itself while a delivery is about to be attempted.
        "poll": on_its_way and not page.previous_cursor,
        **extra,
    }


@require_POST
def webhook_ping(request: HtmxHttpRequest, slug: str, webhook_id: int) -> HttpResponse:
    hook = _webhook(request, slug, webhook_id)
    try:
        delivery = webhooks.send_ping(hook, request.user)
    except ValidationError as exc:
        return _after_action(request, hook, error=" ".join(exc.messages))
    return _after_action(request, hook, notice=f"Ping queued as delivery #{delivery.pk}.")


@require_GET
def webhook_delivery(
    request: HtmxHttpRequest, slug: str, webhook_id: int, delivery_id: int
) -> HttpResponse:
    delivery = _delivery(request, slug, webhook_id, delivery_id)
    hook = delivery.webhook
    context = {
        "team": hook.team,
        "webhook": hook,
        "delivery": delivery,
        "here": f"Delivery #{delivery.pk}",
        "payload": json.dumps(delivery.payload, indent=2, sort_keys=True, ensure_ascii=False),
        "redeliveries": list(delivery.redeliveries.order_by("-pk")[:20]),
    }
    return render(request, "registry/webhooks/delivery.html", context)


@require_POST
def webhook_redeliver(
    request: HtmxHttpRequest, slug: str, webhook_id: int, delivery_id: int
) -> HttpResponse:
    delivery = _delivery(request, slug, webhook_id, delivery_id)
    hook = delivery.webhook
    try:
        again = webhooks.redeliver(delivery, request.user)
    except ValidationError as exc:
        return _after_action(request, hook, error=" ".join(exc.messages))
    notice = f"Delivery #{delivery.pk} queued again as #{again.pk}."
    if wants_partial(request):
        return _after_action(request, hook, notice=notice)
    messages.success(request, notice)
    return redirect(_delivery_url(again))


def _after_action(
    request: HtmxHttpRequest, hook: Webhook, *, notice: str = "", error: str = ""
) -> HttpResponse:
    """htmx gets the refreshed delivery log with the message (200, which htmx swaps); a
    plain post is redirected to the webhook's page, or, refused, gets it as 400."""
    context = _log_context(request, hook, notice=notice, error=error)
    if wants_partial(request):
        return render(request, f"{DETAIL}#deliveries", context)
    if error:
        return render(request, DETAIL, context, status=400)
    messages.success(request, notice)
    return redirect(_detail_url(hook))


def _detail_url(hook: Webhook) -> str:
    return reverse("webhook-detail", args=[hook.team.slug, hook.pk])


def _delivery_url(delivery: WebhookDelivery) -> str:
    hook = delivery.webhook
    return reverse("webhook-delivery", args=[hook.team.slug, hook.pk, delivery.pk])
