"""Racing code in threads for the PostgreSQL concurrency tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connection


def run_at_once(count: int, prepare: Callable[[int], Any], act: Callable[[Any], Any]) -> list[Any]:
    """Run act(prepare(i)) in `count` threads released together; re-raise the first error.

    prepare() runs before the barrier so that only `act` races; every thread closes its
    own database connection when done.
    """
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            prepared = prepare(index)
            barrier.wait(timeout=30)
            results[index] = act(prepared)
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    if errors:
        raise errors[0]
    return results
