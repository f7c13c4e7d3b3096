"""A model's timeline: what held each stage and alias at a chosen moment, and the changes."""

from __future__ import annotations

import datetime as dt

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET

from registry import timeline
from registry.access import model_for_user
from registry.views.common import HtmxHttpRequest, wants_partial

EVENTS_PER_PAGE = 50


def parse_moment(text: str) -> dt.datetime | None:
    """An ISO date-time from a time picker or the API (naive = the server's time zone)."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        moment = parse_datetime(text) or parse_datetime(f"{text}T00:00")
    except ValueError:
        return None
    if moment is not None and timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


@require_GET
def model_timeline(request: HtmxHttpRequest, team: str, name: str) -> HttpResponse:
    model = model_for_user(request.user, team, name)
    raw_at = request.GET.get("at", "")
    at = parse_moment(raw_at)
    error = "" if at or not raw_at else f"“{raw_at}” is not a date and time (use YYYY-MM-DDTHH:MM)."
    at = at or timezone.now()
    before = parse_moment(request.GET.get("before", ""))
    events = timeline.history(model, before=before, limit=EVENTS_PER_PAGE)
    context = {
        "model": model,
        "at": at,
        "at_value": timezone.localtime(at).strftime("%Y-%m-%dT%H:%M"),
        "error": error,
        "state": timeline.state_at(model, at),
        "events": events,
        "older": events[-1].at.isoformat() if len(events) == EVENTS_PER_PAGE else "",
    }
    if wants_partial(request):
        return render(request, "registry/model_timeline.html#state", context)
    return render(request, "registry/model_timeline.html", context)
