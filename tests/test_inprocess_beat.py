"""Without a broker, the development server runs the beat schedule in a thread."""

from __future__ import annotations

import threading

from config import inprocess_beat

CALLS: list[str] = []
RAN = threading.Event()


def ticking_task() -> None:
    CALLS.append("tick")
    if len(CALLS) >= 2:
        RAN.set()


def failing_task() -> None:
    raise RuntimeError("one failing task must not stop the others")


def test_it_runs_each_task_when_due_and_survives_failures(settings, monkeypatch):
    settings.CELERY_BEAT_SCHEDULE = {
        "fails": {"task": "tests.test_inprocess_beat.failing_task", "schedule": 0.01},
        "ticks": {"task": "tests.test_inprocess_beat.ticking_task", "schedule": 0.01},
    }
    monkeypatch.setattr(inprocess_beat, "TICK", 0.01)
    stop = inprocess_beat.start()
    try:
        assert RAN.wait(5), "the schedule did not run"
    finally:
        stop.set()
    assert CALLS[:2] == ["tick", "tick"]
