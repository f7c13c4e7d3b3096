"""Periodic work without a broker: when `make run` serves the embedded default (no
REDIS_URL, so tasks run in-process), the development server runs the Celery beat schedule
(settings.CELERY_BEAT_SCHEDULE: sweeps, request expiry, monitors) in one daemon thread, so
monitors judge and requests expire as they would in production. Never used with a broker:
there, `celery -A config beat` does it.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections
from django.utils.module_loading import import_string

log = logging.getLogger(__name__)
TICK = 5.0  # seconds between looks at the schedule


def _loop(stop: threading.Event) -> None:
    schedule = {name: (entry["task"], float(entry["schedule"]))
                for name, entry in settings.CELERY_BEAT_SCHEDULE.items()}  # fmt: skip
    due = {name: time.monotonic() + min(every, 30.0) for name, (_t, every) in schedule.items()}
    while not stop.wait(TICK):
        now = time.monotonic()
        for name, (task, every) in schedule.items():
            if now < due[name]:
                continue
            due[name] = now + every
            close_old_connections()
            try:
                import_string(task)()
            except Exception:  # one failing task must not stop the others
                log.exception("periodic task %s failed", name)
            finally:
                close_old_connections()


def start() -> threading.Event:
    """Run the schedule in a daemon thread until the returned event is set."""
    stop = threading.Event()
    thread = threading.Thread(target=_loop, args=(stop,), name="modelgate-inprocess-beat",
                              daemon=True)  # fmt: skip
    thread.start()
    log.info("running the beat schedule in-process (no broker)")
    return stop
