"""config/gunicorn_reads.py: block reads of request bodies answer exactly what
gunicorn's own 1 KiB reads answer (bytes, short reads, read-ahead left over)."""

from __future__ import annotations

import itertools
import random
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from gunicorn.http.body import Body, ChunkedReader, EOFReader, LengthReader
from gunicorn.http.unreader import SocketUnreader

from config import gunicorn_reads

GUNICORN = (Body.read, LengthReader.read)  # as gunicorn ships them (install() not called)
OURS = (gunicorn_reads.body_read, gunicorn_reads.length_read)


@contextmanager
def sending(data: bytes, piece: int) -> Iterator[SocketUnreader]:
    """An unreader over a socket whose peer sends `data` in `piece`-byte sends, then closes."""
    ours, peer = socket.socketpair()

    def send() -> None:
        for at in range(0, len(data), piece):
            peer.sendall(data[at : at + piece])
        peer.close()

    thread = threading.Thread(target=send)
    thread.start()
    try:
        yield SocketUnreader(ours)
    finally:
        thread.join()
        ours.close()


def reads(
    monkeypatch: pytest.MonkeyPatch,
    implementation: tuple[Callable, Callable],
    make_body: Callable[[SocketUnreader], Body],
    data: bytes,
    sizes: list[int | None],
    piece: int,
    read_ahead: int,
) -> tuple[list[bytes], bytes]:
    """Each read's answer, then what is left for the next request on the connection."""
    with monkeypatch.context() as patch:
        patch.setattr(Body, "read", implementation[0])
        patch.setattr(LengthReader, "read", implementation[1])
        with sending(data[read_ahead:], piece) as unreader:
            unreader.unread(data[:read_ahead])  # what parsing the headers read ahead
            body = make_body(unreader)
            answers = [body.read(size) for size in sizes]
            left = body.buf.getvalue() + unreader.read(1 << 30)
    return answers, left


SIZES = [1, 100, 1023, 1024, 1025, 8192, 65536, 1 << 20, 3 << 20, None, -1]


@pytest.mark.parametrize("length", [0, 1, 5000, (3 << 20) + 7])
@pytest.mark.parametrize("piece", [1000, 65536, 1 << 20])
def test_content_length_bodies_read_the_same(monkeypatch, length, piece):
    rng = random.Random(length * 31 + piece)
    body = rng.randbytes(length)
    after = b"GET /next HTTP/1.1\r\n\r\n"  # a pipelined request behind the body
    for _ in range(4):
        sizes = [rng.choice(SIZES) for _ in range(rng.randint(1, 12))]
        read_ahead = rng.randint(0, min(len(body) + len(after), 20000))
        answers = [
            reads(
                monkeypatch,
                implementation,
                lambda u: Body(LengthReader(u, length)),
                body + after,
                sizes,
                piece,
                read_ahead,
            )
            for implementation in (GUNICORN, OURS)
        ]
        assert answers[0] == answers[1], (sizes, read_ahead)
        assert b"".join(answers[1][0]) == body[: sum(len(a) for a in answers[1][0])]


@pytest.mark.parametrize("kind", ["chunked", "until-close"])
def test_chunked_and_until_close_bodies_read_the_same(monkeypatch, kind):
    rng = random.Random(kind)
    payload = rng.randbytes(300_000)
    if kind == "chunked":
        wire, at = b"", 0
        while at < len(payload):
            step = rng.choice([1, 500, 4096, 70_000])
            wire += f"{len(payload[at : at + step]):x}\r\n".encode()
            wire += payload[at : at + step] + b"\r\n"
            at += step
        wire += b"0\r\n\r\n"

        def make(u):
            return Body(ChunkedReader(type("Req", (), {"trailers": []})(), u))
    else:
        wire = payload

        def make(u):
            return Body(EOFReader(u))

    sizes = [rng.choice(SIZES) for _ in range(10)] + [None]
    answers = [
        reads(monkeypatch, implementation, make, wire, sizes, 65536, 100)
        for implementation in (GUNICORN, OURS)
    ]
    assert answers[0] == answers[1]
    assert b"".join(answers[1][0]) == payload


def readinto_all(body: Body, sizes: list[int]) -> list[bytes]:
    """The body through readinto with buffers of `sizes` (cycled) until it answers 0."""
    answers = []
    for size in itertools.cycle(sizes):
        buffer = bytearray(size)
        n = body.readinto(buffer)
        if not n:
            return answers
        answers.append(bytes(buffer[:n]))


@pytest.mark.parametrize("length", [0, 1, 5000, (3 << 20) + 7])
@pytest.mark.parametrize("read_ahead", [0, 100, 70_000])
def test_readinto_gives_the_bytes_read_gives(monkeypatch, length, read_ahead):
    rng = random.Random(length + read_ahead)
    body = rng.randbytes(length)
    after = b"GET /next HTTP/1.1\r\n\r\n"
    monkeypatch.setattr(Body, "read", gunicorn_reads.body_read)
    monkeypatch.setattr(LengthReader, "read", gunicorn_reads.length_read)
    monkeypatch.setattr(Body, "readinto", gunicorn_reads.body_readinto, raising=False)
    with sending((body + after)[read_ahead:], 65536) as unreader:
        unreader.unread((body + after)[:read_ahead])
        reading = Body(LengthReader(unreader, length))
        first = reading.read(min(length, 10))  # a read() first leaves bytes in Body.buf
        answers = readinto_all(reading, [rng.choice([1, 4096, 1 << 20, 9 << 20]) for _ in range(5)])
        assert first + b"".join(answers) == body
        assert all(answers)
        assert reading.readinto(bytearray(10)) == 0  # the end stays the end
        assert reading.buf.getvalue() + unreader.read(1 << 30) == after


def test_readinto_reads_chunked_bodies_through_read(monkeypatch):
    monkeypatch.setattr(Body, "readinto", gunicorn_reads.body_readinto, raising=False)
    payload = random.Random(7).randbytes(100_000)
    wire = f"{len(payload):x}\r\n".encode() + payload + b"\r\n0\r\n\r\n"
    with sending(wire, 4096) as unreader:
        reading = Body(ChunkedReader(type("Req", (), {"trailers": []})(), unreader))
        assert b"".join(readinto_all(reading, [30_000])) == payload


def test_config_installs_the_block_reads(monkeypatch):
    monkeypatch.setattr(Body, "read", GUNICORN[0])
    monkeypatch.setattr(LengthReader, "read", GUNICORN[1])
    monkeypatch.setattr(Body, "readinto", None, raising=False)
    gunicorn_reads.install()
    assert (Body.read, LengthReader.read) == OURS
    assert Body.readinto is gunicorn_reads.body_readinto


def test_the_original_reads_are_not_ours():
    assert GUNICORN != OURS  # the comparison above compares two implementations
