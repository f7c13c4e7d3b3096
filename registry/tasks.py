"""Celery tasks: webhook delivery and its periodic sweep.

Work is handed over by `dispatch()`, after the transaction that wrote the row committed,
and always through a small thread pool in this process, so the caller never waits:
with a broker (REDIS_URL) a thread enqueues the Celery task (an unreachable broker costs
that thread a few seconds of connection retries, not the user's request); in the embedded
mode, where Celery would run the task eagerly inside the request, a thread makes the
delivery itself. A failed enqueue is logged and the row stays queued: `sweep_webhooks`
(Celery beat, every minute) hands it over again, so work is delayed, never lost.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import connection

from registry import archiving, promotions, uploads, webhooks

log = logging.getLogger(__name__)


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def deliver_webhook(delivery_id: int) -> None:
    webhooks.attempt_delivery(delivery_id)


@shared_task(ignore_result=True)
def sweep_webhooks() -> int:
    return webhooks.sweep()


class _Background:
    """Threads of this process that run hand-overs, now or after a delay."""

    def __init__(self, workers: int = 2) -> None:
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._pid = 0

    def _executor(self) -> ThreadPoolExecutor:
        # One per process: a pool created before a fork (prefork workers) has no threads.
        if self._pool is None or self._pid != os.getpid():
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="handover")
            self._pid = os.getpid()
        return self._pool

    def schedule(self, job: Callable[[], None], delay: float = 0) -> None:
        if delay > 0:
            timer = threading.Timer(delay, self.schedule, args=(job,))
            timer.daemon = True
            timer.start()
        else:
            self._executor().submit(self._run, job)

    @staticmethod
    def _run(job: Callable[[], None]) -> None:
        try:
            job()
        except Exception:
            log.exception("background hand-over failed")
        finally:
            connection.close()


background = _Background()


def dispatch(delivery_id: int, delay: float = 0) -> None:
    """Have the delivery attempted (after `delay` seconds); returns at once, never raises."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        background.schedule(functools.partial(webhooks.attempt_delivery, delivery_id), delay)
    else:
        background.schedule(functools.partial(enqueue, delivery_id, delay))


def enqueue(delivery_id: int, delay: float = 0) -> None:
    """Send the delivery's task to the broker; on failure log it and leave it to the sweep."""
    try:
        # retry=False: no publish retries on top of the connection's own.
        deliver_webhook.apply_async(
            kwargs={"delivery_id": delivery_id}, countdown=delay or None, retry=False
        )
    except Exception:
        log.warning(
            "could not enqueue webhook delivery %s; the sweep will retry it",
            delivery_id,
            exc_info=True,
        )


@shared_task(name="registry.tasks.expire_promotion_requests")
def expire_promotion_requests() -> int:
    """Close open promotion requests past their expiry (Celery beat)."""
    return promotions.expire_requests()


@shared_task(ignore_result=True)
def expire_uploads() -> int:
    """Delete upload sessions past UPLOAD_MAX_AGE with their bytes (Celery beat): an
    interrupted or never-attached upload holds disk only that long."""
    return uploads.expire_uploads()


# Archive and restore jobs (registry.archiving), on the "archive" queue (settings routes
# "*.archive_*"). Handed over like webhook deliveries: a failed enqueue leaves the job
# queued for `archive_sweep_jobs`.


@shared_task(bind=True, ignore_result=True, acks_late=True, reject_on_worker_lost=True,
             max_retries=None)  # fmt: skip
def archive_run_job(self: Any, job_id: int) -> None:
    try:
        archiving.run(job_id)
    except archiving.Interrupted as exc:
        # The job is queued again; bounded by MODELGATE_JOB_MAX_ATTEMPTS in run().
        raise self.retry(countdown=settings.MODELGATE_JOB_RETRY_SECONDS, exc=exc) from exc


@shared_task(ignore_result=True)
def archive_sweep_jobs() -> int:
    return archiving.sweep_stale()


@shared_task(ignore_result=True)
def archive_retention_sweep() -> int:
    return archiving.retention_sweep()


def dispatch_job(job_id: int, delay: float = 0) -> None:
    """Have an archive/restore job run; returns at once, never raises."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        background.schedule(functools.partial(_run_in_process, job_id), delay)
    else:
        background.schedule(functools.partial(_enqueue_job, job_id), delay)


def _run_in_process(job_id: int) -> None:
    try:
        archiving.run(job_id)
    except archiving.Interrupted:
        dispatch_job(job_id, settings.MODELGATE_JOB_RETRY_SECONDS)


def _enqueue_job(job_id: int) -> None:
    try:
        archive_run_job.apply_async(kwargs={"job_id": job_id}, retry=False)
    except Exception:
        log.warning("could not enqueue job %s; the sweep will retry it", job_id, exc_info=True)
