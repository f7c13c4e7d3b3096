"""Periodic monitoring work, run by Celery beat (config.settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from monitoring import evaluate
from monitoring.models import MetricPoint, MetricRollup


@shared_task(ignore_result=True)
def evaluate_monitors() -> int:
    """Judge every enabled monitor; returns the breaches it opened."""
    return len(evaluate.evaluate_all().breached)


@shared_task(ignore_result=True)
def sweep_live_metrics() -> int:
    """Delete raw points past their retention, and rollups past theirs."""
    now = timezone.now()
    points, _ = MetricPoint.objects.filter(
        at__lt=now - dt.timedelta(days=settings.LIVE_METRICS_RETENTION_DAYS)
    ).delete()
    rollups, _ = MetricRollup.objects.filter(
        hour__lt=now - dt.timedelta(days=settings.LIVE_ROLLUP_RETENTION_DAYS)
    ).delete()
    return points + rollups
