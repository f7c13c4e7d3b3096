"""Archiving under faults, with real PostgreSQL, Redis and Celery worker *processes*:
a worker SIGKILLed mid-copy, a dropped database connection, a corrupt archive copy, Redis
stopped (a private redis-server: the machine's shared one is never touched), and archive
plus restore against an S3 (moto) server."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.db import connection
from django.test import Client as DjangoClient
from django.utils import timezone

from accounts import tokens
from registry import archiving, services
from registry.models import Blob, BlobLocation, Job, JobKind, JobState, blob_storage_name
from registry.storage import archive_storage, artifact_storage

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
MIB = 1024**2
pytestmark = [
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL")
        or not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL)",
    ),
    pytest.mark.django_db(transaction=True),  # the worker processes must see the rows
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    db = connection.settings_dict  # the test database pytest-django created
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    return f"postgres://{db['USER']}{password}@{host}:{port}/{db['NAME']}"


def wait(what: str, check: Callable[[], Any], seconds: float = 60, log: Path | None = None) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
    pytest.fail(f"timed out waiting for {what}\n{tail}")


class Processes:
    """Worker (and web) subprocesses of one test, each in its own process group."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path, self.env = tmp_path, env
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], name: str, **env: str) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.tmp_path / f"{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                args, cwd=ROOT, env={**self.env, **env}, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        self.running.append(process)
        return process, log

    def worker(self, name: str, **env: str) -> tuple[subprocess.Popen[bytes], Path]:
        process, log = self.start(
            [str(VENV_BIN / "celery"), "-A", "config", "worker", "-Q", "archive", "--pool",
             "solo", "-n", f"{name}-{uuid.uuid4().hex[:6]}@%h", "--without-gossip",
             "--without-mingle", "--without-heartbeat", "-l", "info"],
            name, **env,
        )  # fmt: skip
        wait(f"{name} ready", lambda: b" ready." in log.read_bytes(), 60, log)
        return process, log

    def kill(self, process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        if process.poll() is None:
            os.killpg(process.pid, sig)
        process.wait(timeout=30)

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


@pytest.fixture
def var_dir(tmp_path: Path, settings: Any) -> Path:
    """One artifacts and one archive directory, shared by this process and the workers."""
    var = tmp_path / "var"
    var.mkdir()
    settings.STORAGES = {
        **settings.STORAGES,
        "artifacts": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                      "OPTIONS": {"location": var / "artifacts"}},
        "archive": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                    "OPTIONS": {"location": var / "archive"}},
    }  # fmt: skip
    return var


@pytest.fixture
def processes(tmp_path: Path, var_dir: Path) -> Iterator[Processes]:
    # Messages of earlier runs in this Redis database's archive queue are dropped.
    redis.Redis.from_url(os.environ["REDIS_URL"]).delete("archive")
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "MODELGATE_VAR_DIR": str(var_dir),
        "MODELGATE_JOB_RETRY_SECONDS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    running = Processes(tmp_path, env)
    try:
        yield running
    finally:
        running.stop_all()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def blobs_of(n: int, size: int) -> dict[str, bytes]:
    return {f"shard-{i}.bin": os.urandom(size) for i in range(n)}


def digest_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(MIB), b""):
            digest.update(chunk)
    return digest.hexdigest()


def job_of(version: Any, kind: str = JobKind.ARCHIVE) -> Job:
    return Job.objects.filter(version=version, kind=kind).latest("id")


def assert_never_deleted_unverified(files: dict[str, bytes]) -> None:
    """Every blob has a hot copy, or a recorded, verifying archive copy."""
    for data in files.values():
        name = blob_storage_name(sha(data))
        if not artifact_storage.exists(name):
            blob = Blob.objects.get(pk=sha(data))
            assert blob.archive_verified_at is not None, f"{name} deleted before verified"
            assert digest_of(Path(archive_storage.path(name))) == sha(data)


def assert_archived_exactly_once(files: dict[str, bytes], var: Path) -> None:
    for data in files.values():
        name = blob_storage_name(sha(data))
        blob = Blob.objects.get(pk=sha(data))
        assert blob.location == BlobLocation.ARCHIVE and blob.archive_verified_at
        assert not artifact_storage.exists(name), f"{name} is still hot"
        assert digest_of(Path(archive_storage.path(name))) == sha(data)
    stored = [p for p in (var / "archive").rglob("*") if p.is_file()]
    assert sorted(p.name for p in stored) == sorted(sha(d) for d in files.values()), stored
    leftovers = [p for p in (var / "artifacts").rglob("*") if p.is_file()]
    assert not leftovers, leftovers


def test_sigkill_mid_archive_then_a_new_worker_completes_it(
    processes, var_dir, make_model, make_version, maintainer
):
    files = blobs_of(4, 4 * MIB)
    version = make_version(make_model(), "1.0.0", files=files)
    first, log = processes.worker("first", MODELGATE_ARCHIVE_CHUNK_DELAY="0.15")
    services.apply_transition(version=version, to_stage="archived", actor=maintainer)
    job = wait("the copy to be under way", lambda: Job.objects.filter(
        pk=job_of(version).pk, state=JobState.RUNNING, progress_done__gte=6 * MIB).first(),
        60, log)  # fmt: skip
    processes.kill(first)  # SIGKILL: no clean-up, the message stays unacknowledged
    killed_at = Job.objects.get(pk=job.pk)
    assert killed_at.state == JobState.RUNNING and killed_at.progress_done < 16 * MIB
    assert_never_deleted_unverified(files)
    moved_before = Blob.objects.filter(location=BlobLocation.ARCHIVE).count()
    assert moved_before < 4

    # The beat sweep finds the job without a heartbeat and hands it to the new worker.
    _second, log2 = processes.worker("second")
    assert archiving.sweep_stale(timezone.now() + dt.timedelta(hours=1)) >= 1
    done = wait("the job to finish", lambda: Job.objects.filter(
        pk=job.pk, state__in=[JobState.DONE, JobState.FAILED]).first(), 60, log2)  # fmt: skip
    assert done.state == JobState.DONE, done.last_error
    assert done.attempts == 2 and done.progress_done == done.progress_total == 16 * MIB
    assert_archived_exactly_once(files, var_dir)


def test_a_dropped_database_connection_is_retried(
    processes, var_dir, make_model, make_version, maintainer
):
    files = blobs_of(2, 3 * MIB)
    version = make_version(make_model(), "1.0.0", files=files)
    _worker, log = processes.worker("dbdrop", MODELGATE_ARCHIVE_CHUNK_DELAY="0.3")
    services.apply_transition(version=version, to_stage="archived", actor=maintainer)
    job = wait("the copy to be under way", lambda: Job.objects.filter(
        pk=job_of(version).pk, state=JobState.RUNNING, progress_done__gt=0).first(),
        60, log)  # fmt: skip
    with connection.cursor() as cursor:  # every other session on the test database
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        assert cursor.fetchone()[0] >= 1
    done = wait("the job to finish", lambda: Job.objects.filter(
        pk=job.pk, state__in=[JobState.DONE, JobState.FAILED]).first(), 90, log)  # fmt: skip
    assert done.state == JobState.DONE, done.last_error
    assert done.attempts >= 2, "the task was retried after the connection dropped"
    assert b"retry" in log.read_bytes().lower()
    assert_archived_exactly_once(files, var_dir)


def test_restore_of_a_corrupt_archive_copy_fails_loudly_with_a_worker(
    processes, var_dir, make_model, make_version, maintainer
):
    files = blobs_of(2, MIB)
    version = make_version(make_model(), "1.0.0", files=files)
    _worker, log = processes.worker("corrupt")
    services.apply_transition(version=version, to_stage="archived", actor=maintainer)
    wait("archived", lambda: Job.objects.filter(pk=job_of(version).pk, state=JobState.DONE)
         .exists(), 60, log)  # fmt: skip
    bad = sorted(files.values(), key=sha)[1]
    path = Path(archive_storage.path(blob_storage_name(sha(bad))))
    with path.open("r+b") as fh:
        fh.seek(12345)
        fh.write(b"\x00corrupt\x00")
    job = archiving.request_restore(version, maintainer)
    failed = wait("the restore to end", lambda: Job.objects.filter(
        pk=job.pk, state__in=[JobState.DONE, JobState.FAILED]).first(), 60, log)  # fmt: skip
    assert failed.state == JobState.FAILED
    assert "corrupt" in failed.last_error and sha(bad) in failed.last_error
    assert b"corrupt" in log.read_bytes()  # logged as an error by the worker
    assert not artifact_storage.exists(blob_storage_name(sha(bad)))  # hot untouched
    assert not list((var_dir / "artifacts").rglob("*restore-*"))
    version.refresh_from_db()
    assert version.stage == "archived" and version.cold_since is not None
    assert Blob.objects.get(pk=sha(bad)).location == BlobLocation.ARCHIVE


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """A redis-server of this test only (never the machine's shared one), restartable."""
    binary = shutil.which("redis-server")
    if not binary:
        pytest.skip("redis-server is not installed")
    port = free_port()
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
             "no", "--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        started.append(process)
        client = redis.Redis(port=port, socket_timeout=1)
        wait("redis-server", lambda: _pings(client), 20)
        return process

    start.port = port  # type: ignore[attr-defined]
    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def test_with_redis_stopped_pages_and_api_work_and_jobs_wait(
    processes, private_redis, var_dir, make_model, make_version, maintainer, reviewer, tmp_path
):
    import requests
    from modelgate_client import Client

    server = private_redis()
    redis_url = f"redis://127.0.0.1:{private_redis.port}/0"
    model = make_model()
    old = make_version(model, "1.0.0", files={"model.bin": b"old weights" * 1000})
    port = free_port()
    web, web_log = processes.start(
        [str(VENV_BIN / "gunicorn"), "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2",
         "--timeout", "60"], "web", REDIS_URL=redis_url,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    wait("gunicorn", lambda: _answers(base), 60, web_log)
    server.terminate()  # Redis goes away
    server.wait(timeout=10)

    _token, secret = tokens.create(maintainer, name="ops", scopes=["read", "write"])
    _rtoken, rsecret = tokens.create(reviewer, name="review", scopes=["read", "review"])
    api = Client(base, secret, retries=0)
    local = tmp_path / "new.bin"
    local.write_bytes(b"new weights" * 1000)
    started = time.monotonic()
    registered = api.register_version("fraud", "churn", [local], "2.0.0", capture=False)
    assert registered["version"] == "2.0.0"
    assert time.monotonic() - started < 30
    # Archiving 1.0.0: the stage changes at once; its job cannot be enqueued and waits.
    api.change_stage("fraud", "churn", "1.0.0", "archived")
    opened = api.request_promotion("fraud", "churn", "2.0.0", "staging", "ready")
    Client(base, rsecret, retries=0).review(opened["id"], "approve", "fine")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {secret}"
    for path in ["/api/v1/models", "/api/v1/models/fraud/churn/versions",
                 "/api/v1/models/fraud/churn/versions/1.0.0", "/api/v1/requests"]:  # fmt: skip
        assert session.get(base + path, timeout=30).status_code == 200, path
    browser = requests.Session()  # signed in as the maintainer (a session row)
    signed_in = DjangoClient()
    signed_in.force_login(maintainer)
    browser.cookies.set("sessionid", signed_in.cookies["sessionid"].value)
    for path in ["/", "/models/", "/models/fraud/churn/", "/models/fraud/churn/versions/1.0.0/",
                 "/jobs/", "/reviews/", f"/reviews/{opened['id']}/"]:  # fmt: skip
        page = browser.get(base + path, timeout=30)
        assert page.status_code == 200 and "Sign in" not in page.text[:3000], path
    assert b"Internal Server Error" not in web_log.read_bytes()
    job = job_of(old)
    assert job.state == JobState.QUEUED  # waiting

    # Redis returns: a worker starts, the beat sweep hands the job over, it completes.
    private_redis()
    _worker, log = processes.worker("after-redis", REDIS_URL=redis_url)
    sweep = subprocess.run(
        [sys.executable, "-c", "import django, datetime; django.setup(); "
         "from django.utils import timezone; from registry import archiving; "
         "print(archiving.sweep_stale(timezone.now() + datetime.timedelta(hours=1)))"],
        cwd=ROOT, env={**processes.env, "REDIS_URL": redis_url}, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert sweep.returncode == 0, sweep.stderr
    done = wait("the job to finish", lambda: Job.objects.filter(
        pk=job.pk, state=JobState.DONE).first(), 60, log)  # fmt: skip
    assert done.state == JobState.DONE
    assert Blob.objects.get(pk=sha(b"old weights" * 1000)).location == BlobLocation.ARCHIVE


def _answers(base: str) -> bool:
    import requests

    try:
        return requests.get(base + "/accounts/login/", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_archive_and_restore_on_s3(s3, make_model, make_version, maintainer, monkeypatch):
    """Against the moto S3 server: streamed copy, verify, delete; then restore."""
    monkeypatch.setattr(archiving, "dispatch", lambda job_id: None)
    files = {"a.bin": os.urandom(9 * MIB), "b.bin": b"small"}
    version = make_version(make_model(), "1.0.0", files=files)
    services.apply_transition(version=version, to_stage="archived", actor=maintainer)
    job = job_of(version)
    archiving.run(job.pk)
    job.refresh_from_db()
    assert job.state == JobState.DONE, job.last_error
    for data in files.values():
        name = blob_storage_name(sha(data))
        assert not artifact_storage.exists(name) and archive_storage.exists(name)
        assert Blob.objects.get(pk=sha(data)).location == BlobLocation.ARCHIVE
    restore = archiving.request_restore(version, maintainer)
    archiving.run(restore.pk)
    restore.refresh_from_db()
    assert restore.state == JobState.DONE, restore.last_error
    for data in files.values():
        name = blob_storage_name(sha(data))
        with artifact_storage.open(name) as fh:
            assert sha(fh.read()) == sha(data)
    assert not artifact_storage.listdir("uploads")[1]  # no temporaries left
