"""Archiving and restoring versions' blobs: reference counting, idempotent jobs, downloads
of archived files (409), restore from the page and the API, corrupt archive copies."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from unittest import mock

import pytest
from django.urls import reverse

from accounts import tokens
from registry import archiving, services
from registry.models import Blob, BlobLocation, Job, JobKind, JobState, blob_storage_name
from registry.storage import archive_storage, artifact_storage

pytestmark = pytest.mark.django_db

WEIGHTS = b"w" * 3_000_000
SHARED = b"shared tokenizer"


@pytest.fixture(autouse=True)
def no_dispatch() -> Any:
    """Jobs are run by the tests themselves (the fault tests use real workers)."""
    with mock.patch("registry.archiving.dispatch") as dispatch:
        yield dispatch


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def run_jobs() -> None:
    for job in Job.objects.filter(state=JobState.QUEUED).order_by("pk"):
        archiving.run(job.pk)


def archive(version: Any, maintainer: Any) -> Job:
    services.apply_transition(version=version, to_stage="archived", actor=maintainer)
    job = Job.objects.get(version=version, kind=JobKind.ARCHIVE)
    run_jobs()
    job.refresh_from_db()
    return job


def where(data: bytes) -> tuple[str, bool, bool]:
    name = blob_storage_name(sha(data))
    blob = Blob.objects.get(pk=sha(data))
    return blob.location, artifact_storage.exists(name), archive_storage.exists(name)


def test_archiving_moves_unshared_blobs_and_keeps_shared_ones_hot(
    make_model, make_version, maintainer, no_dispatch, django_capture_on_commit_callbacks
):
    model = make_model()
    old = make_version(model, "1.0.0", files={"model.bin": WEIGHTS, "tok.json": SHARED})
    make_version(model, "1.1.0", files={"model2.bin": b"new", "tok.json": SHARED})
    with django_capture_on_commit_callbacks(execute=True):
        services.apply_transition(version=old, to_stage="archived", actor=maintainer)
    job = Job.objects.get(version=old)
    assert job.kind == JobKind.ARCHIVE and job.state == JobState.QUEUED
    assert no_dispatch.call_count == 1  # on commit
    run_jobs()
    job.refresh_from_db()
    assert job.state == JobState.DONE and job.attempts == 1
    assert job.progress_done == job.progress_total == len(WEIGHTS) + len(SHARED)
    assert where(WEIGHTS) == (BlobLocation.ARCHIVE, False, True)
    assert where(SHARED) == (BlobLocation.HOT, True, False)  # 1.1.0 still uses it
    with archive_storage.open(blob_storage_name(sha(WEIGHTS))) as fh:
        assert sha(fh.read()) == sha(WEIGHTS)
    blob = Blob.objects.get(pk=sha(WEIGHTS))
    assert blob.archive_verified_at and blob.archived_at
    assert archiving.is_archived(old)


def test_a_version_without_files_is_archived_without_a_job(
    make_model, make_version, maintainer, no_dispatch, django_capture_on_commit_callbacks
):
    model = make_model()
    bare = make_version(model, "1.0.0")
    with_files = make_version(model, "1.1.0", files={"model.bin": b"weights"})
    with django_capture_on_commit_callbacks(execute=True):
        services.apply_transition(version=bare, to_stage="archived", actor=maintainer)
        services.apply_transition(version=with_files, to_stage="archived", actor=maintainer)
    bare.refresh_from_db()
    assert bare.stage == "archived" and bare.cold_since is not None
    assert list(Job.objects.values_list("version_id", "kind")) == [(with_files.pk, JobKind.ARCHIVE)]
    assert no_dispatch.call_count == 1


def test_a_rerun_after_a_kill_copies_nothing_twice(make_model, make_version, maintainer):
    model = make_model()
    old = make_version(model, "1.0.0", files={"a.bin": b"a" * 10, "b.bin": b"b" * 10})
    services.apply_transition(version=old, to_stage="archived", actor=maintainer)
    job = Job.objects.get(version=old)
    # First attempt: a.bin copied and verified, then the worker "dies" before recording.
    real_copy = archiving._copy
    calls: list[str] = []

    def copy_then_die(src, dst, name, blob, progress, **kw):
        calls.append(blob.sha256)
        real_copy(src, dst, name, blob, progress, **kw)
        if len(calls) == 1:
            Blob.objects.filter(pk=blob.sha256).update(archive_verified_at=archiving.timezone.now())
            raise KeyboardInterrupt  # not an Exception: nothing catches it, like SIGKILL

    with mock.patch.object(archiving, "_copy", copy_then_die), pytest.raises(KeyboardInterrupt):
        archiving.run(job.pk)
    job.refresh_from_db()
    assert job.state == JobState.RUNNING
    assert artifact_storage.exists(blob_storage_name(calls[0]))  # nothing deleted yet
    # The stale sweep hands it out again; the second attempt skips the verified copy.
    Job.objects.filter(pk=job.pk).update(
        heartbeat_at=archiving.timezone.now() - archiving.stale_running() * 2
    )
    archiving.sweep_stale()
    job.refresh_from_db()
    assert job.state == JobState.QUEUED
    with mock.patch.object(archiving, "_copy", copy_then_die):
        archiving.run(job.pk)
    job.refresh_from_db()
    assert job.state == JobState.DONE and job.attempts == 2
    assert sorted(calls) == sorted({calls[0], *calls})  # each blob copied exactly once
    assert len(calls) == 2
    for data in (b"a" * 10, b"b" * 10):
        assert where(data) == (BlobLocation.ARCHIVE, False, True)


def test_download_of_an_archived_file_answers_409_then_restore_brings_it_back(
    client, make_model, make_version, maintainer
):
    model = make_model()
    old = make_version(model, "1.0.0", files={"model.bin": WEIGHTS})
    archive(old, maintainer)
    url = reverse("artifact-download", args=["fraud", "churn", "1.0.0", "model.bin"])
    client.force_login(maintainer)
    response = client.get(url)
    assert response.status_code == 409
    body = json.loads(response.content)
    assert body["error"]["code"] == "archived"
    assert body["error"]["message"] == "archived — request a restore"
    page = client.get(url, HTTP_ACCEPT="text/html")
    assert page.status_code == 409 and "archived — request a restore" in page.content.decode()
    detail = client.get(old.get_absolute_url()).content.decode()
    assert "Restore files" in detail and "Archived — 1 file" in detail
    # Restore through the API with a token.
    token, secret = tokens.create(maintainer, name="ops", scopes=["read", "write"])
    api = reverse("api:api-version-restore", args=["fraud", "churn", "1.0.0"])
    answer = client.post(api, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert answer.status_code == 202, answer.content
    job_id = answer.json()["job"]["id"]
    again = client.post(api, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert again.json()["job"]["id"] == job_id  # one job
    run_jobs()
    job = client.get(reverse("api:api-job", args=[job_id]), HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert job.json()["state"] == "done"
    assert where(WEIGHTS) == (BlobLocation.HOT, True, True)  # the archive copy is kept
    response = client.get(url)
    assert response.status_code == 200
    assert sha(b"".join(response.streaming_content)) == sha(WEIGHTS)
    old.refresh_from_db()
    assert old.cold_since is None and old.stage == "archived"
    assert client.post(api, HTTP_AUTHORIZATION=f"Bearer {secret}").json() == {
        "archived": False, "job": None,
    }  # fmt: skip


def test_restore_needs_a_maintainer(client, make_model, make_version, maintainer, contributor):
    model = make_model()
    old = make_version(model, "1.0.0", files={"model.bin": b"x"})
    archive(old, maintainer)
    client.force_login(contributor)
    url = reverse("version-restore", args=["fraud", "churn", "1.0.0"])
    assert client.post(url).status_code == 403
    api = reverse("api:api-version-restore", args=["fraud", "churn", "1.0.0"])
    assert client.post(api).status_code == 403
    client.force_login(maintainer)
    assert client.post(url).status_code == 302
    assert Job.objects.filter(kind=JobKind.RESTORE, state=JobState.QUEUED).count() == 1


def test_restore_of_a_corrupt_archive_copy_fails_loudly(
    make_model, make_version, maintainer, caplog
):
    model = make_model()
    old = make_version(model, "1.0.0", files={"model.bin": WEIGHTS})
    archive(old, maintainer)
    name = blob_storage_name(sha(WEIGHTS))
    with open(archive_storage.path(name), "r+b") as fh:
        fh.seek(1000)
        fh.write(b"X")
    job = archiving.request_restore(old, maintainer)
    archiving.run(job.pk)
    job.refresh_from_db()
    assert job.state == JobState.FAILED
    assert "corrupt" in job.last_error and sha(WEIGHTS) in job.last_error
    assert "corrupt" in caplog.text
    assert where(WEIGHTS) == (BlobLocation.ARCHIVE, False, True)  # hot untouched
    assert not any(artifact_storage.listdir("uploads")[1]) if artifact_storage.exists(
        "uploads") else True  # fmt: skip
    old.refresh_from_db()
    assert old.cold_since is not None and archiving.is_archived(old)


def test_leaving_archived_restores_automatically(make_model, make_version, maintainer):
    model = make_model()
    old = make_version(model, "1.0.0", files={"model.bin": b"m" * 100})
    archive(old, maintainer)
    services.apply_transition(version=old, to_stage="development", actor=maintainer)
    job = Job.objects.get(version=old, kind=JobKind.RESTORE)
    run_jobs()
    job.refresh_from_db()
    assert job.state == JobState.DONE
    assert where(b"m" * 100) == (BlobLocation.HOT, True, True)


def test_registering_the_bytes_of_an_archived_blob_brings_it_back_hot(
    make_model, make_version, maintainer
):
    model = make_model()
    old = make_version(model, "1.0.0", files={"model.bin": b"same bytes"})
    archive(old, maintainer)
    new = make_version(model, "2.0.0", files={"copy.bin": b"same bytes"})
    assert where(b"same bytes")[:2] == (BlobLocation.HOT, True)
    assert not archiving.is_archived(new)


def test_a_version_made_live_again_mid_job_stops_moving(make_model, make_version, maintainer):
    model = make_model()
    old = make_version(model, "1.0.0", files={"a.bin": b"a", "b.bin": b"b"})
    services.apply_transition(version=old, to_stage="archived", actor=maintainer)
    job = Job.objects.get(version=old)
    from registry.models import ModelVersion

    ModelVersion.objects.filter(pk=old.pk).update(cold_since=None)
    archiving.run(job.pk)
    assert where(b"a")[0] == where(b"b")[0] == BlobLocation.HOT


def test_retention_preview_and_sweep(make_model, make_version, maintainer, team):
    from registry import aliases

    model = make_model()
    versions = [make_version(model, f"1.{i}.0", files={"m.bin": bytes([i]) * 10}) for i in range(5)]
    aliases.set_alias(model=model, name="champion", version=versions[0], actor=maintainer)
    services.apply_transition(version=versions[1], to_stage="staging", actor=maintainer)
    preview = archiving.retention_preview(team, max_age_days=None, keep_last=2)
    # 1.4.0 and 1.3.0 are the newest two; 1.1.0 is in Staging, 1.0.0 holds an alias.
    assert [v.version for v in preview.versions] == ["1.2.0"]
    assert preview.count == 1 and preview.bytes == 10
    policy = archiving.save_retention_policy(team, maintainer, enabled=True, keep_last=2,
                                             max_age_days=None)  # fmt: skip
    assert policy.enabled
    assert archiving.retention_sweep() == 1
    sweep = Job.objects.get(kind=JobKind.RETENTION_SWEEP)
    assert sweep.state == JobState.DONE and sweep.progress_done == 1
    run_jobs()
    versions[2].refresh_from_db()
    assert versions[2].stage == "development" and versions[2].cold_reason == "retention"
    assert archiving.is_archived(versions[2])
    assert archiving.retention_preview(team, None, 2).count == 0  # cold: not selected again


def test_retention_by_age_skips_promoted_versions(make_model, make_version, maintainer, team):
    model = make_model()
    old = make_version(model, "1.0.0")
    promoted = make_version(model, "1.1.0")
    services.apply_transition(version=promoted, to_stage="staging", actor=maintainer)
    services.apply_transition(version=promoted, to_stage="development", actor=maintainer)
    from registry.models import ModelVersion

    ModelVersion.objects.update(
        created_at=archiving.timezone.now() - archiving.dt.timedelta(days=40)
    )
    preview = archiving.retention_preview(team, max_age_days=30, keep_last=None)
    assert [v.pk for v in preview.versions] == [old.pk]


def test_the_stale_sweep_requeues_copies_and_closes_interrupted_sweeps(team):
    old = archiving.timezone.now() - archiving.stale_running() * 2
    copy = Job.objects.create(kind=JobKind.ARCHIVE, team=team, state=JobState.RUNNING,
                              heartbeat_at=old)  # fmt: skip
    sweep = Job.objects.create(kind=JobKind.RETENTION_SWEEP, team=team, state=JobState.RUNNING,
                               heartbeat_at=old)  # fmt: skip
    fresh = Job.objects.create(kind=JobKind.RESTORE, team=team, state=JobState.RUNNING,
                               heartbeat_at=archiving.timezone.now())  # fmt: skip
    archiving.sweep_stale()
    states = dict(Job.objects.values_list("pk", "state"))
    assert states == {copy.pk: JobState.QUEUED, sweep.pk: JobState.FAILED,
                      fresh.pk: JobState.RUNNING}  # fmt: skip


def test_a_corrupt_hot_copy_is_never_archived_nor_deleted(make_model, make_version, maintainer):
    model = make_model()
    old = make_version(model, "1.0.0", files={"model.bin": WEIGHTS})
    name = blob_storage_name(sha(WEIGHTS))
    with open(artifact_storage.path(name), "r+b") as fh:
        fh.seek(2_000_000)
        fh.write(b"rot")
    job = archive(old, maintainer)
    assert job.state == JobState.FAILED and "corrupt" in job.last_error
    assert where(WEIGHTS) == (BlobLocation.HOT, True, False)  # nothing moved or deleted
    assert Blob.objects.get(pk=sha(WEIGHTS)).archive_verified_at is None
