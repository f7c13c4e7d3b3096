"""Chunks stored in the background (registry.uploads with registry.background_writes).

Under gunicorn with PostgreSQL a chunk's request answers once its offset is advanced,
and a writer thread stores the bytes and commits while the next chunk comes in. These
tests send chunks as gunicorn hands them over (a WSGI input that can readinto), and
commit for real: the writer has a database connection of its own.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time

import pytest
from django.core.handlers.wsgi import WSGIRequest
from django.test import RequestFactory

from registry import artifacts, uploads
from registry.models import UploadSession
from registry.storage import artifact_storage

pytestmark = pytest.mark.django_db(transaction=True)

CHUNK = 8192
DATA = os.urandom(CHUNK * 4)
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture(autouse=True)
def _postgres_only(is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip("chunks are stored in the background with PostgreSQL only")


def _put(data: bytes) -> WSGIRequest:
    environ = RequestFactory()._base_environ(
        REQUEST_METHOD="PUT",
        PATH_INFO="/api/v1/uploads/x",
        CONTENT_TYPE="application/octet-stream",
        CONTENT_LENGTH=str(len(data)),
        **{"wsgi.input": io.BytesIO(data)},
    )
    return WSGIRequest(environ)


def _send(session: UploadSession, start: int) -> int:
    chunk = DATA[start : start + CHUNK]
    return uploads.write_chunk(session, _put(chunk), start=start, total=len(DATA))


def _stored(session: UploadSession) -> bytes:
    with open(artifact_storage.path(session.temp_name), "rb") as fh:
        return fh.read()


def _slow_store(monkeypatch: pytest.MonkeyPatch, at: int, seconds: float) -> threading.Event:
    """The chunk at `at` takes `seconds` to store; the event is set once it is stored."""
    real = uploads._store_chunk
    stored = threading.Event()

    def store(session, start, parts):
        if start == at:
            time.sleep(seconds)
        real(session, start, parts)
        if start == at:
            stored.set()

    monkeypatch.setattr(uploads, "_store_chunk", store)
    return stored


def test_chunks_stored_in_the_background_complete_with_the_running_hash(contributor, monkeypatch):
    session, _ = uploads.create_upload(actor=contributor, sha256=SHA, size=len(DATA))
    for start in range(0, len(DATA), CHUNK):
        assert _send(session, start) == start + CHUNK
    monkeypatch.setattr(artifacts, "hash_durably", lambda name: pytest.fail("read back"))
    done = uploads.complete_upload(session)
    assert done.complete and _stored(done) == DATA


def test_a_request_answers_before_its_chunk_is_stored_and_the_next_one_waits_for_it(
    contributor, monkeypatch
):
    stored = _slow_store(monkeypatch, at=CHUNK, seconds=1.0)
    session, _ = uploads.create_upload(actor=contributor, sha256=SHA, size=len(DATA))
    _send(session, 0)
    started = time.monotonic()
    _send(session, CHUNK)
    assert time.monotonic() - started < 0.8 and not stored.is_set()
    # The committed offset lags; the next chunk is taken all the same, after the slow one.
    assert UploadSession.objects.get(pk=session.pk).offset == CHUNK
    _send(session, 2 * CHUNK)
    assert stored.is_set()
    _send(session, 3 * CHUNK)
    assert uploads.get_upload(contributor, session.pk, settled=True).offset == len(DATA)
    assert _stored(session) == DATA


def test_completion_waits_for_the_last_chunk_to_be_stored(contributor, monkeypatch):
    _slow_store(monkeypatch, at=3 * CHUNK, seconds=0.5)
    session, _ = uploads.create_upload(actor=contributor, sha256=SHA, size=len(DATA))
    for start in range(0, len(DATA), CHUNK):
        _send(session, start)
    done = uploads.complete_upload(session)
    assert done.complete and _stored(done) == DATA


def test_a_write_that_fails_leaves_the_offset_for_the_client_to_resend(contributor, monkeypatch):
    real = uploads._store_chunk
    failures = [OSError(5, "Input/output error")]

    def failing_once(session, start, parts):
        if start == CHUNK and failures:
            raise failures.pop()
        real(session, start, parts)

    monkeypatch.setattr(uploads, "_store_chunk", failing_once)
    session, _ = uploads.create_upload(actor=contributor, sha256=SHA, size=len(DATA))
    _send(session, 0)
    assert _send(session, CHUNK) == 2 * CHUNK  # answered before the write failed
    with pytest.raises(uploads.OffsetMismatch) as refused:
        _send(session, 2 * CHUNK)
    assert refused.value.offset == CHUNK  # the failed chunk's offset rolled back
    session = uploads.get_upload(contributor, session.pk)  # as the next request reads it
    for start in range(CHUNK, len(DATA), CHUNK):
        _send(session, start)
    done = uploads.complete_upload(session)
    assert done.complete and _stored(done) == DATA


def test_a_chunk_behind_the_offset_is_refused_before_its_body_is_read(contributor):
    session, _ = uploads.create_upload(actor=contributor, sha256=SHA, size=len(DATA))
    _send(session, 0)
    _send(session, CHUNK)
    request = _put(DATA[:CHUNK])
    session = uploads.get_upload(contributor, session.pk, settled=True)
    with pytest.raises(uploads.OffsetMismatch):
        uploads.write_chunk(session, request, start=0, total=len(DATA))
    assert request.META["wsgi.input"].tell() == 0


def test_a_chunk_past_the_offset_with_nothing_in_flight_is_refused(contributor):
    """Read first (it might have been waiting for a chunk being stored), then refused."""
    session, _ = uploads.create_upload(actor=contributor, sha256=SHA, size=len(DATA))
    _send(session, 0)
    session = uploads.get_upload(contributor, session.pk, settled=True)
    with pytest.raises(uploads.OffsetMismatch) as refused:
        _send(session, 2 * CHUNK)
    assert refused.value.offset == CHUNK
    assert uploads.get_upload(contributor, session.pk, settled=True).offset == CHUNK
