"""Celery tasks: rendering lineage graphs and the periodic sweep of stale render jobs.

Handed over like webhook deliveries (registry.tasks): through a background thread, so an
unreachable broker never holds up a page; a job whose enqueue failed stays queued for
`sweep_render_jobs` (Celery beat).
"""

from __future__ import annotations

import functools
import logging

from celery import shared_task
from django.conf import settings

from lineage import render
from registry.tasks import background

log = logging.getLogger(__name__)


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def render_graph(job_id: int) -> None:
    render.run(job_id)


@shared_task(ignore_result=True)
def sweep_render_jobs() -> int:
    return render.sweep()


def dispatch(job_id: int) -> None:
    """Have the job rendered; returns at once, never raises."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        background.schedule(functools.partial(render.run, job_id))
    else:
        background.schedule(functools.partial(enqueue, job_id))


def enqueue(job_id: int) -> None:
    try:
        render_graph.apply_async(kwargs={"job_id": job_id}, retry=False)
    except Exception:
        log.warning("could not enqueue lineage render %s; the sweep will retry it", job_id,
                    exc_info=True)  # fmt: skip
