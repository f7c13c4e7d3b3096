"""Resumable, chunked artifact uploads and attaching stored blobs to new versions.

The protocol (REST endpoints in api/uploads.py; the Python client follows it):

1. ``POST /api/v1/uploads {"sha256": "<64 hex>", "size": n}`` (write scope, contributor in
   some team) opens a session: 201 ``{"id", "offset": 0, "size", "chunk_size", "complete"}``.
   When the caller has a live session for the same sha256 and size already (incomplete or
   completed, not expired), it answers that one instead, 200: an interrupted client
   resumes from its ``offset``, and a ``complete`` one is attached as it is.
   A size over MODELGATE_MAX_ARTIFACT_BYTES answers 413, a malformed hash 422. The session
   is a database row (UploadSession); its bytes go to a private temporary storage object,
   so they survive a broken connection. Per user, at most MAX_OPEN_UPLOADS sessions may be
   incomplete (bytes in flight) and MAX_COMPLETED_UPLOADS completed but not attached yet;
   past either, opening another answers 400 naming ``uploads``.
2. ``PUT /api/v1/uploads/{id}`` with ``Content-Range: bytes START-END/TOTAL`` (END
   inclusive, TOTAL the declared size) or ``?offset=START``, and the raw chunk (at most
   ``chunk_size`` bytes) as an application/octet-stream body. It is appended when START is
   the session's current offset; otherwise 409 ``{"error": {...}, "offset": current}`` so
   the client resumes from there. A chunk past the declared size, or not the length the
   Content-Range announces, answers 400; one over ``chunk_size`` 413 (by its
   Content-Length, before it is read); one without a Content-Length (chunked transfer
   encoding) 411. Answers ``{"offset": new}``. Under gunicorn with PostgreSQL the answer
   comes once the offset is advanced, and the chunk is written and committed in the
   background while the next one arrives (_pipelined); GET, completion and the next chunk
   wait for that, and a write that fails leaves the offset where it was. Chunks are written,
   not fsynced one by one (that would make the disk the bottleneck): completion verifies
   the SHA-256 of the whole object while it flushes it to disk (side by side; on local
   storage the process that received every chunk in order, as one keep-alive connection
   does, hashed them as they came and only flushes), and
   attaching it to a version fsyncs it again (nothing is left to flush by then) before the
   version commits, so a power loss can at worst make the client send the upload again.
   Numbers in Content-Range, ?offset= and Content-Length are ASCII digits, at most 19.
3. ``GET /api/v1/uploads/{id}`` answers ``{"id", "offset", "size", "chunk_size",
   "complete"}`` (to resume); ``DELETE`` discards the session and its bytes (204).
   Sessions are private: anyone but their creator gets 404.
4. ``POST /api/v1/uploads/{id}/complete`` hashes the whole temporary object (streamed,
   constant memory) and makes it durable. A hash other than the declared one answers 400
   ``checksum_mismatch`` and discards the session and its bytes; an incomplete upload
   answers 409 with the offset. On success the bytes stay a private staged object: no
   Blob row exists until a version attaches them (step 6), so an upload never registered
   leaves no blob behind.
5. ``POST /api/v1/blobs/known {"sha256": [...]}`` (at most 1000) answers ``{"known": [...]}``:
   the hashes already stored as an artifact of a version of one of the caller's teams, or
   of a completed live upload of the caller's own, which the client need not upload
   again. Other teams' blobs and other users' uploads are never revealed.
6. ``POST /api/v1/models/{team}/{name}/versions`` takes ``"files": [{"path", "sha256"}]``;
   each sha256 is a completed upload of the caller or a known blob (step 5). Paths are
   normalised (artifacts.normalise_path) and must be unique; anything else answers 400
   naming ``files`` and stores nothing. The client never names a storage location.

Downloads (registry.downloads, for the page and the API) honour ``Range: bytes=a-b``,
``bytes=a-`` and ``bytes=-n`` (206) so a broken download resumes too.

Cleanup: ``expire_uploads()`` (for a periodic task) deletes sessions older than
UPLOAD_MAX_AGE, completed or not, with their temporary bytes. A session attached to a
version is deleted by the registering transaction.

Storage: with a local file system the temporary object is one file, appended in place;
with remote storage (no ``path()``; e.g. S3, which cannot append) each chunk is its own
part object and completion concatenates the parts into one staged object, hashing them in
the same pass.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import mmap
import os
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import IO, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.db.models import Count, F, Q, QuerySet
from django.http import Http404, HttpRequest
from django.utils import timezone

from accounts.policy import Action, teams_for, teams_q
from registry import artifacts, background_writes
from registry.models import Artifact, Blob, BlobLocation, UploadSession
from registry.storage import artifact_storage, is_local

CHUNK_SIZE = 16 * 1024 * 1024  # the largest chunk one PUT may carry
UPLOAD_MAX_AGE = dt.timedelta(hours=24)
# Per user, live sessions only (expired ones are about to be swept and must never lock an
# account out). Incomplete sessions bound the bytes one account can hold in flight;
# completed ones wait to be attached, and a version may name up to 1000 files.
MAX_OPEN_UPLOADS = 100
MAX_COMPLETED_UPLOADS = 2000
MAX_KNOWN_QUERY = 1000
SHA256_RE = re.compile(r"\A[0-9a-f]{64}\Z")
# A byte count or position in a request: ASCII digits (str.isdigit() takes "²", which
# int() refuses), at most 19 of them (int() refuses over 4300; no upload is that big).
NUMBER = "[0-9]{1,19}"
_CONTENT_RANGE = re.compile(rf"\Abytes ({NUMBER})-({NUMBER})/({NUMBER})\Z")
_READ_SIZE = 1024 * 1024


class OffsetMismatch(Exception):
    """A chunk that does not start where the upload stands (409: resume from `offset`)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message, self.offset = message, offset


class ChecksumMismatch(Exception):
    """The uploaded bytes do not hash to the declared SHA-256 (the session is discarded)."""


class TooLarge(Exception):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message, self.field = message, field


def clean_sha256(value: str, field: str = "sha256") -> str:
    if not isinstance(value, str) or not SHA256_RE.match(value.lower()):
        raise ValidationError({field: f"{value!r} is not a SHA-256 in hex (64 characters)"})
    return value.lower()


# --- sessions ---------------------------------------------------------------------------


def create_upload(*, actor: Any, sha256: str, size: int) -> tuple[UploadSession, bool]:
    """The caller's live session for `size` bytes hashing to `sha256`, or a new one
    (contributors only), and whether it is new. An existing one, incomplete or completed,
    is answered as it stands: the client resumes from its offset, or attaches it."""
    sha256 = clean_sha256(sha256)
    if size < 0:
        raise ValidationError({"size": "must not be negative"})
    limit = settings.MODELGATE_MAX_ARTIFACT_BYTES
    if size > limit:
        raise TooLarge(
            f"size {size:,} bytes is over the limit of {limit:,} bytes "
            "(MODELGATE_MAX_ARTIFACT_BYTES)",
            "size",
        )
    if not teams_for(actor, Action.CONTRIBUTE).exists():
        raise PermissionDenied("You need the contributor role in a team to upload artifacts.")
    with transaction.atomic():
        # One call at a time per user: two at once neither both open a session for the
        # same bytes nor both pass the caps.
        get_user_model().objects.select_for_update().filter(pk=actor.pk).values_list("pk").first()
        live = live_uploads(actor)
        existing = (
            live.filter(sha256=sha256, size=size)
            .order_by(F("completed_at").desc(nulls_last=True), "-offset", "-created_at")
            .first()
        )
        if existing is not None:
            return existing, False
        counts = live.aggregate(
            open=Count("pk", filter=Q(completed_at__isnull=True)),
            completed=Count("pk", filter=Q(completed_at__isnull=False)),
        )
        way_out = (
            "discard some (DELETE /api/v1/uploads/{id}), or wait until they expire "
            f"{UPLOAD_MAX_AGE.total_seconds() / 3600:g} hours after they were opened"
        )
        if counts["open"] >= MAX_OPEN_UPLOADS:
            raise ValidationError(
                {
                    "uploads": f"you have {MAX_OPEN_UPLOADS} uploads in progress (opened, not "
                    f"completed), the most one may have: complete them, {way_out}"
                }
            )
        if counts["completed"] >= MAX_COMPLETED_UPLOADS:
            raise ValidationError(
                {
                    "uploads": f"you have {MAX_COMPLETED_UPLOADS} completed uploads not attached "
                    "to a version, the most one may have: attach them (name their sha256 in a "
                    f"version's files), {way_out}"
                }
            )
        session_id = uuid.uuid4()
        temp_name = f"uploads/session-{session_id.hex}"
        if is_local(artifact_storage):
            temp_name = artifact_storage.save(temp_name, ContentFile(b""))
        session = UploadSession.objects.create(
            id=session_id, created_by=actor, sha256=sha256, size=size, temp_name=temp_name
        )
    return session, True


def live_uploads(actor: Any) -> QuerySet[UploadSession]:
    """The actor's sessions that have not expired (expire_uploads() sweeps the others)."""
    return UploadSession.objects.filter(
        created_by=actor, created_at__gte=timezone.now() - UPLOAD_MAX_AGE
    )


def get_upload(actor: Any, upload_id: Any, *, settled: bool = False) -> UploadSession:
    """The caller's own session; anybody else's (or none) is 404. `settled`: as it stands
    once the chunks answered so far are stored (a chunk stored in the background holds the
    session's row until it commits)."""
    sessions = UploadSession.objects.filter(created_by=actor)
    try:
        if not settled:
            return sessions.get(pk=upload_id)
        with transaction.atomic():
            return sessions.select_for_update().get(pk=upload_id)
    except (UploadSession.DoesNotExist, ValidationError, ValueError):
        raise Http404("No such upload.") from None


def parse_content_range(
    header: str | None, offset: str | None
) -> tuple[int, int | None, int | None]:
    """(start, end inclusive or None, total or None) from Content-Range or ?offset=."""
    if header:
        match = _CONTENT_RANGE.match(header.strip())
        if not match:
            raise ValidationError(
                {
                    "Content-Range": "must read 'bytes START-END/TOTAL' (END inclusive; "
                    "numbers of at most 19 digits)"
                }
            )
        start, end, total = (int(g) for g in match.groups())
        if end < start:
            raise ValidationError({"Content-Range": "END must not be before START"})
        return start, end, total
    if offset is not None and offset != "":
        if not re.fullmatch(NUMBER, offset):
            raise ValidationError({"offset": "must be a non-negative integer (at most 19 digits)"})
        return int(offset), None, None
    raise ValidationError(
        {"Content-Range": "send Content-Range: bytes START-END/TOTAL or ?offset=START"}
    )


def write_chunk(
    session: UploadSession,
    stream: IO[bytes],
    *,
    start: int,
    end: int | None = None,
    total: int | None = None,
) -> int:
    """Append one chunk read from `stream` at `start`; answer the new offset."""
    if session.complete:
        raise OffsetMismatch("this upload is complete already", session.offset)
    if total is not None and total != session.size:
        raise ValidationError(
            {"Content-Range": f"TOTAL {total} is not the declared size {session.size}"}
        )
    pipelined = _pipelined(stream)
    # A chunk stored in the background may still hold the offset back: one that starts
    # further on is read, then waits for it (the offset's update decides).
    if start < session.offset or (start > session.offset and not pipelined):
        raise OffsetMismatch(
            f"the upload stands at offset {session.offset}, not {start}: resume from there",
            session.offset,
        )
    if end is not None and end >= session.size:
        raise ValidationError(
            {"Content-Range": f"the chunk ends past the declared size of {session.size} bytes"}
        )
    # Read whole (at most CHUNK_SIZE bytes) before anything is locked or written.
    parts = _read_chunk(stream, limit=min(CHUNK_SIZE, session.size - start))
    size = sum(len(part) for part in parts)
    if not size:
        raise ValidationError({"body": "the chunk is empty"})
    if end is not None and size != end - start + 1:
        raise ValidationError(
            {"Content-Range": f"announces {end - start + 1} bytes but the body has {size}"}
        )
    if pipelined and _in_buffer(parts):
        job = background_writes.submit(lambda claimed: _append(session, start, parts, claimed))
        _hold_buffer(parts, job)
    else:
        _append(session, start, parts)
    session.offset = start + size
    return session.offset


def _append(
    session: UploadSession,
    start: int,
    parts: list[Any],
    claimed: Callable[[], None] | None = None,
) -> None:
    """Advance the offset, then store the chunk and keep the running hash, in one
    transaction: the row stays locked until the bytes are written, and a failed write
    leaves the offset where it was. `claimed()` is called once the offset is advanced."""
    size = sum(len(part) for part in parts)
    hashing = _RunningHash.resume(session, start, parts)
    try:
        with transaction.atomic():
            _commit_without_waiting_for_the_disk()
            # Advancing the offset locks the row, so the chunk is stored by one request
            # only: a concurrent one for the same offset waits, then finds the offset moved.
            advanced = UploadSession.objects.filter(
                pk=session.pk, offset=start, completed_at__isnull=True
            ).update(offset=start + size)
            if not advanced:
                current = UploadSession.objects.filter(pk=session.pk).first()
                if current is None:  # expired a moment ago
                    raise Http404("No such upload.")
                raise OffsetMismatch(  # another request was faster
                    f"the upload stands at offset {current.offset}, not {start}: resume from there",
                    current.offset,
                )
            if claimed is not None:
                claimed()
            _store_chunk(session, start, parts)
            if hashing is not None:
                # Kept before the commit, so the next chunk (which waits for the row)
                # finds it; should the commit fail, its offset no longer matches.
                hashing, kept = None, hashing
                kept.keep()
    except BaseException:
        if hashing is not None:
            hashing.abandon()
        raise


def _pipelined(stream: Any) -> bool:
    """Whether this chunk is stored in the background (registry.background_writes): one
    received from the WSGI server into a buffer of ours (under gunicorn), for a local
    file, with PostgreSQL, whose row lock makes the next chunk wait for this one's commit.
    The request then answers once the offset is advanced, and its thread receives the next
    chunk while this one goes to disk (bench/api.py: a 1 GiB upload, 520 -> 820 MiB/s).
    Completion, GET and the next chunk all wait for the row, so none sees an offset whose
    bytes are not written; a write that fails rolls its offset back, and the client, told
    the offset by the next request, sends the chunk again."""
    return (
        isinstance(stream, HttpRequest)
        and _body_readinto(stream) is not None
        and connection.vendor == "postgresql"
        and is_local(artifact_storage)
    )


def _commit_without_waiting_for_the_disk() -> None:
    """PostgreSQL: this transaction's commit does not wait for its WAL to reach the disk.

    A chunk's offset need not be durable when the chunk is answered: the upload is made
    durable as a whole when it completes (the object is fsynced, then the session's
    completion commits normally). Should the database lose the last offsets in a crash,
    the session stands at an earlier offset, and the client, told so, sends those chunks
    again (rewriting the same bytes). Waiting for the WAL's fsync here cost ~15 ms per
    8 MiB chunk, competing for the disk with the chunk's own write."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


class _RunningHash:
    """The SHA-256 of a local upload's bytes so far, kept by the process that received
    them, so that completion need not read the whole object back to hash it.

    Chunks arrive in order, and a client's keep-alive connection brings them all to one
    process: each chunk is hashed (in a thread, beside the write to disk; hashlib lets go
    of the GIL) into a copy of the state at the chunk's start offset, and the copy is kept
    at the new offset once the chunk's offset has committed. A state whose offset is not
    the session's (another process took a chunk, a write failed) is dropped, and
    completion falls back to reading the object back. Bounded, oldest dropped first.
    """

    _states: OrderedDict[Any, tuple[int, Any]] = OrderedDict()
    _lock = threading.Lock()
    MAX_STATES = 64

    def __init__(self, session_id: Any, end: int, digest: Any, parts: list[bytes]) -> None:
        self.session_id, self.end, self.digest = session_id, end, digest
        self.thread = threading.Thread(target=self._update, args=(parts,), name="upload-hash")
        self.thread.start()

    def _update(self, parts: list[bytes]) -> None:
        for part in parts:
            self.digest.update(part)

    @classmethod
    def resume(cls, session: UploadSession, start: int, parts: list[bytes]) -> _RunningHash | None:
        if not is_local(artifact_storage):
            return None  # remote parts are hashed once, as completion joins them
        with cls._lock:
            state = cls._states.pop(session.pk, None)
        if start == 0:
            digest = hashlib.sha256()
        elif state is not None and state[0] == start:
            digest = state[1]
        else:
            return None
        end = start + sum(len(part) for part in parts)
        return cls(session.pk, end, digest, parts)

    def keep(self) -> None:
        self.thread.join()
        with self._lock:
            self._states[self.session_id] = (self.end, self.digest)
            while len(self._states) > self.MAX_STATES:
                self._states.popitem(last=False)

    def abandon(self) -> None:
        self.thread.join()

    @classmethod
    def take(cls, session: UploadSession) -> str | None:
        """The hex digest of all `session.size` bytes, when this process hashed them all."""
        with cls._lock:
            state = cls._states.pop(session.pk, None)
        if state is None or state[0] != session.size:
            return None
        return state[1].hexdigest()

    @classmethod
    def forget(cls, session: UploadSession) -> None:
        with cls._lock:
            cls._states.pop(session.pk, None)


def _read_chunk(stream: IO[bytes], limit: int) -> list[Any]:
    """At most `limit` bytes (a chunk is bounded by CHUNK_SIZE); one more byte is an error:
    TooLarge past CHUNK_SIZE, else (the upload's end) invalid.

    Where the body can be read into a buffer (`_body_readinto`), it is received straight
    into this thread's page-aligned buffer, which the O_DIRECT write then takes as it is:
    no allocations and one copy fewer (uploads ran ~25% faster under gunicorn). Otherwise
    the large reads are kept as they came: joining them would copy the chunk once more."""
    readinto = _body_readinto(stream)
    if readinto is not None:
        view = memoryview(_free_buffer())[:limit]
        size = 0
        while size < limit and (n := readinto(view[size:])):
            size += n
        if size == limit and readinto(bytearray(1)):
            _too_long(limit)
        return [view[:size]] if size else []
    parts: list[Any] = []
    size = 0
    while data := stream.read(min(_READ_SIZE, limit + 1 - size)):
        parts.append(data)
        size += len(data)
        if size > limit:
            _too_long(limit)
    return parts


def _too_long(limit: int) -> None:
    if limit >= CHUNK_SIZE:
        raise TooLarge(
            f"the chunk is over the {CHUNK_SIZE:,}-byte chunk limit: send it in parts", "body"
        )
    raise ValidationError({"body": "the chunk runs past the upload's declared size"})


def _body_readinto(stream: Any) -> Callable[[memoryview], int] | None:
    """`readinto` for the request body, bounded by its Content-Length, or None.

    A Django request's own stream has none, but the WSGI server's input may (gunicorn's,
    with config/gunicorn_reads.py; runserver's has none and is read as before): it is
    used only while nothing has read the body through Django (which would have taken
    bytes from it), and never asked for more than the Content-Length left, so it cannot
    wait for bytes past the body. Any other stream (a file, BytesIO) is read into
    directly when it can be."""
    if not isinstance(stream, HttpRequest):
        return getattr(stream, "readinto", None)
    raw = stream.META.get("wsgi.input")
    readinto = getattr(raw, "readinto", None)
    if readinto is None or getattr(stream, "_read_started", True):
        return None
    left = int(stream.META.get("CONTENT_LENGTH") or 0)

    def bounded(view: memoryview) -> int:
        nonlocal left
        n = readinto(view[: min(len(view), left)]) if left else 0
        left -= n or 0
        return n or 0

    return bounded


def _free_buffer() -> mmap.mmap:
    """A page-aligned buffer of CHUNK_SIZE bytes (O_DIRECT needs aligned memory) of this
    thread's, not holding a chunk still to be stored. A thread has two at most: one
    receives a chunk while the other's goes to disk in the background; one alone serves
    a thread whose chunks are stored before it answers."""
    held: list[tuple[mmap.mmap, Any]] = getattr(_direct_buffers, "held", None) or []
    _direct_buffers.held = held
    for i, (buffer, job) in enumerate(held):
        if job is None or job.done.is_set():
            held[i] = (buffer, None)
            return buffer
    if len(held) < 2:
        held.append((mmap.mmap(-1, CHUNK_SIZE), None))
        return held[-1][0]
    buffer, job = held[0]
    job.done.wait()  # both hold chunks being stored (a claim comes after the write before)
    held[0] = (buffer, None)
    return buffer


def _in_buffer(parts: list[Any]) -> bool:
    """Whether the chunk was received into one of the buffers (_read_chunk)."""
    return (
        len(parts) == 1 and isinstance(parts[0], memoryview) and isinstance(parts[0].obj, mmap.mmap)
    )


def _hold_buffer(parts: list[Any], job: Any) -> None:
    """The chunk's buffer is not free until `job` has stored it."""
    held = _direct_buffers.held
    for i, (buffer, _job) in enumerate(held):
        if parts[0].obj is buffer:
            held[i] = (buffer, job)


def _part_name(session: UploadSession, start: int) -> str:
    return f"{session.temp_name}.parts/{start:020d}"


def _store_chunk(session: UploadSession, start: int, parts: list[Any]) -> None:
    if is_local(artifact_storage):
        path = artifact_storage.path(session.temp_name)
        end = start + sum(len(part) for part in parts)
        written = _write_direct(path, start, parts)
        with open(path, "r+b") as fh:
            if written < end - start:  # the unaligned tail, or everything (no O_DIRECT)
                skip = written
                fh.seek(start + written)
                for part in parts:
                    if skip >= len(part):
                        skip -= len(part)
                        continue
                    fh.write(memoryview(part)[skip:])
                    skip = 0
            fh.truncate(end)  # drop whatever a broken earlier write left past the chunk
        return
    name = _part_name(session, start)
    if artifact_storage.exists(name):  # left by a write whose offset was never recorded
        artifact_storage.delete(name)
    saved = artifact_storage.save(name, ContentFile(b"".join(parts)))
    if saved != name:
        raise RuntimeError(f"storage stored part {name} as {saved}")


# Local chunks are written with O_DIRECT where the file system takes it: straight to the
# disk, without first filling the page cache with a gigabyte of dirty pages that the kernel
# then makes the writer wait on (on this kind of machine buffered writes of fresh pages ran
# at a third of the disk's speed), and completion's fsync has (almost) nothing left to do.
# O_DIRECT wants the offset, length and memory aligned to the block size: the chunk is
# copied into a page-aligned buffer (one per thread, reused), and a tail that is not a
# whole block (the last chunk) is written through the page cache.
_DIRECT_ALIGN = 4096
_direct_buffers = threading.local()
_direct_unsupported: set[str] = set()  # directories whose file system refused O_DIRECT


def _write_direct(path: str, start: int, parts: list[Any]) -> int:
    """Write the chunk's whole blocks at `start` with O_DIRECT; answer how many bytes were
    written (0 where O_DIRECT is not available; the caller writes the rest)."""
    flag = getattr(os, "O_DIRECT", 0)
    size = sum(len(part) for part in parts)
    aligned = size - size % _DIRECT_ALIGN
    folder = os.path.dirname(path)
    if not flag or start % _DIRECT_ALIGN or not aligned or folder in _direct_unsupported:
        return 0
    received = _in_buffer(parts)  # into a buffer already (_read_chunk): nothing to copy
    buffer = parts[0].obj if received else _free_buffer()
    view = memoryview(buffer)
    try:
        position = 0
        if received:
            parts = []
            position = aligned
        for part in parts:
            take = min(len(part), aligned - position)
            if take <= 0:
                break
            view[position : position + take] = memoryview(part)[:take]
            position += take
        try:
            fd = os.open(path, os.O_WRONLY | flag)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            _direct_unsupported.add(folder)  # e.g. tmpfs
            return 0
        try:
            done = 0
            while done < aligned:
                try:
                    n = os.pwrite(fd, view[done:aligned], start + done)
                except OSError as exc:
                    if exc.errno != errno.EINVAL:
                        raise
                    if not done:
                        _direct_unsupported.add(folder)
                    return done  # the page cache path writes the rest
                if n <= 0 or n % _DIRECT_ALIGN:
                    break  # a short write: the page cache path writes the rest
                done += n
            return done
        finally:
            os.close(fd)
    finally:
        view.release()


def complete_upload(session: UploadSession) -> UploadSession:
    """Verify the whole upload against its declared hash; keep it staged for attaching."""
    session = get_upload(session.created_by_id, session.pk, settled=True)
    if session.complete:
        return session
    if session.offset != session.size:
        raise OffsetMismatch(
            f"the upload has {session.offset} of {session.size} bytes; send the rest first",
            session.offset,
        )
    if is_local(artifact_storage):
        hashed = _RunningHash.take(session)
        try:
            if hashed is not None:  # hashed as the chunks came: only the flush is left
                artifacts.fsync_staged(session.temp_name)
                digest, size = hashed, os.path.getsize(artifact_storage.path(session.temp_name))
            else:
                digest, size = artifacts.hash_durably(session.temp_name)
        except FileNotFoundError:  # expired while we were called
            raise Http404("No such upload.") from None
        temp_name = session.temp_name
    else:
        staged = _concatenate_parts(session)
        digest, size, temp_name = staged.sha256, staged.size, staged.temp_name
    if digest != session.sha256 or size != session.size:
        if temp_name != session.temp_name:
            artifact_storage.delete(temp_name)
        discard_upload(session)
        raise ChecksumMismatch(
            f"the uploaded bytes hash to {digest}, not the declared {session.sha256}; "
            "the upload was discarded"
        )
    updated = UploadSession.objects.filter(pk=session.pk, completed_at__isnull=True).update(
        completed_at=timezone.now(), temp_name=temp_name
    )
    if not updated:  # completed by a concurrent request: keep its object, drop ours
        if temp_name != session.temp_name:
            artifact_storage.delete(temp_name)
        return UploadSession.objects.get(pk=session.pk)
    if temp_name != session.temp_name:
        _delete_parts(session)
    session.refresh_from_db()
    return session


class _Concatenated:
    """A read-only stream over a session's part objects, in offset order."""

    def __init__(self, names: list[str]) -> None:
        self.names, self.index, self.current = names, 0, None

    def read(self, size: int = -1) -> bytes:
        """Like a file: `size` bytes unless the end comes first (boto3's uploader takes a
        short read for the end of the stream), across part boundaries."""
        data: list[bytes] = []
        wanted = size
        while self.index < len(self.names) and (size < 0 or wanted > 0):
            if self.current is None:
                self.current = artifact_storage.open(self.names[self.index], "rb")
            chunk = self.current.read(wanted if size >= 0 else -1)
            if not chunk:
                self.current.close()
                self.current, self.index = None, self.index + 1
                continue
            data.append(chunk)
            wanted -= len(chunk)
        return b"".join(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        if (offset, whence) != (0, 0):
            raise OSError("can only rewind")
        if self.current is not None:
            self.current.close()
        self.current, self.index = None, 0
        return 0


def _part_names(session: UploadSession) -> list[str]:
    folder = f"{session.temp_name}.parts"
    try:
        _dirs, files = artifact_storage.listdir(folder)
    except (FileNotFoundError, NotImplementedError):
        return []
    return [f"{folder}/{name}" for name in sorted(files)]


def _concatenate_parts(session: UploadSession) -> artifacts.StagedBlob:
    return artifacts.stage_blob(_Concatenated(_part_names(session)), "upload")  # type: ignore[arg-type]


def _delete_parts(session: UploadSession) -> None:
    for name in _part_names(session):
        artifact_storage.delete(name)


def discard_upload(session: UploadSession) -> None:
    """Delete a session's row, then its bytes (a chunk being written holds the row's lock,
    so the delete waits for it; a later chunk finds no session)."""
    UploadSession.objects.filter(pk=session.pk).delete()
    _RunningHash.forget(session)
    _delete_parts(session)
    if artifact_storage.exists(session.temp_name):
        artifact_storage.delete(session.temp_name)


def expire_uploads(now: dt.datetime | None = None, max_age: dt.timedelta = UPLOAD_MAX_AGE) -> int:
    """Delete sessions older than max_age with their bytes (a periodic task calls this)."""
    cutoff = (now or timezone.now()) - max_age
    count = 0
    for session in UploadSession.objects.filter(created_at__lt=cutoff).order_by("created_at"):
        discard_upload(session)
        count += 1
    return count


# --- attaching --------------------------------------------------------------------------


def known_blobs(user: Any, hashes: Iterable[str]) -> list[str]:
    """Of `hashes`, those the user may name in a version's files without uploading them:
    a completed live upload of the user's own, or a blob stored for one of the user's
    teams (stored_blobs). Never another user's upload."""
    wanted = _valid_hashes(hashes)
    if not wanted:
        return []
    uploaded = live_uploads(user).filter(sha256__in=wanted, completed_at__isnull=False)
    found = set(uploaded.values_list("sha256", flat=True))
    return sorted(found | set(stored_blobs(user, wanted - found)))


def stored_blobs(user: Any, hashes: Iterable[str]) -> list[str]:
    """Of `hashes`, those stored as an artifact of a version of one of the user's own
    teams, in hot storage (archived bytes are uploaded again, which brings them back hot).
    Only the user's teams: an `internal` model of another team is readable, but whether
    its bytes exist here is not this call's to tell; those are simply uploaded again."""
    wanted = _valid_hashes(hashes)
    if not wanted:
        return []
    found = (
        Artifact.objects.filter(blob_id__in=wanted, blob__location=BlobLocation.HOT)
        .filter(teams_q(user, Action.VIEW, "version__model__team"))
        .values_list("blob_id", flat=True)
        .distinct()
    )
    return sorted(set(found))


def _valid_hashes(hashes: Iterable[str]) -> set[str]:
    return {h.lower() for h in hashes if isinstance(h, str) and SHA256_RE.match(h.lower())}


def claim_blobs(
    actor: Any, refs: Sequence[tuple[str, str]]
) -> tuple[list[artifacts.StagedBlob], list[tuple[str, Blob]], QuerySet[UploadSession]]:
    """Resolve (path, sha256) pairs inside the registering transaction.

    A completed upload of the actor is preferred (locked, so two registrations cannot
    both consume it); otherwise a blob one of the actor's teams holds (stored_blobs).
    Returns the staged uploads (aligned with their paths by the caller), the already-stored
    blobs with their paths, and the sessions to delete once the version exists. Anything else is a
    ValidationError on "files".
    """
    shas = sorted({sha for _path, sha in refs})
    sessions: dict[str, UploadSession] = {}
    for session in (
        UploadSession.objects.select_for_update()
        .filter(created_by=actor, sha256__in=shas, completed_at__isnull=False)
        .order_by("pk")
    ):
        if session.sha256 not in sessions and artifact_storage.exists(session.temp_name):
            sessions[session.sha256] = session
    known = set(stored_blobs(actor, [s for s in shas if s not in sessions]))
    # Locked and still hot: an archive job cannot move them before this version commits.
    blobs = {
        b.sha256: b
        for b in Blob.objects.select_for_update()
        .filter(sha256__in=known, location=BlobLocation.HOT)
        .order_by("sha256")
    }
    missing = [s for s in shas if s not in sessions and s not in blobs]
    if missing:
        raise ValidationError(
            {
                "files": [
                    f"sha256 {sha} is neither a completed upload of yours nor a stored blob "
                    "of your teams: upload it first"
                    for sha in missing
                ]
            }
        )
    # Not marked durable: promotion fsyncs the bytes again, cheaply, as completion flushed
    # them already (sessions completed before completion flushed are covered too).
    staged = [
        artifacts.StagedBlob(sha, sessions[sha].size, sessions[sha].temp_name) for sha in sessions
    ]
    existing = [(path, blobs[sha]) for path, sha in refs if sha not in sessions]
    used = UploadSession.objects.filter(pk__in=[s.pk for s in sessions.values()])
    return staged, existing, used


def staged_for(
    refs: Sequence[tuple[str, str]], staged: list[artifacts.StagedBlob]
) -> list[tuple[str, artifacts.StagedBlob]]:
    """(path, staged upload) for each ref whose bytes come from an upload session."""
    by_sha = {s.sha256: s for s in staged}
    return [(path, by_sha[sha]) for path, sha in refs if sha in by_sha]
