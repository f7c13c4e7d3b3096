"""Lazy access to the storages named in settings.STORAGES, and streaming reads from them.

Two aliases: "artifacts" (hot blobs, uploads in flight) and "archive" (cold copies of
retired versions' blobs). Each is a local directory by default or an S3 bucket
(S3ArtifactStorage) when configured; see config/settings.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError
from django.core.files.storage import Storage, storages
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.functional import LazyObject, empty
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

CHUNK_SIZE = 1024 * 1024


class S3ArtifactStorage(S3Storage):
    """django-storages' S3 backend with reads that stream.

    `open()` on S3Storage spools the whole object into a temporary file (in memory unless
    AWS_S3_MAX_MEMORY_SIZE is set) before the first byte is read: fine for small files,
    not for multi-GiB model weights. `iter_range` issues one GET (ranged when asked) and
    yields the body as it arrives; `copy` is a server-side (multipart for large objects)
    copy, so promoting a staged upload never moves the bytes through this process.
    Writes already stream: `save()` hands the file to boto3's managed upload, which
    switches to multipart above `transfer_config`'s threshold (8 MiB by default).
    """

    def iter_range(self, name: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        params: dict[str, str] = {}
        if length == 0:
            return
        if start or length is not None:
            last = "" if length is None else str(start + length - 1)
            params["Range"] = f"bytes={start}-{last}"
        try:
            body = self.bucket.Object(self._key(name)).get(**params)["Body"]
        except ClientError as exc:
            if exc.response["ResponseMetadata"]["HTTPStatusCode"] == 416:
                return  # a start past the end reads nothing, as a file does
            raise
        try:
            yield from body.iter_chunks(CHUNK_SIZE)
        finally:
            body.close()

    def copy(self, source: str, target: str) -> None:
        extra = self.get_object_parameters(target)  # e.g. the archive's StorageClass
        self.bucket.copy(
            {"Bucket": self.bucket_name, "Key": self._key(source)},
            self._key(target),
            ExtraArgs=extra or None,
            Config=self.transfer_config,
        )

    def _key(self, name: str) -> str:
        return self._normalize_name(clean_name(name))


def iter_range(
    storage: Storage, name: str, start: int = 0, length: int | None = None
) -> Iterator[bytes]:
    """Yield a stored file's bytes (optionally `length` of them from `start`) in chunks,
    never holding the file in memory, whatever the backend."""
    if isinstance(storage, S3ArtifactStorage):
        yield from storage.iter_range(name, start, length)
        return
    with storage.open(name, "rb") as fh:
        if start:
            fh.seek(start)
        remaining = length
        while remaining is None or remaining > 0:
            chunk = fh.read(CHUNK_SIZE if remaining is None else min(CHUNK_SIZE, remaining))
            if not chunk:
                break
            if remaining is not None:
                remaining -= len(chunk)
            yield chunk


def is_local(storage: Storage) -> bool:
    """True for a file-system storage (the fsync/rename fast paths apply)."""
    try:
        storage.path("")
    except NotImplementedError:
        return False
    return True


class _NamedStorage(LazyObject):
    alias: str

    def _setup(self) -> None:
        self._wrapped = storages[self.alias]


class _ArtifactStorage(_NamedStorage):
    alias = "artifacts"


class _ArchiveStorage(_NamedStorage):
    alias = "archive"


artifact_storage: Storage = _ArtifactStorage()  # type: ignore[assignment]
archive_storage: Storage = _ArchiveStorage()  # type: ignore[assignment]


@receiver(setting_changed)
def _reset_on_storages_change(*, setting: str, **kwargs: Any) -> None:
    if setting == "STORAGES":
        for lazy in (artifact_storage, archive_storage):
            lazy._wrapped = empty  # type: ignore[attr-defined]
