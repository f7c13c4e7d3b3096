"""Request bodies read in blocks of up to 1 MiB instead of gunicorn's 1 KiB steps, and
straight into the caller's buffer (`readinto`) where it has one.

gunicorn's `Body.read(n)` asks its reader for 1024 bytes at a time, and `LengthReader`
fills each ask from 8 KiB `recv()` calls, copying and pushing back what it over-read: an
8 MiB upload chunk took about 30 ms of Python loops here, the most of a chunk's time on
the server (upstream: benoitc/gunicorn#2596; PR #3586 proposes a setting). `install()`
(config/gunicorn.py calls it in the master, before the workers fork) replaces both reads
with block reads that answer exactly what the originals answer: the same bytes, the same
short read at the end of the body, the same read-ahead left for the next request.
`Body.readinto` (which gunicorn lacks) lets an upload receive its chunk into the buffer
the disk write takes, without allocating and copying it on the way (registry.uploads).
"""

from __future__ import annotations

import io
from typing import Any

from gunicorn.http.body import Body, LengthReader

BLOCK = 1024 * 1024


def body_read(self: Body, size: int | None = None) -> bytes:
    """Body.read: up to `size` bytes (all when None or negative), fewer only at the end."""
    size = self.getsize(size)
    if size == 0:
        return b""
    if size < self.buf.tell():  # served from what an earlier read left over
        data = self.buf.getvalue()
        self.buf = io.BytesIO()
        self.buf.write(data[size:])
        return data[:size]
    parts = [self.buf.getvalue()]
    have = len(parts[0])
    while have < size:
        data = self.reader.read(min(size - have, BLOCK))
        if not data:
            break
        parts.append(data)
        have += len(data)
    data = b"".join(parts)
    self.buf = io.BytesIO()
    self.buf.write(data[size:])
    return data[:size]


def length_read(self: LengthReader, size: Any) -> bytes:
    """LengthReader.read: what is buffered first, then the socket asked for no more than
    the rest of `size`, so nothing is over-read and pushed back."""
    if not isinstance(size, int):
        raise TypeError("size must be an integral type")
    size = min(self.length, size)
    if size < 0:
        raise ValueError("Size must be positive.")
    if size == 0:
        return b""
    sock = getattr(self.unreader, "sock", None)
    data = self.unreader.read()  # the read-ahead, or one recv() when there is none
    parts, have = [data], len(data)
    while data and have < size:
        data = sock.recv(min(size - have, BLOCK)) if sock is not None else self.unreader.read()
        parts.append(data)
        have += len(data)
    buf = b"".join(parts)
    self.unreader.unread(buf[size:])
    self.length -= size
    return buf[:size]


def body_readinto(self: Body, buffer: Any) -> int:
    """Body.readinto: fill up to len(buffer) bytes; answers how many (0 at the end, fewer
    when that is what has arrived). A Content-Length body is received straight into
    `buffer`; other bodies go through read()."""
    view = memoryview(buffer).cast("B")
    if not len(view):
        return 0
    held = self.buf.getvalue()  # what an earlier read() left over
    reader = self.reader
    sock = getattr(getattr(reader, "unreader", None), "sock", None)
    if held or not isinstance(reader, LengthReader) or sock is None:
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)
    want = min(len(view), reader.length)
    if not want:
        return 0
    ahead = reader.unreader.buf.getvalue()  # what parsing the headers read ahead
    if ahead:
        reader.unreader.buf = io.BytesIO()
        got = min(len(ahead), want)
        view[:got] = ahead[:got]
        reader.unreader.unread(ahead[got:])
    else:
        got = sock.recv_into(view[:want], want)
    reader.length -= got
    return got


def install() -> None:
    Body.read = body_read  # type: ignore[method-assign]
    Body.readinto = body_readinto  # type: ignore[attr-defined]
    LengthReader.read = length_read  # type: ignore[method-assign]
