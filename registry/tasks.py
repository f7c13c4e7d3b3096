"""Celery tasks: webhook delivery and its periodic sweep.

Work is handed over by `dispatch()`, always after the transaction that wrote the row has
committed. With a broker (REDIS_URL) it enqueues the Celery task; in the embedded mode,
where Celery runs tasks eagerly inside the caller, it runs the delivery on a small
background thread pool instead, so a slow or dead receiver never holds up the request
that emitted the event. Failing to enqueue is logged, never raised: the row stays queued
and `sweep_webhooks` (Celery beat, every minute) hands it over again.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from celery import shared_task
from django.conf import settings
from django.db import connection

from registry import webhooks

log = logging.getLogger(__name__)


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def deliver_webhook(delivery_id: int) -> None:
    webhooks.attempt_delivery(delivery_id)


@shared_task(ignore_result=True)
def sweep_webhooks() -> int:
    return webhooks.sweep()


class _BackgroundRunner:
    """The embedded mode's stand-in for a worker: threads in this process."""

    def __init__(self, workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="webhook")

    def schedule(self, delivery_id: int, delay: float) -> None:
        if delay > 0:
            timer = threading.Timer(delay, self.schedule, args=(delivery_id, 0))
            timer.daemon = True
            timer.start()
        else:
            self._pool.submit(self._run, delivery_id)

    @staticmethod
    def _run(delivery_id: int) -> None:
        try:
            webhooks.attempt_delivery(delivery_id)
        except Exception:
            log.exception("webhook delivery %s failed unexpectedly", delivery_id)
        finally:
            connection.close()


_background = _BackgroundRunner()


def dispatch(delivery_id: int, delay: float = 0) -> None:
    """Have the delivery attempted (after `delay` seconds); never raises."""
    try:
        if settings.CELERY_TASK_ALWAYS_EAGER:
            _background.schedule(delivery_id, delay)
        else:
            # retry=False: with the broker down, fail at once rather than hold the caller.
            deliver_webhook.apply_async(
                kwargs={"delivery_id": delivery_id}, countdown=delay or None, retry=False
            )
    except Exception:
        log.warning(
            "could not enqueue webhook delivery %s; the sweep will retry it",
            delivery_id,
            exc_info=True,
        )
