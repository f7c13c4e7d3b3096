"""The production topology on this machine: `make prod` (the Procfile under honcho) with two
gunicorn workers, two Celery workers and beat, in production mode against PostgreSQL and
Redis. It serves the sign-in page and a compressed, cache-forever static file (WhiteNoise),
a webhook delivery enqueued through Redis is delivered by the workers, and stopping it
stops every process."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import current_app
from django.db import connection

from registry import webhooks
from registry.models import DeliveryState
from registry.webhooks import Event

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL") or not os.environ.get("DATABASE_URL"),
        reason="needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL)",
    ),
    pytest.mark.django_db(transaction=True),  # the processes must see the rows
]
STARTED = re.compile(r"(web|worker|beat)\.\d+ started \(pid=(\d+)\)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    db = connection.settings_dict  # the test database pytest-django created
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return (
        f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
        f"/{db['NAME']}"
    )


def get(url: str, **headers: str) -> Any:
    # Production mode redirects plain HTTP; behind the TLS proxy this header says HTTPS.
    request = urllib.request.Request(url, headers={"X-Forwarded-Proto": "https", **headers})
    return urllib.request.urlopen(request, timeout=5)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its dead parent) counts as stopped.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ")[-1][:1] != "Z"


class Topology:
    def __init__(self, process: subprocess.Popen[str], log: Path, port: int) -> None:
        self.process, self.log, self.base = process, log, f"http://127.0.0.1:{port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, what: str, check: Any, seconds: float = 45) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"`make prod` exited early:\n{self.output()[-4000:]}")
            if check():
                return
            time.sleep(0.2)
        pytest.fail(f"timed out waiting for {what}:\n{self.output()[-4000:]}")

    def pids(self) -> dict[int, str]:
        return {int(pid): kind for kind, pid in STARTED.findall(self.output())}


@pytest.fixture
def topology(tmp_path: Path) -> Iterator[Topology]:
    port = free_port()
    env = {
        **os.environ,
        "MODELGATE_MODE": "production",
        "SECRET_KEY": "topology-test-" + "k" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": database_url(),
        "MODELGATE_VAR_DIR": str(tmp_path / "var"),
        "STATIC_ROOT": str(tmp_path / "static"),
        "WEB_CONCURRENCY": "2",
        "CELERY_CONCURRENCY": "1",
        "PYTHONUNBUFFERED": "1",
    }
    (tmp_path / "var").mkdir()
    log = tmp_path / "prod.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "prod", f"PORT={port}", "WORKERS=2"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            text=True,
        )
    running = Topology(process, log, port)
    try:
        yield running
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # make and honcho; honcho stops the rest
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_make_prod_runs_two_web_and_two_worker_processes(
    topology, team, maintainer, receiver, allow_localhost, wait_for_state
):
    def ready() -> bool:
        out = topology.output()
        return out.count("Booting worker with pid") >= 2 and len(re.findall(r" ready\.", out)) >= 2

    topology.wait_for("two gunicorn workers and two Celery workers", ready)
    kinds = sorted(topology.pids().values())
    assert kinds == ["beat", "web", "worker", "worker"]

    page = get(f"{topology.base}/accounts/login/")
    html = page.read().decode()
    assert page.status == 200 and 'name="password"' in html
    css = re.search(r'href="(/static/vendor/bootstrap/bootstrap\.min\.[0-9a-f]{12}\.css)"', html)
    assert css, "the page links the hashed (manifest) name of the stylesheet"
    static = get(topology.base + css.group(1), **{"Accept-Encoding": "gzip"})
    assert static.status == 200
    assert static.headers["Content-Encoding"] == "gzip"
    assert "immutable" in static.headers["Cache-Control"]

    hook, _secret = webhooks.create_webhook(
        team, maintainer, name="ci", url=receiver.url, events=[Event.VERSION_REGISTERED]
    )
    assert current_app.amqp.router.route({}, "registry.tasks.deliver_webhook")["queue"].name == (
        "webhooks"
    )
    delivery = webhooks.send_ping(hook, maintainer)  # enqueued in Redis on commit
    wait_for_state(delivery, DeliveryState.DELIVERED)
    assert delivery.state == DeliveryState.DELIVERED, topology.output()[-4000:]
    assert "registry.tasks.deliver_webhook" in topology.output()  # a worker's log says so

    pids = topology.pids()
    os.killpg(topology.process.pid, signal.SIGTERM)
    topology.process.wait(timeout=30)
    deadline = time.monotonic() + 15
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in pids if alive(pid)], "every process stopped"
