"""Artifact files: safe paths, content-addressed blobs written with streaming hashes."""

from __future__ import annotations

import hashlib
import os
import posixpath
import threading
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File

from registry import storage
from registry.models import Blob, BlobLocation, blob_storage_name
from registry.storage import artifact_storage, is_local, iter_range

CHUNK_SIZE = storage.CHUNK_SIZE
MAX_PATH_LENGTH = 1024


def normalise_path(raw: str) -> str:
    """Return a clean relative POSIX path for an artifact, or raise ValidationError.

    Rejects anything that could escape the version's directory or mean different files on
    different systems: NUL and control characters, backslashes, absolute paths, drive
    letters, and '..' segments. Collapses './' and repeated slashes; NFC-normalises Unicode.
    """
    path = unicodedata.normalize("NFC", raw or "").strip()
    if not path:
        raise ValidationError("artifact path must not be empty", code="empty")
    # Cc: NUL and every C0/C1 control; Cf: invisible format characters such as the
    # right-to-left override, which can make one path look like another; Cs: lone
    # surrogates, which no file system or database encoding can store.
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in path):
        raise ValidationError(
            "artifact path must not contain NUL or control characters", code="control"
        )
    if "\\" in path:
        raise ValidationError(
            f"artifact path {path!r} must use '/' separators, not backslashes", code="backslash"
        )
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        raise ValidationError(f"artifact path {path!r} must be relative", code="absolute")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if any(part == ".." for part in parts):
        raise ValidationError(
            f"artifact path {path!r} must not contain '..' segments", code="escape"
        )
    if not parts:
        raise ValidationError(f"artifact path {path!r} names no file", code="empty")
    clean = posixpath.join(*parts)
    if len(clean) > MAX_PATH_LENGTH:
        raise ValidationError(
            f"artifact path is longer than {MAX_PATH_LENGTH} characters", code="too_long"
        )
    return clean


def check_size(path: str, size: int) -> None:
    limit = settings.MODELGATE_MAX_ARTIFACT_BYTES
    if size > limit:
        raise ValidationError(
            f"artifact {path!r} is {size:,} bytes, over the limit of {limit:,} bytes "
            "(MODELGATE_MAX_ARTIFACT_BYTES)",
            code="too_large",
        )


@dataclass(frozen=True)
class StagedBlob:
    """An upload written to a private temporary object, hashed on the way in; `durable`
    when its bytes were fsynced after the last write (promotion fsyncs them otherwise)."""

    sha256: str
    size: int
    temp_name: str
    durable: bool = False


class _HashingReader:
    """Wraps a stream: hashes and counts what passes through, refuses bytes past the limit.

    Not seekable, so S3's multipart upload reads it once, in order (every byte hashed once).
    """

    closed = False

    def __init__(self, stream: IO[bytes], path: str) -> None:
        self.stream, self.path = stream, path
        self.digest, self.size = hashlib.sha256(), 0
        self.limit = settings.MODELGATE_MAX_ARTIFACT_BYTES

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size)
        self.digest.update(chunk)
        self.size += len(chunk)
        if self.size > self.limit:
            # Stop writing now; count the rest (without keeping it) to name the real size.
            self.size += sum(len(c) for c in iter(lambda: self.stream.read(CHUNK_SIZE), b""))
            check_size(self.path, self.size)
        return chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        if (offset, whence) != (0, 0):
            raise OSError("an upload can only be re-read from its start")
        self.digest, self.size = hashlib.sha256(), 0
        return self.stream.seek(0)

    def tell(self) -> int:
        return self.size

    def seekable(self) -> bool:
        return False


def hash_stream(stream: IO[bytes]) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    for chunk in iter(lambda: stream.read(CHUNK_SIZE), b""):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def stage_blob(stream: IO[bytes], path: str) -> StagedBlob:
    """Copy an upload into a private temporary object, hashing it in the same single pass.

    Memory stays constant whatever the size, and a stream over the size limit is cut off
    as soon as it crosses it. The object is durable (fsynced) when this returns, before
    any lock is taken. Nothing another request can see is touched until commit_blobs()
    runs inside the registering transaction.
    """
    stream.seek(0)
    reader = _HashingReader(stream, path)
    temp_name = f"uploads/{uuid.uuid4().hex}"
    try:
        temp_name = artifact_storage.save(temp_name, File(reader, name=temp_name))
        if is_local(artifact_storage):  # flushed now, not under the registration's locks
            _fsync(artifact_storage.path(temp_name))
    except BaseException:
        artifact_storage.delete(temp_name)
        raise
    return StagedBlob(reader.digest.hexdigest(), reader.size, temp_name, durable=True)


def hash_durably(name: str) -> tuple[str, int]:
    """(SHA-256, size) of a staged object on local storage, durable (fsynced) on return.

    The fsync runs in a thread while the bytes are hashed (both release the GIL): a file
    just written spends its flush to disk while it is read back, so the registration that
    promotes it later finds nothing left to flush."""
    local = artifact_storage.path(name)
    failed: list[BaseException] = []

    def flush() -> None:
        try:
            _fsync(local)
        except BaseException as exc:  # re-raised by the caller's thread
            failed.append(exc)

    with open(local, "rb") as fh:  # FileNotFoundError before the thread starts
        syncing = threading.Thread(target=flush, name="fsync-staged-blob")
        syncing.start()
        try:
            result = hash_stream(fh)
        finally:
            syncing.join()
    if failed:
        raise failed[0]
    return result


def fsync_staged(name: str) -> None:
    """Make a staged object on local storage durable (its bytes hashed already)."""
    _fsync(artifact_storage.path(name))


def commit_blobs(staged: list[StagedBlob]) -> None:
    """Give staged uploads their content address; call inside the registering transaction.

    Inserting the Blob rows first serialises concurrent writers of the same content (the
    primary key makes a second inserter wait for the first transaction to end), so no two
    requests ever decide about the same file at once. A file already at the address is
    reused when its row was committed before, or when its bytes hash right (an earlier
    crash after the copy); a torn file is replaced.
    """
    if not staged:
        return
    shas = {b.sha256: b for b in staged}
    # Existing rows are locked (in key order): an archive job moving one of these blobs
    # (registry.archiving) decides under the same lock, so it either sees this version's
    # reference or has finished, and an archived blob comes back hot below.
    locations = dict(
        Blob.objects.select_for_update()
        .filter(sha256__in=shas)
        .order_by("sha256")
        .values_list("sha256", "location")
    )
    committed = set(locations)
    Blob.objects.bulk_create(
        [Blob(sha256=b.sha256, size=b.size) for sha, b in shas.items() if sha not in committed],
        ignore_conflicts=True,
    )
    archived = [sha for sha, where in locations.items() if where == BlobLocation.ARCHIVE]
    for sha, blob in shas.items():
        name = blob_storage_name(sha)
        if artifact_storage.exists(name):
            if (sha in committed and sha not in archived) or _stored_digest(name) == sha:
                continue
            artifact_storage.delete(name)
        _promote(blob.temp_name, name, durable=blob.durable)
    if archived:  # the upload brought the bytes back to hot storage
        Blob.objects.filter(sha256__in=archived).update(location=BlobLocation.HOT)


def discard_staged(staged: list[StagedBlob]) -> None:
    """Delete the temporary objects (those promoted are gone already)."""
    for blob in staged:
        if artifact_storage.exists(blob.temp_name):
            artifact_storage.delete(blob.temp_name)


def _promote(temp_name: str, name: str, *, durable: bool = False) -> None:
    if not is_local(artifact_storage):  # S3: a server-side copy; the temp is deleted later
        artifact_storage.copy(temp_name, name)
        return
    source, target = artifact_storage.path(temp_name), artifact_storage.path(name)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    # Durable before the version commits: the bytes, then the rename (the directory).
    if not durable:
        _fsync(source)
    os.replace(source, target)  # atomic on one filesystem
    _fsync(os.path.dirname(target))


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _stored_digest(name: str) -> str:
    digest = hashlib.sha256()
    for chunk in iter_range(artifact_storage, name):
        digest.update(chunk)
    return digest.hexdigest()


def iter_blob(sha256: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
    """Yield a blob's bytes (optionally a range) in chunks, never holding the file in memory
    (a ranged GET on S3)."""
    return iter_range(artifact_storage, blob_storage_name(sha256), start, length)
