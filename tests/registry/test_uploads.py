"""registry.uploads: sessions, chunks, verification, expiry, and register_version(blobs=)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.handlers.wsgi import WSGIRequest
from django.core.management import call_command
from django.http import Http404
from django.test import RequestFactory
from django.utils import timezone

from registry import artifacts, services, uploads
from registry.metadata import clean_version_metadata
from registry.models import Artifact, Blob, ModelVersion, UploadSession, blob_storage_name
from registry.storage import artifact_storage

pytestmark = pytest.mark.django_db

DATA = bytes(range(256)) * 40  # 10 240 bytes
SHA = hashlib.sha256(DATA).hexdigest()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def send(session: UploadSession, data: bytes, step: int = 4000) -> None:
    for start in range(0, len(data), step):
        chunk = data[start : start + step]
        uploads.write_chunk(
            session, io.BytesIO(chunk), start=start, end=start + len(chunk) - 1, total=len(data)
        )


def completed(actor, data: bytes = DATA) -> UploadSession:
    session, _ = uploads.create_upload(actor=actor, sha256=sha(data), size=len(data))
    send(session, data)
    return uploads.complete_upload(session)


def register(model, actor, version, blobs, **kw):
    return services.register_version(
        model=model,
        actor=actor,
        version=version,
        metadata=clean_version_metadata({}),
        blobs=blobs,
        **kw,
    )


@pytest.fixture
def model(make_model):
    return make_model("churn")


def test_a_completed_upload_becomes_a_blob_only_when_attached(model, contributor):
    session = completed(contributor)
    assert session.complete and not Blob.objects.exists()
    mv = register(model, contributor, "1.0.0", [("w.bin", SHA)])
    artifact = Artifact.objects.get(version=mv)
    assert (artifact.path, artifact.blob_id, artifact.size) == ("w.bin", SHA, len(DATA))
    with artifact_storage.open(blob_storage_name(SHA), "rb") as fh:
        assert fh.read() == DATA
    assert not UploadSession.objects.exists()
    assert not artifact_storage.exists(session.temp_name)


def test_an_upload_of_content_stored_already_reuses_the_blob(
    model, contributor, make_version, django_capture_on_commit_callbacks
):
    make_version(model, "0.9.0", files={"old.bin": DATA})
    session = completed(contributor)
    with django_capture_on_commit_callbacks(execute=True):
        register(model, contributor, "1.0.0", [("w.bin", SHA)])
    assert Blob.objects.count() == 1 and Artifact.objects.filter(blob_id=SHA).count() == 2
    assert not artifact_storage.exists(session.temp_name)  # deleted on commit


def test_uploads_and_streams_together_and_path_clashes(model, contributor):
    completed(contributor)
    with pytest.raises(ValidationError) as exc:
        services.register_version(
            model=model,
            actor=contributor,
            version="1.0.0",
            metadata=clean_version_metadata({}),
            files=[services.ArtifactUpload("w.bin", io.BytesIO(b"x"))],
            blobs=[("w.bin", SHA)],
        )
    assert "unique" in str(exc.value.message_dict["files"])
    with pytest.raises(ValidationError) as exc:
        register(model, contributor, "1.0.0", [("d", SHA), ("d/w.bin", SHA)])
    assert "directory" in str(exc.value.message_dict["files"])
    mv = services.register_version(
        model=model,
        actor=contributor,
        version="1.0.0",
        metadata=clean_version_metadata({}),
        files=[services.ArtifactUpload("readme.txt", io.BytesIO(b"hi"))],
        blobs=[("w.bin", SHA)],
    )
    assert sorted(mv.artifacts.values_list("path", flat=True)) == ["readme.txt", "w.bin"]


def test_register_version_refuses_unknown_and_malformed_hashes(model, contributor):
    with pytest.raises(ValidationError) as exc:
        register(model, contributor, "1.0.0", [("w.bin", SHA)])
    assert "files" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        register(model, contributor, "1.0.0", [("w.bin", "abc")])
    assert "files" in exc.value.message_dict
    assert not ModelVersion.objects.exists() and not Blob.objects.exists()


def test_existing_callers_without_blobs_still_work(model, make_version):
    mv = make_version(model, "1.0.0", files={"a.bin": b"a"})
    assert mv.artifacts.get().blob_id == sha(b"a")


def test_chunks_must_arrive_in_order(contributor, model):
    session, _ = uploads.create_upload(actor=contributor, sha256=SHA, size=len(DATA))
    with pytest.raises(uploads.OffsetMismatch) as exc:
        uploads.write_chunk(session, io.BytesIO(DATA[10:20]), start=10)
    assert exc.value.offset == 0
    uploads.write_chunk(session, io.BytesIO(DATA[:10]), start=0)
    with pytest.raises(uploads.OffsetMismatch):
        uploads.write_chunk(session, io.BytesIO(DATA[:10]), start=0)  # a retry: already there
    assert UploadSession.objects.get().offset == 10


def test_a_stale_session_object_cannot_write_twice(contributor, model):
    session, _ = uploads.create_upload(actor=contributor, sha256=SHA, size=len(DATA))
    stale = UploadSession.objects.get(pk=session.pk)
    uploads.write_chunk(session, io.BytesIO(DATA[:10]), start=0)
    with pytest.raises(uploads.OffsetMismatch) as exc:  # a concurrent request lost the race
        uploads.write_chunk(stale, io.BytesIO(b"X" * 10), start=0)
    assert exc.value.offset == 10


def test_a_session_expired_meanwhile_answers_404(contributor, model):
    session, _ = uploads.create_upload(actor=contributor, sha256=SHA, size=len(DATA))
    uploads.expire_uploads(now=timezone.now() + dt.timedelta(days=2))
    with pytest.raises(Http404):
        uploads.write_chunk(session, io.BytesIO(DATA[:10]), start=0)
    session.offset = session.size
    with pytest.raises(Http404):
        uploads.complete_upload(session)


def test_checksum_mismatch_discards_everything(contributor, model):
    session, _ = uploads.create_upload(actor=contributor, sha256=sha(b"other"), size=len(DATA))
    send(session, DATA)
    with pytest.raises(uploads.ChecksumMismatch):
        uploads.complete_upload(session)
    assert not UploadSession.objects.exists()
    assert not artifact_storage.exists(session.temp_name)


def test_completion_flushes_the_upload_to_disk_while_hashing_it(contributor, model, monkeypatch):
    synced: list[str] = []
    real_fsync = artifacts._fsync
    monkeypatch.setattr(artifacts, "_fsync", lambda path: (synced.append(path), real_fsync(path)))
    session, _ = uploads.create_upload(actor=contributor, sha256=SHA, size=len(DATA))

    send(session, DATA)
    assert synced == []  # chunks are not flushed one by one
    uploads.complete_upload(session)

    assert synced == [artifact_storage.path(session.temp_name)]


def test_completion_fails_when_the_flush_fails(contributor, model, monkeypatch):
    session, _ = uploads.create_upload(actor=contributor, sha256=SHA, size=len(DATA))
    send(session, DATA)

    def broken(path: str) -> None:
        raise OSError(5, "Input/output error", path)

    monkeypatch.setattr(artifacts, "_fsync", broken)
    with pytest.raises(OSError):
        uploads.complete_upload(session)
    assert not UploadSession.objects.get().complete


def test_attaching_an_upload_makes_it_durable_before_the_rename(contributor, model, monkeypatch):
    session = completed(contributor)
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = artifacts._fsync, os.replace
    monkeypatch.setattr(
        artifacts, "_fsync", lambda path: (events.append(("fsync", path)), real_fsync(path))
    )
    monkeypatch.setattr(
        artifacts.os, "replace", lambda a, b: (events.append(("rename", b)), real_replace(a, b))
    )

    register(model, contributor, "1.0.0", [("model.bin", SHA)])

    target = artifact_storage.path(blob_storage_name(SHA))
    # Completion flushed the bytes already, so this fsync finds nothing left to write; it
    # stays for sessions completed by an older release.
    assert events == [
        ("fsync", artifact_storage.path(session.temp_name)),
        ("rename", target),
        ("fsync", os.path.dirname(target)),
    ]


def test_completing_twice_is_harmless(contributor, model):
    session = completed(contributor)
    assert uploads.complete_upload(session).complete


def test_an_empty_file_can_be_uploaded(contributor, model):
    session, _ = uploads.create_upload(actor=contributor, sha256=sha(b""), size=0)
    assert uploads.complete_upload(session).complete
    mv = register(model, contributor, "1.0.0", [("empty", sha(b""))])
    assert mv.artifacts.get().size == 0


def test_only_contributors_open_uploads(viewer, outsider, model):
    with pytest.raises(PermissionDenied):
        uploads.create_upload(actor=viewer, sha256=SHA, size=1)
    uploads.create_upload(actor=outsider, sha256=SHA, size=1)  # maintainer of their team


def test_open_uploads_per_user_are_bounded(contributor, model, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_OPEN_UPLOADS", 2)
    uploads.create_upload(actor=contributor, sha256=sha(b"1"), size=1)
    uploads.create_upload(actor=contributor, sha256=sha(b"2"), size=1)
    with pytest.raises(ValidationError) as refused:
        uploads.create_upload(actor=contributor, sha256=sha(b"3"), size=1)
    assert list(refused.value.message_dict) == ["uploads"]
    assert "2 uploads in progress" in str(refused.value)


def test_completed_unattached_uploads_have_their_own_bound(contributor, model, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_OPEN_UPLOADS", 1)
    monkeypatch.setattr(uploads, "MAX_COMPLETED_UPLOADS", 2)
    first, second = completed(contributor, b"one"), completed(contributor, b"two")
    with pytest.raises(ValidationError) as refused:
        uploads.create_upload(actor=contributor, sha256=SHA, size=len(DATA))
    assert list(refused.value.message_dict) == ["uploads"]
    assert "2 completed uploads not attached" in str(refused.value)
    # Still answered: the completed upload of those bytes, to attach.
    assert uploads.create_upload(actor=contributor, sha256=sha(b"one"), size=3) == (first, False)
    uploads.discard_upload(second)
    assert uploads.create_upload(actor=contributor, sha256=SHA, size=len(DATA))[1]


def test_opening_again_answers_the_furthest_live_session(contributor, maintainer, model):
    uploads.create_upload(actor=contributor, sha256=SHA, size=len(DATA))
    ahead = UploadSession.objects.create(  # left by an earlier version of the server
        created_by=contributor, sha256=SHA, size=len(DATA), offset=4000, temp_name="x"
    )
    assert uploads.create_upload(actor=contributor, sha256=SHA, size=len(DATA)) == (ahead, False)
    done = completed(maintainer)
    UploadSession.objects.filter(pk=done.pk).update(created_by=contributor)
    assert uploads.create_upload(actor=contributor, sha256=SHA, size=len(DATA)) == (done, False)


def test_known_blobs_answer_the_callers_own_completed_uploads(contributor, maintainer, model):
    done = completed(contributor, b"done")
    uploads.create_upload(actor=contributor, sha256=SHA, size=len(DATA))  # not completed
    shas = [sha(b"done"), SHA]
    assert uploads.known_blobs(contributor, shas) == [sha(b"done")]
    assert uploads.known_blobs(maintainer, shas) == []  # same team, another user
    # Known, so the client names it in files: attaching takes the upload.
    mv = register(model, contributor, "1.0.0", [("d.bin", sha(b"done"))])
    assert mv.artifacts.get().blob_id == sha(b"done")
    assert not UploadSession.objects.filter(pk=done.pk).exists()
    assert uploads.known_blobs(contributor, shas) == [sha(b"done")]  # now as a stored blob


def test_get_upload_hides_other_users_sessions(contributor, maintainer, model):
    session, _ = uploads.create_upload(actor=contributor, sha256=SHA, size=1)
    assert uploads.get_upload(contributor, str(session.pk)) == session
    for who, upload_id in ((maintainer, str(session.pk)), (contributor, "nope")):
        with pytest.raises(Http404):
            uploads.get_upload(who, upload_id)


def test_expire_uploads_deletes_old_sessions_and_their_bytes(contributor, model):
    old = completed(contributor)
    fresh, _ = uploads.create_upload(actor=contributor, sha256=sha(b"fresh"), size=len(DATA))
    UploadSession.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - dt.timedelta(hours=25)
    )
    assert uploads.expire_uploads() == 1
    assert list(UploadSession.objects.all()) == [fresh]
    assert not artifact_storage.exists(old.temp_name)
    assert artifact_storage.exists(fresh.temp_name)
    assert not Blob.objects.exists()


def test_celery_beat_sweeps_expired_uploads_every_hour(contributor, model, settings):
    from registry.tasks import expire_uploads

    entry = settings.CELERY_BEAT_SCHEDULE["expire-uploads"]
    assert (entry["task"], entry["schedule"]) == (expire_uploads.name, 3600)
    old, _ = uploads.create_upload(actor=contributor, sha256=SHA, size=len(DATA))
    UploadSession.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - dt.timedelta(hours=25)
    )
    assert expire_uploads.apply().get() == 1
    assert not UploadSession.objects.exists()
    assert not artifact_storage.exists(old.temp_name)


def test_remote_storage_writes_parts_and_concatenates_them(contributor, model, s3):
    session, _ = uploads.create_upload(actor=contributor, sha256=SHA, size=len(DATA))
    send(session, DATA, step=3000)
    parts = f"{session.temp_name}.parts"
    assert len(artifact_storage.listdir(parts)[1]) == 4
    session = uploads.complete_upload(session)
    assert not artifact_storage.exists(parts) or artifact_storage.listdir(parts)[1] == []
    assert artifact_storage.exists(session.temp_name)  # the concatenated, staged object
    register(model, contributor, "1.0.0", [("w.bin", SHA)])
    with artifact_storage.open(blob_storage_name(SHA), "rb") as fh:
        assert fh.read() == DATA


def test_remote_storage_checksum_mismatch_leaves_nothing(contributor, model, s3):
    session, _ = uploads.create_upload(actor=contributor, sha256=sha(b"x"), size=len(DATA))
    send(session, DATA)
    with pytest.raises(uploads.ChecksumMismatch):
        uploads.complete_upload(session)
    assert artifact_storage.listdir("uploads")[1] == []
    parts = f"{session.temp_name}.parts"
    assert not artifact_storage.exists(parts) or artifact_storage.listdir(parts)[1] == []


def test_known_blobs_answer_only_for_the_callers_teams(
    model, make_model, make_version, other_team, outsider, viewer, site_admin
):
    make_version(model, "1.0.0", files={"a": b"ours"})
    theirs = make_model("secret", team=other_team, actor=outsider)
    make_version(theirs, "1.0.0", files={"b": b"theirs"}, actor=outsider)
    shas = [sha(b"ours"), sha(b"theirs"), "not hex"]
    assert uploads.known_blobs(viewer, shas) == [sha(b"ours")]
    assert uploads.known_blobs(site_admin, shas) == sorted([sha(b"ours"), sha(b"theirs")])
    # Readable is not enough: an internal model's blobs stay its own team's to know of.
    services.update_model(model=theirs, actor=outsider, visibility="internal")
    assert uploads.known_blobs(viewer, shas) == [sha(b"ours")]


def test_parse_content_range():
    assert uploads.parse_content_range("bytes 0-9/100", None) == (0, 9, 100)
    assert uploads.parse_content_range(None, "5") == (5, None, None)
    for header, offset in (
        ("bytes 9-0/100", None),
        ("bytes=0-9", None),
        (None, "-1"),
        (None, "²"),
        (None, "9" * 5000),  # past what int() takes
        (None, "1" * 20),
        (f"bytes 0-{'9' * 5000}/3", None),
        ("bytes 0-²/3", None),
        (None, None),
    ):
        with pytest.raises(ValidationError):
            uploads.parse_content_range(header, offset)


# --- concurrency (PostgreSQL row locks; each thread on its own connection) ----------------


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_simultaneous_chunks_at_one_offset_append_once(contributor, model, is_postgres):
    if not is_postgres:
        pytest.skip("row locks need PostgreSQL")
    from tests.registry.test_concurrency import run_at_once

    session, _ = uploads.create_upload(actor=contributor, sha256=SHA, size=len(DATA))

    def act(index: int) -> str:
        mine = UploadSession.objects.get(pk=session.pk)
        try:
            uploads.write_chunk(mine, io.BytesIO(DATA[:1000]), start=0)
        except uploads.OffsetMismatch:
            return "conflict"
        return "ok"

    results = run_at_once(6, lambda i: i, act)
    assert sorted(results) == ["conflict"] * 5 + ["ok"]
    assert UploadSession.objects.get().offset == 1000


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_simultaneous_opens_of_one_file_make_one_session(contributor, model, is_postgres):
    if not is_postgres:
        pytest.skip("row locks need PostgreSQL")
    from tests.registry.test_concurrency import run_at_once

    def act(index: int) -> bool:
        return uploads.create_upload(actor=contributor, sha256=SHA, size=len(DATA))[1]

    assert sorted(run_at_once(6, lambda i: i, act)) == [False] * 5 + [True]
    assert UploadSession.objects.count() == 1


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_two_registrations_attaching_one_upload_both_succeed_once_stored(
    contributor, model, is_postgres
):
    if not is_postgres:
        pytest.skip("row locks need PostgreSQL")
    from tests.registry.test_concurrency import run_at_once

    completed(contributor)
    run_at_once(
        2, lambda i: f"{i + 1}.0.0", lambda v: register(model, contributor, v, [("w.bin", SHA)])
    )
    assert Blob.objects.count() == 1 and Artifact.objects.filter(blob_id=SHA).count() == 2
    assert not UploadSession.objects.exists()
    assert artifact_storage.listdir("uploads")[1] == []
    with artifact_storage.open(blob_storage_name(SHA), "rb") as fh:
        assert hashlib.sha256(fh.read()).hexdigest() == SHA


def test_expired_sessions_never_lock_an_account_out(contributor, model, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_OPEN_UPLOADS", 3)
    for n in range(3):
        uploads.create_upload(actor=contributor, sha256=sha(b"%d" % n), size=len(DATA))
    with pytest.raises(ValidationError, match="uploads in progress"):
        uploads.create_upload(actor=contributor, sha256=SHA, size=len(DATA))
    UploadSession.objects.update(created_at=timezone.now() - dt.timedelta(hours=25))
    # Not refused, and not the expired session of these bytes either.
    session, created = uploads.create_upload(actor=contributor, sha256=sha(b"0"), size=len(DATA))
    assert created and session.offset == 0


def test_the_expire_uploads_command_sweeps_old_sessions(contributor, model):
    old, _ = uploads.create_upload(actor=contributor, sha256=SHA, size=len(DATA))
    UploadSession.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - dt.timedelta(hours=25)
    )
    out = io.StringIO()
    call_command("expire_uploads", stdout=out)
    assert "Expired 1 upload session" in out.getvalue()
    assert not UploadSession.objects.exists()


BLOCKS = os.urandom(20_000)  # one chunk of whole blocks, one of a block and a tail


def test_whole_blocks_go_around_the_page_cache_and_the_tail_through_it(
    contributor, model, monkeypatch
):
    direct: list[tuple[int, int]] = []
    real = uploads._write_direct

    def spy(path: str, start: int, parts: list[bytes]) -> int:
        written = real(path, start, parts)
        direct.append((start, written))
        return written

    monkeypatch.setattr(uploads, "_write_direct", spy)
    session, _ = uploads.create_upload(actor=contributor, sha256=sha(BLOCKS), size=len(BLOCKS))
    send(session, BLOCKS, step=12_288)
    folder = os.path.dirname(artifact_storage.path(session.temp_name))
    if folder not in uploads._direct_unsupported and hasattr(os, "O_DIRECT"):
        assert direct == [(0, 12_288), (12_288, 4096)]
    with open(artifact_storage.path(session.temp_name), "rb") as fh:
        assert fh.read() == BLOCKS
    assert uploads.complete_upload(session).complete


def test_a_file_system_without_o_direct_gets_buffered_writes(contributor, model, monkeypatch):
    if not hasattr(os, "O_DIRECT"):
        pytest.skip("no O_DIRECT here")
    real_open = os.open

    def refuse_direct(path, flags, *args):
        if flags & os.O_DIRECT:
            raise OSError(22, "Invalid argument", path)
        return real_open(path, flags, *args)

    monkeypatch.setattr(uploads.os, "open", refuse_direct)
    monkeypatch.setattr(uploads, "_direct_unsupported", set())
    session, _ = uploads.create_upload(actor=contributor, sha256=sha(BLOCKS), size=len(BLOCKS))
    send(session, BLOCKS, step=12_288)
    assert uploads._direct_unsupported == {
        os.path.dirname(artifact_storage.path(session.temp_name))
    }
    with open(artifact_storage.path(session.temp_name), "rb") as fh:
        assert fh.read() == BLOCKS
    assert uploads.complete_upload(session).complete


def test_completion_uses_the_hash_taken_as_the_chunks_came(contributor, model, monkeypatch):
    session, _ = uploads.create_upload(actor=contributor, sha256=SHA, size=len(DATA))
    send(session, DATA)

    def no_read_back(name: str):
        raise AssertionError("the upload was read back")

    monkeypatch.setattr(artifacts, "hash_durably", no_read_back)
    assert uploads.complete_upload(session).complete
    register(model, contributor, "1.0.0", [("model.bin", SHA)])
    assert artifact_storage.open(blob_storage_name(SHA)).read() == DATA


def test_chunks_received_elsewhere_are_hashed_by_reading_them_back(contributor, model, monkeypatch):
    read_back: list[str] = []
    real = artifacts.hash_durably
    monkeypatch.setattr(
        artifacts, "hash_durably", lambda name: (read_back.append(name), real(name))[1]
    )
    session, _ = uploads.create_upload(actor=contributor, sha256=SHA, size=len(DATA))
    for start in range(0, len(DATA), 4000):
        if start == 8000:
            uploads._RunningHash.forget(session)  # this chunk came to another process
        chunk = DATA[start : start + 4000]
        uploads.write_chunk(session, io.BytesIO(chunk), start=start, total=len(DATA))
    assert uploads.complete_upload(session).complete
    assert read_back == [session.temp_name]


def test_the_running_hash_is_checked_against_the_declared_one(contributor, model):
    other = os.urandom(len(DATA))
    session, _ = uploads.create_upload(actor=contributor, sha256=sha(other), size=len(DATA))
    send(session, DATA)
    with pytest.raises(uploads.ChecksumMismatch):
        uploads.complete_upload(session)
    assert not UploadSession.objects.exists()
    assert uploads._RunningHash.take(session) is None


@pytest.mark.django_db(transaction=True)
def test_only_a_chunks_commit_skips_waiting_for_the_wal(contributor, is_postgres):
    """A chunk's offset commits without waiting for the disk (completion makes the upload
    durable); the setting is the chunk transaction's own and ends with it."""
    if not is_postgres:
        pytest.skip("synchronous_commit is PostgreSQL's")
    from django.db import connection

    statements: list[tuple[str, bool]] = []

    def spy(execute, sql, params, many, context):
        statements.append((sql, connection.in_atomic_block))
        return execute(sql, params, many, context)

    session, _ = uploads.create_upload(actor=contributor, sha256=SHA, size=len(DATA))
    with connection.execute_wrapper(spy):
        send(session, DATA)
    sets = [(sql, atomic) for sql, atomic in statements if "synchronous_commit" in sql]
    assert sets == [("SET LOCAL synchronous_commit TO OFF", True)] * 3  # one per chunk
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
    assert uploads.complete_upload(session).complete


def _put_request(body: io.BytesIO, length: int) -> WSGIRequest:
    """A PUT whose WSGI input is `body` (which, like a socket file, can readinto)."""
    environ = RequestFactory()._base_environ(
        REQUEST_METHOD="PUT",
        PATH_INFO="/api/v1/uploads/x",
        CONTENT_TYPE="application/octet-stream",
        CONTENT_LENGTH=str(length),
        **{"wsgi.input": body},
    )
    return WSGIRequest(environ)


@pytest.mark.django_db(transaction=True)  # on PostgreSQL, stored by a writer thread
def test_a_request_body_is_received_straight_into_the_buffer_and_never_past_its_length(
    contributor, model
):
    """The WSGI input can readinto: only Content-Length bytes are taken from it (what
    follows belongs to the connection's next request)."""
    session, _ = uploads.create_upload(actor=contributor, sha256=SHA, size=len(DATA))
    wire = io.BytesIO(DATA[:4000] + b"GET /next HTTP/1.1\r\n\r\n")
    assert uploads.write_chunk(session, _put_request(wire, 4000), start=0) == 4000
    assert wire.tell() == 4000
    assert uploads.get_upload(contributor, session.pk, settled=True).offset == 4000
    with open(artifact_storage.path(session.temp_name), "rb") as fh:
        assert fh.read() == DATA[:4000]


def test_a_body_django_has_started_reading_is_read_through_django(contributor, model):
    session, _ = uploads.create_upload(actor=contributor, sha256=SHA, size=len(DATA))
    request = _put_request(io.BytesIO(DATA[:4000]), 4000)
    assert request.read(1000) == DATA[:1000]  # through Django: the rest must come that way
    assert uploads.write_chunk(session, request, start=0) == 3000
    with open(artifact_storage.path(session.temp_name), "rb") as fh:
        assert fh.read() == DATA[1000:4000]
