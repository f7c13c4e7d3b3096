"""Webhook test helpers: a real HTTP receiver on 127.0.0.1 and a playable DNS."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from registry import outbound
from registry.models import WebhookAllowedHost, WebhookDelivery


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """What the receiver answers (status, extra headers, delay) and what it got."""

    port: int = 0
    status: int = 200
    answer: bytes = b"thanks"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/modelgate?src=test"

    def verify(self, secret: str, request: Received, tolerance: float = 300) -> bool:
        """What a receiver does: recompute the signature, compare in constant time, and
        refuse stale timestamps (replays)."""
        timestamp = request.headers["X-Modelgate-Timestamp"]
        expected = hmac.new(
            secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256
        ).hexdigest()
        given = request.headers["X-Modelgate-Signature"].removeprefix("sha256=")
        fresh = abs(time.time() - int(timestamp)) < tolerance
        return fresh and hmac.compare_digest(expected, given)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.received.append(Received(self.path, dict(self.headers), body))
            time.sleep(state.delay)
            self.send_response(state.status)
            for name, value in state.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(state.answer)))
            self.end_headers()
            self.wfile.write(state.answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def allow_localhost(db: None) -> WebhookAllowedHost:
    """A site admin lets webhooks reach 127.0.0.1 (where the test receiver listens)."""
    return WebhookAllowedHost.objects.create(host="127.0.0.1", note="tests")


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Play DNS: names in this dict resolve to their addresses; others as usual."""
    table: dict[str, list[str]] = {}
    real = outbound.resolver

    def resolve(host: str, port: int) -> list[str]:
        if host in table:
            return table[host]
        return real(host, port)

    monkeypatch.setattr(outbound, "resolver", resolve)
    return table


@pytest.fixture
def wait_for_state() -> Callable[[WebhookDelivery, str], None]:
    """wait_for_state(delivery, state): poll the row until a background worker has brought
    it to `state`, for 20 seconds at most."""

    def wait(delivery: WebhookDelivery, state: str) -> None:
        deadline = time.monotonic() + 20
        delivery.refresh_from_db()
        while delivery.state != state and time.monotonic() < deadline:
            time.sleep(0.1)
            delivery.refresh_from_db()

    return wait
