"""Shared fixtures: personas (one user per role, an outsider, a site admin), a team, and
helpers that build models and versions through the same services the app uses."""

from __future__ import annotations

import io
import logging
import os
import shutil
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from accounts.models import Membership, Team, User
from registry import background_writes, services
from registry.metadata import clean_version_metadata
from registry.models import ModelVersion, RegisteredModel

CHROMIUM = "/usr/bin/chromium"
S3_KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, each worker process gets its own Redis database, as pytest-django
    gives it its own test database: REDIS_URL's database number plus the worker's index
    (gw0: REDIS_URL's, gw1: the next, ...). Otherwise a Celery worker started by one process's
    tests would take the messages the other's enqueue, for rows in the other's database, and
    they would share cache keys. os.environ is changed too, for the worker subprocesses some
    tests start with this environment."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    url = os.environ.get("REDIS_URL")
    if not worker or not url:
        return
    parts = urllib.parse.urlsplit(url)
    number = int(parts.path.strip("/") or 0) + int(worker.removeprefix("gw"))
    url = urllib.parse.urlunsplit(parts._replace(path=f"/{number}"))
    os.environ["REDIS_URL"] = url
    settings.REDIS_URL = settings.CELERY_BROKER_URL = url
    settings.CACHES = {
        **settings.CACHES,
        "default": {**settings.CACHES["default"], "LOCATION": url},
    }
    from config.celery import app

    app.conf.broker_url = url


def pytest_sessionstart(session: pytest.Session) -> None:
    """In CI (MODELGATE_REQUIRE_SERVICES=1) a missing service fails the run, never skips."""
    if os.environ.get("MODELGATE_REQUIRE_SERVICES") != "1":
        return
    problems = []
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        problems.append("DATABASE_URL must point at PostgreSQL")
    if not os.environ.get("REDIS_URL"):
        problems.append("REDIS_URL must be set")
    else:
        import redis

        try:
            redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=3).ping()
        except redis.RedisError as exc:
            problems.append(f"Redis at REDIS_URL does not answer: {exc}")
    try:
        import modelgate_client  # noqa: F401 -- the client tests must run, not skip
    except ImportError:
        problems.append("the Python client is not installed (make setup runs pip install ./client)")
    if not shutil.which(CHROMIUM):
        problems.append(f"Chromium is missing at {CHROMIUM} (apt-get install chromium)")
    if problems:
        pytest.exit("required services missing: " + "; ".join(problems), returncode=3)


FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def local_storages(root: Path) -> dict[str, Any]:
    """settings.STORAGES with the artifact and archive storages in directories under root."""
    return {
        **settings.STORAGES,
        "artifacts": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": root / "artifacts"},
        },
        "archive": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": root / "archive"},
        },
    }


@pytest.fixture(autouse=True)
def _test_settings(tmp_path: Path, settings: Any) -> None:
    """Fast password hashing, and each test gets its own artifact directory."""
    settings.PASSWORD_HASHERS = FAST_HASHERS
    # WhiteNoise finds static files when asked, as under `runserver`, instead of indexing all
    # of them in each new test Client's middleware (tens of milliseconds per test). Serving
    # them as production does (`make prod`) is tested in tests/registry/test_topology.py.
    settings.WHITENOISE_AUTOREFRESH = True
    settings.STORAGES = local_storages(tmp_path)


@pytest.fixture(autouse=True)
def _background_writer_disconnected() -> Iterator[None]:
    """Chunks stored in the background (registry.background_writes) leave no connection
    open: the test database is flushed, and finally dropped, after the test."""
    yield
    background_writes.close_connection()


@pytest.fixture(scope="session", autouse=True)
def _flush_by_delete() -> Iterator[None]:
    """After each transactional test (live servers, worker processes, threads), Django's flush
    empties every table; on PostgreSQL with one TRUNCATE of all of them, which replaces each
    table's and index's files (about 0.35 s each time, hundreds of times). DELETE of the
    few rows a test leaves takes a fifth of that, with the same result: empty tables. Our
    foreign keys are all DEFERRABLE INITIALLY DEFERRED, so the order of the DELETEs does not
    matter; a flush that resets sequences or cascades keeps Django's TRUNCATE."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    truncate = DatabaseOperations.sql_flush

    def sql_flush(
        self: Any, style: Any, tables: Any, *, reset_sequences: bool = False,
        allow_cascade: bool = False,
    ) -> list[str]:  # fmt: skip
        if reset_sequences or allow_cascade:
            return truncate(self, style, tables, reset_sequences=reset_sequences,
                            allow_cascade=allow_cascade)  # fmt: skip
        return [f"DELETE FROM {self.quote_name(table)};" for table in tables]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatabaseOperations, "sql_flush", sql_flush)
        yield


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3-compatible HTTP server (moto) on 127.0.0.1, one for the whole run."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per S3 request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint: str, settings: Any) -> dict[str, str]:
    """Both storage aliases on fresh S3 buckets, configured as production configures them."""
    import boto3

    from config.s3 import s3_storage

    suffix = uuid.uuid4().hex[:12]
    buckets = {"artifacts": f"artifacts-{suffix}", "archive": f"archive-{suffix}"}
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **S3_KEYS)
    for bucket in buckets.values():
        client.create_bucket(Bucket=bucket)
    common = {"endpoint_url": s3_endpoint, "region_name": "us-east-1", **S3_KEYS}
    settings.STORAGES = {
        **settings.STORAGES,
        "artifacts": s3_storage(buckets["artifacts"], "artifacts", **common),
        "archive": s3_storage(buckets["archive"], "archive", storage_class="STANDARD_IA", **common),
    }
    return buckets


@pytest.fixture(params=["files", "s3"])
def any_storage(request: pytest.FixtureRequest) -> str:
    """Runs a test once on local files and once on S3 (use it with `usefixtures`)."""
    if request.param == "s3":
        request.getfixturevalue("s3")
    return request.param


@pytest.fixture
def team(db: None) -> Team:
    return Team.objects.create(name="Fraud", slug="fraud")


@pytest.fixture
def other_team(db: None) -> Team:
    return Team.objects.create(name="Growth", slug="growth")


def _member(team: Team, username: str, role: str) -> User:
    user = User.objects.create_user(username, f"{username}@example.com", "pw-for-tests-only")
    Membership.objects.create(user=user, team=team, role=role)
    return user


@pytest.fixture
def maintainer(team: Team) -> User:
    return _member(team, "maintainer", Membership.Role.MAINTAINER)


@pytest.fixture
def reviewer(team: Team) -> User:
    return _member(team, "reviewer", Membership.Role.REVIEWER)


@pytest.fixture
def contributor(team: Team) -> User:
    return _member(team, "contributor", Membership.Role.CONTRIBUTOR)


@pytest.fixture
def viewer(team: Team) -> User:
    return _member(team, "viewer", Membership.Role.VIEWER)


@pytest.fixture
def outsider(other_team: Team) -> User:
    return _member(other_team, "outsider", Membership.Role.MAINTAINER)


@pytest.fixture
def site_admin(db: None) -> User:
    return User.objects.create_superuser("admin", "admin@example.com", "pw-for-tests-only")


@pytest.fixture
def make_model(team: Team, contributor: User) -> Callable[..., RegisteredModel]:
    def make(name: str = "churn", scheme: str = "semantic", **kwargs: Any) -> RegisteredModel:
        kwargs.setdefault("team", team)
        kwargs.setdefault("actor", contributor)
        return services.create_model(name=name, versioning_scheme=scheme, **kwargs)

    return make


@pytest.fixture
def make_version(contributor: User) -> Callable[..., ModelVersion]:
    """make_version(model, "1.0.0", metrics={...}, files={"model.bin": b"..."}, ...)"""

    def make(
        model: RegisteredModel,
        version: str | None = None,
        *,
        files: dict[str, bytes] | None = None,
        actor: User | None = None,
        **metadata: Any,
    ) -> ModelVersion:
        uploads = [
            services.ArtifactUpload(path, io.BytesIO(data)) for path, data in (files or {}).items()
        ]
        return services.register_version(
            model=model,
            actor=actor or contributor,
            version=version,
            metadata=clean_version_metadata(metadata),
            files=uploads,
        )

    return make


@pytest.fixture
def is_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
