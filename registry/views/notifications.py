"""The signed-in user's in-app notifications."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from registry.views.common import HtmxHttpRequest

PER_PAGE = 30


@require_GET
def notification_list(request: HtmxHttpRequest) -> HttpResponse:
    queryset = request.user.notifications.all()
    page = Paginator(queryset, PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "registry/notifications.html", {"page": page})


@require_POST
def notifications_read(request: HtmxHttpRequest) -> HttpResponse:
    """Mark every notification read (only the user's own: the queryset is theirs)."""
    request.user.notifications.filter(read_at__isnull=True).update(read_at=timezone.now())
    return redirect("notifications")
