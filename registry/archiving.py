"""Archiving and restoring versions' blobs, retention policies, and the jobs that do it.

    on_stage_change(version, from_stage, to_stage, actor)  the one hook apply_transition calls
    request_restore(version, actor) -> Job | None           a maintainer (page, API) asks
    run(job_id)                                             a Celery worker runs a job
    sweep_stale(now) / retention_sweep(now)                 Celery beat
    retention_preview(team, max_age_days, keep_last)        what a policy would archive

A version is *live* unless it is cold (`cold_since`): it entered Archived, or a retention
policy picked it (its stage then stays as it was). A blob moves to the archive storage
only when no live version references it, so deduplicated content stays hot while anything
live uses it. Per blob, an archive job:

  1. streams the hot copy into the archive storage under the same content-addressed key
     (constant memory, fsync for files), then reads the archive copy back and checks its
     SHA-256 and size; records `archive_verified_at`;
  2. under the blob's row lock, checks again that no live version uses it and records
     `location = archive`;
  3. under the row lock again, deletes the hot copy if the row still says archive.

Every step is idempotent: a job re-run after its worker was killed skips what is done (a
verified archive copy is never written twice) and nothing is deleted before step 1's
record. Registration takes the same row locks (registry.artifacts.commit_blobs), so a new
version uploading an archived blob's bytes brings the blob back hot, never loses it.

Restore streams each archived blob back into a temporary hot object, checks its SHA-256
(a corrupt archive copy fails the job with the reason; nothing is written in place),
moves it to its key and records `location = hot`. The archive copy is kept (so
archiving the version again costs no copy).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import hashlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q, Sum, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from accounts import audit
from accounts.models import Team
from accounts.policy import Action, require
from registry.errors import Conflict
from registry.models import (
    Artifact,
    Blob,
    BlobLocation,
    ColdReason,
    Job,
    JobKind,
    JobState,
    ModelVersion,
    RetentionPolicy,
    Stage,
    StageTransition,
    blob_storage_name,
)
from registry.models_jobs import ACTIVE_STATES
from registry.storage import CHUNK_SIZE, archive_storage, artifact_storage, is_local, iter_range

log = logging.getLogger(__name__)

STALE_QUEUED = dt.timedelta(minutes=1)  # enqueued, but no worker took it (broker down)
HEARTBEAT_EVERY = 1.0  # seconds between progress writes while copying


class CorruptCopy(Exception):
    """A copy's bytes do not hash to the blob's SHA-256: the job fails, nothing moves."""


class Interrupted(Exception):
    """A transient failure (database or storage connection): the job goes back to the
    queue and the task retries it."""


def stale_running() -> dt.timedelta:
    return dt.timedelta(seconds=settings.MODELGATE_JOB_STALE_SECONDS)


# ---------------------------------------------------------------------------------------
# Which versions are live, which blobs may move


def live_q(prefix: str = "") -> Q:
    return Q(**{f"{prefix}cold_since__isnull": True})


def _shared_with_live(sha256: str) -> bool:
    return Artifact.objects.filter(live_q("version__"), blob_id=sha256).exists()


def archived_blobs(version: ModelVersion) -> list[Blob]:
    return list(
        Blob.objects.filter(artifacts__version=version, location=BlobLocation.ARCHIVE)
        .distinct()
        .order_by("sha256")
    )


def is_archived(version: ModelVersion) -> bool:
    """True when any of the version's files is in the archive storage (downloads: 409)."""
    return Artifact.objects.filter(version=version, blob__location=BlobLocation.ARCHIVE).exists()


def active_job(version: ModelVersion) -> Job | None:
    return Job.objects.filter(version=version, state__in=ACTIVE_STATES).first()


def latest_job(version: ModelVersion) -> Job | None:
    return (
        Job.objects.filter(version=version, kind__in=[JobKind.ARCHIVE, JobKind.RESTORE])
        .order_by("-created_at", "-id")
        .first()
    )


# ---------------------------------------------------------------------------------------
# Triggers


def on_stage_change(version: ModelVersion, from_stage: str, to_stage: str) -> list[str]:
    """Called by services.apply_transition before it saves the version's new stage:
    entering Archived makes the version cold, leaving Archived live again. Returns the
    fields to save with the stage; `after_stage_saved` then enqueues the job."""
    if to_stage == Stage.ARCHIVED and version.cold_since is None:
        version.cold_since, version.cold_reason = timezone.now(), ColdReason.ARCHIVED
        return ["cold_since", "cold_reason"]
    if from_stage == Stage.ARCHIVED and version.cold_since is not None:
        version.cold_since = None
        return ["cold_since"]
    return []


def after_stage_saved(version: ModelVersion, from_stage: str, to_stage: str, actor: Any) -> None:
    """An archive job for a version entering Archived (dispatched on commit); a restore
    job for one leaving it, when some of its files were moved."""
    if to_stage == Stage.ARCHIVED:
        _ensure_job(version, JobKind.ARCHIVE, actor)
    elif from_stage == Stage.ARCHIVED and is_archived(version):
        _ensure_job(version, JobKind.RESTORE, actor)


def request_archive(version: ModelVersion, actor: Any, reason: str) -> Job | None:
    """Make a version cold and have its unshared blobs archived (retention)."""
    with transaction.atomic():
        _make_cold(version, reason)
        return _ensure_job(version, JobKind.ARCHIVE, actor)


def request_restore(version: ModelVersion, actor: Any) -> Job | None:
    """A maintainer asks for a cold version's files back: the version is live again at once
    (nothing else archives its blobs) and a restore job copies back what was moved.
    Returns the job (or the one already under way); None when every file is hot already."""
    require(actor, Action.MAINTAIN, version)
    with transaction.atomic():
        locked = ModelVersion.objects.select_for_update().get(pk=version.pk)
        current = active_job(locked)
        if current is not None and current.kind == JobKind.RESTORE:
            return current
        if current is not None:
            raise Conflict(
                "an archive job for this version is under way; request the restore when it "
                "has finished",
                "version",
            )
        if locked.cold_since is None and not is_archived(locked):
            return None
        ModelVersion.objects.filter(pk=locked.pk).update(cold_since=None)
        version.cold_since = None
        audit.record("version.restore", actor=actor, obj=locked, team=_team(locked),
                     changes={"cold_since": [str(locked.cold_since), None]})  # fmt: skip
        if not is_archived(locked):
            return None
        return _ensure_job(locked, JobKind.RESTORE, actor)


def _team(version: ModelVersion) -> Team:
    return Team.objects.get(models__pk=version.model_id)


def _make_cold(version: ModelVersion, reason: str) -> None:
    if version.cold_since is None:
        now = timezone.now()
        ModelVersion.objects.filter(pk=version.pk).update(cold_since=now, cold_reason=reason)
        version.cold_since, version.cold_reason = now, reason


def _ensure_job(version: ModelVersion, kind: str, actor: Any) -> Job | None:
    """The version's queued/running job, or a new one handed to the workers after commit.
    A job of the other kind under way is left to finish: it reconciles when it ends.

    Two queries: an insert that the one-active-job-per-version constraint turns into
    nothing when a job is under way (no savepoint needed), and the read of the job. A
    version without files has nothing to archive, so it gets no job (one query to know:
    a version's files are fixed when it is registered)."""
    if kind == JobKind.ARCHIVE and not Artifact.objects.filter(version=version).exists():
        return None
    user = actor if getattr(actor, "is_authenticated", False) else None
    team_id = version.model.team_id if "model" in version._state.fields_cache else None
    created_at = timezone.now()
    Job.objects.bulk_create(
        [Job(kind=kind, version=version, requested_by=user, created_at=created_at,
             team_id=team_id or _team(version).pk)],
        ignore_conflicts=True,
    )  # fmt: skip
    job = active_job(version)
    if job is None or job.kind != kind:
        return None
    if job.created_at == created_at:  # this call created it
        transaction.on_commit(lambda: dispatch(job.pk))
    return job


def _reconcile(version_id: int) -> None:
    """After a job ends: a live version with archived files gets a restore, a cold one
    with hot files only it uses gets an archive."""
    version = ModelVersion.objects.get(pk=version_id)
    if version.cold_since is None and is_archived(version):
        with transaction.atomic():
            _ensure_job(version, JobKind.RESTORE, None)
    elif version.cold_since is not None and _movable(version):
        with transaction.atomic():
            _ensure_job(version, JobKind.ARCHIVE, None)


def _movable(version: ModelVersion) -> bool:
    shared = Artifact.objects.filter(live_q("version__"), blob_id=OuterRef("blob_id"))
    return (
        Artifact.objects.filter(version=version, blob__location=BlobLocation.HOT)
        .filter(~Exists(shared))
        .exists()
    )


_deferred = threading.local()


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Within the block, new jobs are not handed to the workers (they stay queued): for
    batch commands such as seed_demo, which then call run_queued()."""
    _deferred.on = True
    try:
        yield
    finally:
        _deferred.on = False


def run_queued() -> int:
    """Run every queued archive/restore job here, now (after `deferred`); returns how many."""
    ran = 0
    for pk in Job.objects.filter(state=JobState.QUEUED).exclude(
        kind=JobKind.RETENTION_SWEEP).order_by("pk").values_list("pk", flat=True):  # fmt: skip
        with contextlib.suppress(Interrupted):
            run(pk)
        ran += 1
    return ran


def dispatch(job_id: int) -> None:
    if getattr(_deferred, "on", False):
        return
    from registry import tasks

    tasks.dispatch_job(job_id)


# ---------------------------------------------------------------------------------------
# Running a job


def run(job_id: int) -> None:
    """Claim a queued job and run it; a job another worker holds (or finished) is left.

    Raises Interrupted on a transient failure (the job is queued again for the retry)."""
    now = timezone.now()
    claimed = Job.objects.filter(pk=job_id, state=JobState.QUEUED).update(
        state=JobState.RUNNING, started_at=now, heartbeat_at=now, attempts=F("attempts") + 1
    )
    if not claimed:
        return
    job = Job.objects.select_related("version__model__team").get(pk=job_id)
    try:
        if job.kind == JobKind.ARCHIVE:
            _archive(job)
        elif job.kind == JobKind.RESTORE:
            _restore(job)
        else:
            raise ValueError(f"unknown job kind {job.kind!r}")
    except CorruptCopy as exc:
        log.error("%s failed: %s", job, exc)
        _finish(job, JobState.FAILED, str(exc))
        if job.kind == JobKind.RESTORE:  # it stays archived (cold) until a good restore
            ModelVersion.objects.filter(pk=job.version_id, cold_since__isnull=True).update(
                cold_since=timezone.now()
            )
        return
    except Exception as exc:
        # A dropped database connection, an unreachable storage, …: retried a few times.
        if job.attempts < settings.MODELGATE_JOB_MAX_ATTEMPTS:
            _requeue_after_error(job, exc)
            raise Interrupted(str(exc)) from exc
        log.exception("%s failed after %s attempts", job, job.attempts)
        _finish(job, JobState.FAILED, _describe(exc))
        return
    _finish(job, JobState.DONE, "")
    if job.version_id:
        _reconcile(job.version_id)


def _describe(exc: BaseException) -> str:
    return (f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__)[:2000]


def _requeue_after_error(job: Job, exc: BaseException) -> None:
    """Put the job back in the queue for the retry, on a fresh connection if the old one
    died (a dropped connection leaves it unusable)."""
    log.warning("%s interrupted (%s); it will be retried", job, _describe(exc))
    for _ in range(2):
        try:
            if isinstance(exc, DatabaseError):
                connection.close()
            Job.objects.filter(pk=job.pk, state=JobState.RUNNING).update(
                state=JobState.QUEUED, last_error=_describe(exc)
            )
            return
        except DatabaseError:
            connection.close()
            time.sleep(1)
    # The sweep finds it by its old heartbeat.


def _finish(job: Job, state: str, error: str) -> None:
    Job.objects.filter(pk=job.pk, state=JobState.RUNNING).update(
        state=state, last_error=error, finished_at=timezone.now(), heartbeat_at=timezone.now()
    )
    job.state = state


@dataclass
class _Progress:
    job: Job
    done: int = 0
    last_write: float = 0.0

    def add(self, n: int, force: bool = False) -> None:
        self.done += n
        now = time.monotonic()
        if force or now - self.last_write >= HEARTBEAT_EVERY:
            self.last_write = now
            Job.objects.filter(pk=self.job.pk).update(
                progress_done=self.done, heartbeat_at=timezone.now()
            )


def _version_blobs(job: Job) -> list[Blob]:
    return list(Blob.objects.filter(artifacts__version_id=job.version_id).distinct()
                .order_by("sha256"))  # fmt: skip


def _archive(job: Job) -> None:
    blobs = _version_blobs(job)
    total = sum(b.size for b in blobs)
    Job.objects.filter(pk=job.pk).update(progress_total=total, progress_done=0)
    progress = _Progress(job)
    for blob in blobs:
        if not ModelVersion.objects.filter(pk=job.version_id, cold_since__isnull=False).exists():
            break  # made live again (restore asked, left Archived): stop; _reconcile follows
        _archive_blob(blob.sha256, progress)
        progress.add(0, force=True)
    Job.objects.filter(pk=job.pk).update(progress_done=total)


def _archive_blob(sha256: str, progress: _Progress) -> None:
    blob = Blob.objects.get(pk=sha256)
    name = blob_storage_name(sha256)
    if blob.location == BlobLocation.ARCHIVE:
        _delete_hot_if_archived(sha256)  # a kill between record and delete left it
        progress.add(blob.size)
        return
    if _shared_with_live(sha256):
        progress.add(blob.size)  # a live version still uses it: it stays hot
        return
    if blob.archive_verified_at is None or not archive_storage.exists(name):
        _copy(artifact_storage, archive_storage, name, blob, progress,
              what=f"the archive copy of {name}")  # fmt: skip
        Blob.objects.filter(pk=sha256).update(archive_verified_at=timezone.now())
    else:
        progress.add(blob.size)  # copied and verified by an earlier attempt
    with transaction.atomic():
        locked = Blob.objects.select_for_update().get(pk=sha256)
        if locked.location != BlobLocation.HOT or locked.archive_verified_at is None:
            return
        if _shared_with_live(sha256):
            return
        Blob.objects.filter(pk=sha256).update(
            location=BlobLocation.ARCHIVE, archived_at=timezone.now()
        )
    _delete_hot_if_archived(sha256)


def _delete_hot_if_archived(sha256: str) -> None:
    with transaction.atomic():
        locked = Blob.objects.select_for_update().get(pk=sha256)
        if locked.location == BlobLocation.ARCHIVE and locked.archive_verified_at is not None:
            name = blob_storage_name(sha256)
            if artifact_storage.exists(name):
                artifact_storage.delete(name)


def _restore(job: Job) -> None:
    blobs = archived_blobs(job.version)
    total = sum(b.size for b in blobs)
    Job.objects.filter(pk=job.pk).update(progress_total=total, progress_done=0)
    progress = _Progress(job)
    for blob in blobs:
        _restore_blob(blob, progress)
        progress.add(0, force=True)


def _restore_blob(blob: Blob, progress: _Progress) -> None:
    name = blob_storage_name(blob.sha256)
    if not archive_storage.exists(name):
        raise CorruptCopy(f"the archive copy of blob {blob.sha256} ({name}) is missing")
    temp = f"uploads/restore-{uuid.uuid4().hex}"
    try:
        _copy(archive_storage, artifact_storage, temp, blob, progress, source_name=name,
              what=f"the archive copy of {name}")  # fmt: skip
        with transaction.atomic():
            locked = Blob.objects.select_for_update().get(pk=blob.sha256)
            if locked.location == BlobLocation.ARCHIVE:
                _put_in_place(artifact_storage, temp, name)
                Blob.objects.filter(pk=blob.sha256).update(
                    location=BlobLocation.HOT, restored_at=timezone.now()
                )
    finally:
        if artifact_storage.exists(temp):
            artifact_storage.delete(temp)


# ---------------------------------------------------------------------------------------
# Streamed, verified copies


def _counted(chunks: Iterator[bytes], progress: _Progress) -> Iterator[bytes]:
    """The chunks, counted into the job's progress; MODELGATE_ARCHIVE_CHUNK_DELAY seconds
    after each (test-only: fault tests slow copies down to kill them midway)."""
    delay = settings.MODELGATE_ARCHIVE_CHUNK_DELAY
    for chunk in chunks:
        yield chunk
        progress.add(len(chunk))
        if delay:
            time.sleep(delay)


class _Reader(IO[bytes]):
    """A file-like reader over chunks, for an upload that wants `read(n)`."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks, self._buffer = chunks, b""

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            out, self._buffer = self._buffer + b"".join(self._chunks), b""
            return out
        while len(self._buffer) < size:
            chunk = next(self._chunks, b"")
            if not chunk:
                break
            self._buffer = self._buffer + chunk if self._buffer else chunk
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False


def _copy(
    src: Storage,
    dst: Storage,
    name: str,
    blob: Blob,
    progress: _Progress,
    *,
    source_name: str | None = None,
    what: str = "",
) -> None:
    """Stream `source_name` (default `name`) of `src` to `name` of `dst` in constant
    memory, then check that the written copy hashes to the blob's SHA-256 and size
    (CorruptCopy otherwise; a corrupt source shows there too: the copy is byte for byte).

    Local targets are written beside, fsynced, renamed (and the directory fsynced); the
    written bytes are read back and hashed by a second thread as the file grows, so the
    check overlaps the copy. Object storage is read back after the upload."""
    chunks = _counted(iter_range(src, source_name or name), progress)
    what = what or name
    if is_local(dst):
        target = dst.path(name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        for stale in glob.glob(glob.escape(target) + ".partial-*"):  # a killed attempt's
            with contextlib.suppress(FileNotFoundError):
                os.unlink(stale)
        partial = f"{target}.partial-{uuid.uuid4().hex}"
        try:
            digest, size = _write_read_back(chunks, partial)
            _check(digest, size, blob, what)
            os.replace(partial, target)
            _fsync_dir(os.path.dirname(target))
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
        return
    # Object storage: boto3's managed (multipart) upload reads the stream once, in order.
    # `_save` writes under this exact key (content-addressed: the same bytes if it exists).
    dst._save(name, File(_Reader(chunks), name=name))  # type: ignore[attr-defined]
    _verify(dst, name, blob, what)


def _write_read_back(chunks: Iterator[bytes], path: str) -> tuple[str, int]:
    """Write the chunks to a new file and fsync it; meanwhile a second thread reads the
    file back from disk (what was written so far) and hashes it. Returns the SHA-256 and
    size of what was read back, once the fsync succeeded."""
    written = 0
    finished = False
    failed: list[BaseException] = []
    grown = threading.Condition()
    result: list[tuple[str, int]] = []

    def read_back() -> None:
        digest, done = hashlib.sha256(), 0
        try:
            with open(path, "rb") as fh:
                while True:
                    with grown:
                        while done >= written and not finished:
                            grown.wait()
                        limit, last = written, finished
                    while done < limit:
                        data = fh.read(min(CHUNK_SIZE, limit - done))
                        if not data:
                            raise OSError(f"{path} is shorter than what was written")
                        digest.update(data)
                        done += len(data)
                    if last and done >= limit:
                        break
            result.append((digest.hexdigest(), done))
        except BaseException as exc:  # re-raised by the writer's thread
            failed.append(exc)

    with open(path, "wb") as fh:
        reader = threading.Thread(target=read_back, name="archive-read-back", daemon=True)
        reader.start()
        try:
            for chunk in chunks:
                fh.write(chunk)
                fh.flush()  # in the file (page cache) for the reader
                with grown:
                    written += len(chunk)
                    grown.notify()
            os.fsync(fh.fileno())
        finally:
            with grown:
                finished = True
                grown.notify()
            reader.join()
    if failed:
        raise failed[0]
    return result[0]


def _verify(storage: Storage, name: str, blob: Blob, what: str = "") -> None:
    """Read a written copy back and check its SHA-256 and size (CorruptCopy if not)."""
    digest, size = hashlib.sha256(), 0
    for chunk in iter_range(storage, name):
        digest.update(chunk)
        size += len(chunk)
    _check(digest.hexdigest(), size, blob, what or name)


def _check(digest: str, size: int, blob: Blob, what: str) -> None:
    if digest != blob.sha256 or size != blob.size:
        raise CorruptCopy(
            f"{what} is corrupt: SHA-256 {digest} ({size:,} bytes), expected {blob.sha256} "
            f"({blob.size:,} bytes)"
        )


def _put_in_place(storage: Storage, temp: str, name: str) -> None:
    if is_local(storage):
        target = storage.path(name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.replace(storage.path(temp), target)
        _fsync_dir(os.path.dirname(target))
    else:
        storage.copy(temp, name)  # type: ignore[attr-defined]


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------
# Sweeps (Celery beat)


def sweep_stale(now: dt.datetime | None = None) -> int:
    """Hand again to the workers the jobs whose message was lost (broker down when they
    were enqueued) or whose worker died (no heartbeat for MODELGATE_JOB_STALE_SECONDS)."""
    now = now or timezone.now()
    stale_running_jobs = Job.objects.filter(
        state=JobState.RUNNING, heartbeat_at__lt=now - stale_running()
    )
    # A sweep interrupted midway is simply over: the next one selects what it left.
    stale_running_jobs.filter(kind=JobKind.RETENTION_SWEEP).update(
        state=JobState.FAILED, finished_at=now, last_error="interrupted (the worker stopped)"
    )
    stale_running_jobs.exclude(kind=JobKind.RETENTION_SWEEP).update(
        state=JobState.QUEUED, last_error="the worker stopped responding; requeued"
    )
    stale = list(
        Job.objects.filter(state=JobState.QUEUED, created_at__lt=now - STALE_QUEUED)
        .exclude(kind=JobKind.RETENTION_SWEEP)
        .order_by("created_at")
        .values_list("pk", flat=True)[:100]
    )
    for pk in stale:
        dispatch(pk)
    return len(stale)


@dataclass(frozen=True)
class Preview:
    versions: list[ModelVersion]
    count: int
    bytes: int


PREVIEW_LIMIT = 100


def retention_candidates(
    team: Team, max_age_days: int | None, keep_last: int | None, now: dt.datetime | None = None
) -> Any:
    """The live Development versions of the team a policy with these rules would archive;
    never one holding an alias or in Staging/Production (only Development is selected)."""
    now = now or timezone.now()
    rules = Q(pk__in=[])
    if max_age_days:
        promoted = StageTransition.objects.filter(
            version=OuterRef("pk"), to_stage__in=[Stage.STAGING, Stage.PRODUCTION]
        )
        rules |= Q(created_at__lt=now - dt.timedelta(days=max_age_days)) & ~Exists(promoted)
    if keep_last:
        ranked = (
            ModelVersion.objects.filter(model__team=team)
            .annotate(
                rank=Window(
                    RowNumber(), partition_by=[F("model_id")], order_by=F("sequence").desc()
                )
            )  # fmt: skip
            .filter(rank__gt=keep_last)
            .values("pk")
        )
        rules |= Q(pk__in=ranked)
    from registry.models import Alias

    return (
        ModelVersion.objects.filter(model__team=team, stage=Stage.DEVELOPMENT)
        .filter(live_q())
        .filter(~Exists(Alias.objects.filter(version=OuterRef("pk"))))
        .filter(rules)
    )


def retention_preview(team: Team, max_age_days: int | None, keep_last: int | None) -> Preview:
    """Which versions a policy would archive now and how many bytes would leave hot storage
    (blobs only they use)."""
    candidates = retention_candidates(team, max_age_days, keep_last)
    ids = candidates.values("pk")
    shared = Artifact.objects.filter(live_q("version__")).exclude(version__in=ids)
    moved = (
        Blob.objects.filter(location=BlobLocation.HOT, pk__in=Artifact.objects.filter(
            version__in=ids).values("blob_id"))
        .exclude(pk__in=shared.values("blob_id"))
        .aggregate(total=Sum("size"))["total"]
    )  # fmt: skip
    shown = list(
        candidates.select_related("model__team").order_by("model__name", "-sequence")[
            :PREVIEW_LIMIT
        ]
    )
    return Preview(shown, candidates.count(), moved or 0)


def retention_sweep(now: dt.datetime | None = None) -> int:
    """Apply every enabled retention policy: each run is a job row; each selected version
    turns cold and gets an archive job. Returns how many versions were selected."""
    now = now or timezone.now()
    selected = 0
    for policy in RetentionPolicy.objects.filter(enabled=True).select_related("team"):
        job = Job.objects.create(kind=JobKind.RETENTION_SWEEP, team=policy.team,
                                 state=JobState.RUNNING, started_at=now, heartbeat_at=now,
                                 attempts=1)  # fmt: skip
        try:
            versions = list(retention_candidates(policy.team, policy.max_age_days,
                                                 policy.keep_last, now))  # fmt: skip
            Job.objects.filter(pk=job.pk).update(progress_total=len(versions))
            for i, version in enumerate(versions, 1):
                with transaction.atomic():
                    audit.record("version.cold", obj=version, team=policy.team,
                                 changes={"cold_reason": [None, ColdReason.RETENTION]})  # fmt: skip
                    request_archive(version, None, ColdReason.RETENTION)
                Job.objects.filter(pk=job.pk).update(progress_done=i)
            selected += len(versions)
            RetentionPolicy.objects.filter(pk=policy.pk).update(last_swept_at=now)
        except Exception as exc:
            log.exception("retention sweep of %s failed", policy.team)
            _finish(job, JobState.FAILED, _describe(exc))
        else:
            _finish(job, JobState.DONE, "")
    return selected


def save_retention_policy(team: Team, actor: Any, **values: Any) -> RetentionPolicy:
    require(actor, Action.MAINTAIN, team)
    with transaction.atomic():
        policy, _created = RetentionPolicy.objects.select_for_update().get_or_create(team=team)
        before = {k: getattr(policy, k) for k in values}
        for key, value in values.items():
            setattr(policy, key, value)
        policy.updated_by = actor if getattr(actor, "is_authenticated", False) else None
        policy.full_clean()
        policy.save()
        changes = {k: [before[k], values[k]] for k in values if before[k] != values[k]}
        audit.record("retention_policy.save", actor=actor, obj=policy, team=team,
                     changes=changes)  # fmt: skip
    return policy


def retry(job: Job, actor: Any) -> bool:
    """Queue a failed archive or restore job again (the admin's action); False when it is
    not failed, is a sweep, or another job of its version is under way."""
    if job.state != JobState.FAILED or job.kind == JobKind.RETENTION_SWEEP:
        return False
    try:
        with transaction.atomic():
            if job.kind == JobKind.RESTORE:
                ModelVersion.objects.filter(pk=job.version_id).update(cold_since=None)
            updated = Job.objects.filter(pk=job.pk, state=JobState.FAILED).update(
                state=JobState.QUEUED, attempts=0, finished_at=None, started_at=None
            )
            audit.record("job.retry", actor=actor, obj=job, team=job.team,
                         changes={"state": [JobState.FAILED, JobState.QUEUED]})  # fmt: skip
    except IntegrityError:
        return False
    if updated:
        transaction.on_commit(lambda: dispatch(job.pk))
    return bool(updated)
