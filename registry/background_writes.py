"""The slow tail of a request's work, run in a thread of the request thread's own.

An upload chunk's request waits only until its offset is claimed (the session's row is
locked and advanced); the write to disk and the commit go on in the request thread's
writer while the response goes out and the next chunk comes in (registry.uploads). Each
request thread has one writer, which runs its jobs one after another on a database
connection of its own.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from django.db import close_old_connections, connections

logger = logging.getLogger(__name__)

Work = Callable[[Callable[[], None]], Any]


class Job:
    """A job handed to a writer: `claimed` when it called its claim() (or failed before),
    `done` when it finished either way."""

    def __init__(self, work: Work) -> None:
        self.work = work
        self.claimed = threading.Event()
        self.done = threading.Event()
        self.error: BaseException | None = None


def submit(work: Work) -> Job:
    """Run `work(claim)` in this thread's writer; return once it called claim().

    An error before claim() is raised here, as if the work had run in this thread; one
    after it is logged (the caller has answered already), and the work must leave things
    as they were before it (a rolled-back transaction does).
    """
    writer = getattr(_writers, "writer", None)
    if writer is None:
        writer = _writers.writer = _Writer()
    job = Job(work)
    writer.jobs.put(job)
    job.claimed.wait()
    if job.error is not None:
        raise job.error
    return job


def close_connection() -> None:
    """Close the database connection of this thread's writer, if it has one (a test
    database cannot be dropped while a connection to it is open)."""
    if getattr(_writers, "writer", None) is not None:
        submit(lambda claimed: (connections.close_all(), claimed())).done.wait()


class _Writer:
    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[Job] = queue.SimpleQueue()
        # A daemon: a job cut short when the process exits rolls back with its connection.
        threading.Thread(target=self._run, name="background-writes", daemon=True).start()

    def _run(self) -> None:
        while True:
            job = self.jobs.get()
            close_old_connections()  # as a request would: a broken or too old one is replaced
            try:
                job.work(job.claimed.set)
            except BaseException as exc:
                if job.claimed.is_set():
                    logger.exception("a background write failed after it was claimed")
                else:
                    job.error = exc
                    job.claimed.set()
            finally:
                job.claimed.set()  # work that never claimed releases its caller too
                job.done.set()


_writers = threading.local()
