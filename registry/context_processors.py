"""Counts shown in the navigation on every page: one query, run only when a page renders
them (partials that don't show the navigation cost nothing)."""

from __future__ import annotations

from functools import cache
from typing import Any

from django.db.models import F, Func, IntegerField, QuerySet, Subquery
from django.http import HttpRequest

from accounts.models import User
from registry.models import Notification
from registry.promotions import open_requests_to_review


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    @cache
    def counts() -> tuple[int, int]:
        unread = Notification.objects.filter(user=user, read_at__isnull=True)
        row = (
            User.objects.filter(pk=user.pk)
            .values_list(_count(open_requests_to_review(user)), _count(unread))
            .first()
        )
        return row or (0, 0)

    return {
        "review_count": lambda: counts()[0],
        "unread_notifications": lambda: counts()[1],
    }


def _count(queryset: QuerySet) -> Subquery:
    """COUNT(*) of a queryset as a scalar subquery."""
    total = Func(F("pk"), function="COUNT", output_field=IntegerField())
    return Subquery(queryset.order_by().values(n=total)[:1], output_field=IntegerField())
