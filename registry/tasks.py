"""Celery tasks of the registry; each calls a domain function and is safe to run twice."""

from __future__ import annotations

from celery import shared_task

from registry import promotions


@shared_task(name="registry.tasks.expire_promotion_requests")
def expire_promotion_requests() -> int:
    return promotions.expire_requests()
