"""Resumable uploads over the REST API: sessions, chunks, completion, known blobs and
registering a version with the uploaded files."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from typing import Any

import pytest
from django.utils import timezone

from registry import uploads
from registry.models import Artifact, Blob, ModelVersion, UploadSession
from registry.storage import artifact_storage
from tests.api.conftest import API, ApiClient, assert_error

pytestmark = pytest.mark.django_db

M = "/models/fraud/churn"
DATA = b"0123456789" * 100 + b"tail"  # 1004 bytes
SHA = hashlib.sha256(DATA).hexdigest()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put(api: ApiClient, upload_id: str, chunk: bytes, start: int, total: int, **kw: Any) -> Any:
    headers = {**api.headers}
    if start is not None:
        headers["Content-Range"] = f"bytes {start}-{start + len(chunk) - 1}/{total}"
    return api.client.put(
        f"{API}/uploads/{upload_id}",
        data=chunk,
        content_type="application/octet-stream",
        headers=headers,
        **kw,
    )


def upload(api: ApiClient, data: bytes, *, chunks: int = 2) -> str:
    """The whole protocol; answers the completed upload's id."""
    response = api.post("/uploads", {"sha256": sha(data), "size": len(data)})
    assert response.status_code == 201, response.content
    upload_id = response.json()["id"]
    step = max(1, -(-len(data) // chunks))
    for start in range(0, len(data), step):
        response = put(api, upload_id, data[start : start + step], start, len(data))
        assert response.status_code == 200, response.content
    response = api.post(f"/uploads/{upload_id}/complete")
    assert response.status_code == 200, response.content
    return upload_id


@pytest.fixture
def world(make_model, make_version):
    model = make_model("churn")
    make_version(model, "1.0.0")
    return model


@pytest.fixture
def writer(as_token, contributor) -> ApiClient:
    return as_token(contributor, "write")


@pytest.mark.usefixtures("any_storage")  # local files and S3
def test_happy_path_upload_attach_and_download(
    world, writer, viewer, client, django_capture_on_commit_callbacks
):
    response = writer.post("/uploads", {"sha256": SHA, "size": len(DATA)})
    assert response.status_code == 201
    body = response.json()
    assert body["offset"] == 0 and body["size"] == len(DATA)
    assert body["chunk_size"] == 16 * 1024 * 1024 and body["complete"] is False
    upload_id = body["id"]

    assert put(writer, upload_id, DATA[:600], 0, len(DATA)).json() == {"offset": 600}
    assert writer.get(f"/uploads/{upload_id}").json()["offset"] == 600
    assert put(writer, upload_id, DATA[600:], 600, len(DATA)).json() == {"offset": len(DATA)}
    done = writer.post(f"/uploads/{upload_id}/complete")
    assert done.status_code == 200 and done.json()["complete"] is True
    assert not Blob.objects.exists()  # held as a private staged object until attached

    with django_capture_on_commit_callbacks(execute=True):  # S3 deletes the temp on commit
        response = writer.post(
            M + "/versions",
            {"version": "2.0.0", "files": [{"path": "model/./weights.bin", "sha256": SHA}]},
        )
    assert response.status_code == 201, response.content
    [artifact] = response.json()["artifacts"]
    assert artifact["path"] == "model/weights.bin"
    assert artifact["sha256"] == SHA and artifact["size"] == len(DATA)
    assert Blob.objects.get().size == len(DATA)
    assert not UploadSession.objects.exists()  # consumed with the version
    assert artifact_storage.listdir("uploads")[1] == []  # no temporaries left

    client.force_login(viewer)
    url = artifact["download_url"]
    full = client.get(url)
    assert full.status_code == 200 and full["Accept-Ranges"] == "bytes"
    assert sha(b"".join(full.streaming_content)) == SHA
    part = client.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert b"".join(part.streaming_content) == DATA[10:20]
    assert part["Content-Range"] == f"bytes 10-19/{len(DATA)}"


def test_offset_query_parameter_works_instead_of_content_range(world, writer):
    upload_id = writer.post("/uploads", {"sha256": SHA, "size": len(DATA)}).json()["id"]
    response = writer.client.put(
        f"{API}/uploads/{upload_id}?offset=0",
        data=DATA,
        content_type="application/octet-stream",
        headers=writer.headers,
    )
    assert response.json() == {"offset": len(DATA)}
    assert writer.post(f"/uploads/{upload_id}/complete").json()["complete"] is True


@pytest.mark.usefixtures("any_storage")  # local files and S3
def test_resume_after_a_broken_chunk(world, writer):
    upload_id = writer.post("/uploads", {"sha256": SHA, "size": len(DATA)}).json()["id"]
    assert put(writer, upload_id, DATA[:500], 0, len(DATA)).status_code == 200
    # The client lost the answer and sends a later chunk as if more had arrived.
    response = put(writer, upload_id, DATA[700:], 700, len(DATA))
    assert response.status_code == 409
    body = response.json()
    assert body["offset"] == 500 and body["error"]["code"] == "offset_mismatch"
    assert body["error"]["field"] == "Content-Range" and body["error"]["message"]
    # A retried chunk already stored is refused too, with the offset to resume from.
    assert put(writer, upload_id, DATA[:500], 0, len(DATA)).json()["offset"] == 500
    offset = writer.get(f"/uploads/{upload_id}").json()["offset"]
    assert put(writer, upload_id, DATA[offset:], offset, len(DATA)).status_code == 200
    assert writer.post(f"/uploads/{upload_id}/complete").json()["complete"] is True


def test_complete_before_all_bytes_answers_409_with_the_offset(world, writer):
    upload_id = writer.post("/uploads", {"sha256": SHA, "size": len(DATA)}).json()["id"]
    put(writer, upload_id, DATA[:10], 0, len(DATA))
    response = writer.post(f"/uploads/{upload_id}/complete")
    assert response.status_code == 409 and response.json()["offset"] == 10
    assert response.json()["error"]["field"] == "Content-Range"


@pytest.mark.usefixtures("any_storage")  # local files and S3
def test_wrong_checksum_discards_the_upload(world, writer):
    wrong = sha(b"something else")
    upload_id = writer.post("/uploads", {"sha256": wrong, "size": len(DATA)}).json()["id"]
    put(writer, upload_id, DATA, 0, len(DATA))
    error = assert_error(
        writer.post(f"/uploads/{upload_id}/complete"), 400, "checksum_mismatch", "sha256"
    )
    assert wrong in error["message"]
    assert not UploadSession.objects.exists()
    assert artifact_storage.listdir("uploads")[1] == []
    assert_error(writer.get(f"/uploads/{upload_id}"), 404, "not_found")


def test_chunk_past_the_declared_size_is_refused(world, writer):
    upload_id = writer.post("/uploads", {"sha256": SHA, "size": 10}).json()["id"]
    response = put(writer, upload_id, b"x" * 11, 0, 10)
    assert_error(response, 400, "invalid", "Content-Range")
    response = writer.client.put(
        f"{API}/uploads/{upload_id}?offset=0",
        data=b"x" * 11,
        content_type="application/octet-stream",
        headers=writer.headers,
    )
    assert_error(response, 400, "invalid", "body")
    assert UploadSession.objects.get().offset == 0


def test_bad_content_range_and_missing_range_are_400(world, writer):
    upload_id = writer.post("/uploads", {"sha256": SHA, "size": len(DATA)}).json()["id"]
    url = f"{API}/uploads/{upload_id}"
    kw = {"content_type": "application/octet-stream"}
    bad = {**writer.headers, "Content-Range": "bytes=0-3"}
    assert_error(
        writer.client.put(url, b"abcd", headers=bad, **kw), 400, "invalid", "Content-Range"
    )
    assert_error(
        writer.client.put(url, b"abcd", headers=writer.headers, **kw),
        400,
        "invalid",
        "Content-Range",
    )
    wrong_total = {**writer.headers, "Content-Range": "bytes 0-3/99"}
    assert_error(
        writer.client.put(url, b"abcd", headers=wrong_total, **kw), 400, "invalid", "Content-Range"
    )
    short = {**writer.headers, "Content-Range": "bytes 0-9/1004"}
    assert_error(
        writer.client.put(url, b"abcd", headers=short, **kw), 400, "invalid", "Content-Range"
    )
    assert_error(
        writer.client.put(url, b"", headers=writer.headers, QUERY_STRING="offset=0", **kw),
        400,
        "invalid",
        "body",
    )
    assert UploadSession.objects.get().offset == 0


def test_oversize_upload_is_413(world, writer, settings):
    settings.MODELGATE_MAX_ARTIFACT_BYTES = 100
    response = writer.post("/uploads", {"sha256": SHA, "size": 101})
    assert_error(response, 413, "too_large", "size")
    assert not UploadSession.objects.exists()


def test_bad_hex_is_422(world, writer):
    assert_error(writer.post("/uploads", {"sha256": "xyz", "size": 1}), 422, "invalid", "sha256")
    assert_error(writer.post("/uploads", {"sha256": SHA, "size": -1}), 422, "invalid", "size")
    assert_error(
        writer.post("/uploads", {"sha256": SHA, "size": 1, "path": "x"}),
        422,
        "unknown_field",
        "path",
    )


def test_other_users_session_is_404(world, writer, as_token, maintainer, outsider):
    upload_id = writer.post("/uploads", {"sha256": SHA, "size": len(DATA)}).json()["id"]
    for user in (maintainer, outsider):
        other = as_token(user, "write")
        assert_error(other.get(f"/uploads/{upload_id}"), 404, "not_found")
        assert_error(put(other, upload_id, DATA, 0, len(DATA)), 404, "not_found")
        assert_error(other.post(f"/uploads/{upload_id}/complete"), 404, "not_found")
    assert_error(writer.get("/uploads/not-a-uuid"), 404, "not_found")
    assert UploadSession.objects.get().offset == 0


def test_token_without_write_scope_is_403(world, as_token, contributor):
    reader = as_token(contributor, "read")
    assert_error(reader.post("/uploads", {"sha256": SHA, "size": 4}), 403, "insufficient_scope")
    writer = as_token(contributor, "write")
    upload_id = writer.post("/uploads", {"sha256": SHA, "size": len(DATA)}).json()["id"]
    assert_error(put(reader, upload_id, DATA, 0, len(DATA)), 403, "insufficient_scope")
    assert_error(reader.post(f"/uploads/{upload_id}/complete"), 403, "insufficient_scope")
    assert reader.get(f"/uploads/{upload_id}").status_code == 200


def test_a_viewer_may_not_open_uploads(world, as_token, viewer):
    response = as_token(viewer, "write").post("/uploads", {"sha256": SHA, "size": 4})
    assert_error(response, 403, "permission_denied")


def test_anonymous_is_401(world, as_user):
    assert_error(as_user(None).post("/uploads", {"sha256": SHA, "size": 4}), 401, "unauthenticated")


def test_session_callers_need_the_csrf_token(world, contributor):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(contributor)
    body = {"sha256": SHA, "size": len(DATA)}
    refused = browser.post(f"{API}/uploads", body, content_type="application/json")
    assert_error(refused, 403, "csrf_failed")
    browser.get("/")  # sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    api = ApiClient(browser)
    api.headers = {"X-CSRFToken": token}
    upload(api, DATA)
    response = api.post(
        M + "/versions", {"version": "2.0.0", "files": [{"path": "w.bin", "sha256": SHA}]}
    )
    assert response.status_code == 201, response.content


# --- known blobs --------------------------------------------------------------------------


def test_known_answers_only_readable_blobs(
    world, make_model, make_version, other_team, outsider, as_token, viewer
):
    make_version(world, "1.1.0", files={"a.bin": b"ours"})
    theirs = make_model("secret", team=other_team, actor=outsider)
    make_version(theirs, "1.0.0", files={"b.bin": b"theirs"}, actor=outsider)
    query = {"sha256": [sha(b"ours"), sha(b"theirs"), sha(b"nowhere")]}
    assert as_token(viewer, "write").post("/blobs/known", query).json() == {"known": [sha(b"ours")]}
    assert as_token(outsider, "write").post("/blobs/known", query).json() == {
        "known": [sha(b"theirs")]
    }


def test_known_never_reveals_another_teams_internal_blobs(
    world, make_model, make_version, other_team, outsider, as_token, writer
):
    """An `internal` model is readable by everyone, but whether its bytes are stored is
    answered only to its own team; the others upload them again."""
    theirs = make_model("open", team=other_team, actor=outsider, visibility="internal")
    make_version(theirs, "1.0.0", files={"b.bin": b"theirs"}, actor=outsider)
    assert writer.post("/blobs/known", {"sha256": [sha(b"theirs")]}).json() == {"known": []}
    response = writer.post(
        M + "/versions",
        {"version": "2.0.0", "files": [{"path": "copy.bin", "sha256": sha(b"theirs")}]},
    )
    assert_error(response, 400, "invalid", "files")
    assert not ModelVersion.objects.filter(version="2.0.0").exists()
    assert as_token(outsider, "write").post(
        "/blobs/known", {"sha256": [sha(b"theirs")]}
    ).json() == {"known": [sha(b"theirs")]}


def test_known_accepts_a_read_token_and_limits_the_list(world, as_token, viewer):
    reader = as_token(viewer, "read")
    # POST needs the write scope, whatever it does.
    assert_error(reader.post("/blobs/known", {"sha256": []}), 403, "insufficient_scope")
    writer = as_token(viewer, "write")
    too_many = {"sha256": [SHA] * 1001}
    assert_error(writer.post("/blobs/known", too_many), 422, "invalid", "sha256")
    assert_error(writer.post("/blobs/known", {"sha256": ["nothex"]}), 422, "invalid", "sha256.0")


def test_attach_a_known_blob_without_uploading(world, make_version, writer):
    make_version(world, "1.1.0", files={"a.bin": b"ours"})
    response = writer.post(
        M + "/versions",
        {"version": "2.0.0", "files": [{"path": "copy.bin", "sha256": sha(b"ours")}]},
    )
    assert response.status_code == 201, response.content
    assert Artifact.objects.filter(path="copy.bin", blob_id=sha(b"ours")).exists()


def test_attach_another_teams_blob_is_refused(
    world, make_model, make_version, other_team, outsider, writer
):
    theirs = make_model("secret", team=other_team, actor=outsider)
    make_version(theirs, "1.0.0", files={"b.bin": b"theirs"}, actor=outsider)
    response = writer.post(
        M + "/versions",
        {"version": "2.0.0", "files": [{"path": "x.bin", "sha256": sha(b"theirs")}]},
    )
    assert_error(response, 400, "invalid", "files")
    assert not ModelVersion.objects.filter(version="2.0.0").exists()


# --- registering with files: bad input -----------------------------------------------------


def test_attach_an_unknown_sha_stores_nothing(world, writer):
    before = (ModelVersion.objects.count(), Blob.objects.count(), Artifact.objects.count())
    response = writer.post(
        M + "/versions", {"version": "2.0.0", "files": [{"path": "x.bin", "sha256": SHA}]}
    )
    error = assert_error(response, 400, "invalid", "files")
    assert SHA in error["message"]
    after = (ModelVersion.objects.count(), Blob.objects.count(), Artifact.objects.count())
    assert after == before


def test_an_incomplete_upload_cannot_be_attached(world, writer):
    upload_id = writer.post("/uploads", {"sha256": SHA, "size": len(DATA)}).json()["id"]
    put(writer, upload_id, DATA, 0, len(DATA))  # all bytes, but not completed
    response = writer.post(
        M + "/versions", {"version": "2.0.0", "files": [{"path": "x.bin", "sha256": SHA}]}
    )
    assert_error(response, 400, "invalid", "files")
    assert UploadSession.objects.get().offset == len(DATA)


def test_another_users_upload_cannot_be_attached(world, writer, as_token, maintainer):
    upload(writer, DATA)
    response = as_token(maintainer, "write").post(
        M + "/versions", {"version": "2.0.0", "files": [{"path": "x.bin", "sha256": SHA}]}
    )
    assert_error(response, 400, "invalid", "files")
    assert UploadSession.objects.get().complete  # still the contributor's to attach


@pytest.mark.parametrize(
    "path", ["../etc/passwd", "/abs/path", "a/../../b", "C:/x", "back\\slash", "nul\x01", ""]
)
def test_escaping_paths_are_refused(world, writer, path):
    upload(writer, DATA)
    response = writer.post(
        M + "/versions", {"version": "2.0.0", "files": [{"path": path, "sha256": SHA}]}
    )
    assert_error(response, 400, "invalid", "files")
    assert not ModelVersion.objects.filter(version="2.0.0").exists()
    assert UploadSession.objects.get().complete  # nothing consumed


def test_duplicate_paths_are_refused(world, writer):
    upload(writer, DATA)
    files = [{"path": "a.bin", "sha256": SHA}, {"path": "./a.bin", "sha256": SHA}]
    response = writer.post(M + "/versions", {"version": "2.0.0", "files": files})
    error = assert_error(response, 400, "invalid", "files")
    assert "unique" in error["message"]


def test_same_upload_at_two_paths_and_no_storage_location_accepted(world, writer):
    upload(writer, DATA)
    files = [{"path": "a.bin", "sha256": SHA}, {"path": "b/a.bin", "sha256": SHA}]
    response = writer.post(M + "/versions", {"version": "2.0.0", "files": files})
    assert response.status_code == 201, response.content
    assert Artifact.objects.filter(blob_id=SHA).count() == 2
    sneaky = [{"path": "c.bin", "sha256": SHA, "storage_name": "blobs/x"}]
    response = writer.post(M + "/versions", {"version": "3.0.0", "files": sneaky})
    assert_error(response, 422, "unknown_field", "files.0.storage_name")


def test_a_failed_registration_keeps_the_upload_for_a_retry(world, writer):
    upload(writer, DATA)
    files = [{"path": "a.bin", "sha256": SHA}]
    response = writer.post(M + "/versions", {"version": "1.0.0", "files": files})  # taken
    assert_error(response, 400, "invalid", "version")
    assert UploadSession.objects.get().complete
    assert writer.post(M + "/versions", {"version": "2.0.0", "files": files}).status_code == 201


def test_a_chunk_over_the_chunk_limit_answers_413_before_it_is_read(world, writer, monkeypatch):
    size = uploads.CHUNK_SIZE * 2
    upload_id = writer.post("/uploads", {"sha256": SHA, "size": size}).json()["id"]
    read = []
    monkeypatch.setattr(uploads, "_read_chunk", lambda *a, **kw: read.append(1))
    big = b"x" * (uploads.CHUNK_SIZE + 1)
    error = assert_error(put(writer, upload_id, big, 0, size), 413, "too_large", "body")
    assert f"{uploads.CHUNK_SIZE:,}" in error["message"]
    assert read == [] and UploadSession.objects.get().offset == 0


def test_a_chunk_longer_than_its_content_length_claims_is_413_too(world, writer):
    # Past the chunk limit while reading (a Content-Length that undercounts the body).
    size = uploads.CHUNK_SIZE * 2
    upload_id = writer.post("/uploads", {"sha256": SHA, "size": size}).json()["id"]
    session = UploadSession.objects.get(pk=upload_id)
    stream = io.BytesIO(b"x" * (uploads.CHUNK_SIZE + 1))
    with pytest.raises(uploads.TooLarge):
        uploads.write_chunk(session, stream, start=0)
    assert UploadSession.objects.get().offset == 0


def test_a_chunked_transfer_encoding_answers_411(world, writer):
    upload_id = writer.post("/uploads", {"sha256": SHA, "size": len(DATA)}).json()["id"]
    response = writer.client.generic(
        "PUT",
        f"{API}/uploads/{upload_id}?offset=0",
        b"",
        content_type="application/octet-stream",
        headers={**writer.headers, "Transfer-Encoding": "chunked"},
    )
    error = assert_error(response, 411, "length_required", "Content-Length")
    assert "chunked" in error["message"]
    assert UploadSession.objects.get().offset == 0


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", ""])
def test_a_chunk_is_raw_bytes_whatever_its_content_type(world, writer, content_type):
    upload_id = writer.post("/uploads", {"sha256": SHA, "size": len(DATA)}).json()["id"]
    response = writer.client.put(
        f"{API}/uploads/{upload_id}?offset=0",
        data=DATA,
        content_type=content_type,
        headers=writer.headers,
    )
    assert response.json() == {"offset": len(DATA)}


# --- one session per file, resumed; the caps; discarding --------------------------------


def test_opening_an_upload_again_answers_the_live_one_to_resume(
    world, writer, as_token, maintainer
):
    first = writer.post("/uploads", {"sha256": SHA, "size": len(DATA)})
    assert first.status_code == 201
    upload_id = first.json()["id"]
    put(writer, upload_id, DATA[:300], 0, len(DATA))
    again = writer.post("/uploads", {"sha256": SHA.upper(), "size": len(DATA)})
    assert again.status_code == 200, again.content
    assert again.json()["id"] == upload_id and again.json()["offset"] == 300
    assert put(writer, upload_id, DATA[300:], 300, len(DATA)).status_code == 200
    writer.post(f"/uploads/{upload_id}/complete")
    done = writer.post("/uploads", {"sha256": SHA, "size": len(DATA)})
    assert done.status_code == 200
    assert done.json()["id"] == upload_id and done.json()["complete"] is True
    # Another size of the same hash, or another user, is another upload.
    assert writer.post("/uploads", {"sha256": SHA, "size": 5}).status_code == 201
    theirs = as_token(maintainer, "write").post("/uploads", {"sha256": SHA, "size": len(DATA)})
    assert theirs.status_code == 201 and theirs.json()["id"] != upload_id
    assert UploadSession.objects.count() == 3


def test_the_openapi_schema_tells_new_from_resumed_uploads(as_user):
    responses = as_user(None).get("/openapi.json").json()["paths"]["/api/v1/uploads"]["post"]
    for status in ("200", "201"):
        content = responses["responses"][status]["content"]["application/json"]
        assert content["schema"]["$ref"].endswith("/UploadOut")
    assert "(200)" in responses["description"] and "(201)" in responses["description"]


def test_a_version_of_more_files_than_uploads_may_be_in_progress(world, writer, monkeypatch):
    """Completed uploads waiting for their version are not 'in progress': a version of
    more files than MAX_OPEN_UPLOADS registers (it once refused the 101st upload)."""
    monkeypatch.setattr(uploads, "MAX_OPEN_UPLOADS", 3)
    files = {f"part-{n}.bin": b"file %d" % n for n in range(5)}
    for data in files.values():
        upload(writer, data)
    refs = [{"path": path, "sha256": sha(data)} for path, data in files.items()]
    response = writer.post(M + "/versions", {"version": "2.0.0", "files": refs})
    assert response.status_code == 201, response.content
    assert len(response.json()["artifacts"]) == 5 and not UploadSession.objects.exists()


def test_in_progress_uploads_are_capped_with_a_way_out(world, writer, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_OPEN_UPLOADS", 2)
    ids = [
        writer.post("/uploads", {"sha256": sha(b"%d" % n), "size": 9}).json()["id"] for n in (1, 2)
    ]
    error = assert_error(
        writer.post("/uploads", {"sha256": SHA, "size": len(DATA)}), 400, "invalid", "uploads"
    )
    assert "2 uploads in progress" in error["message"]
    assert "DELETE /api/v1/uploads/{id}" in error["message"] and "24 hours" in error["message"]
    # One of those still answers (it is resumed, not opened).
    assert writer.post("/uploads", {"sha256": sha(b"1"), "size": 9}).status_code == 200
    assert (
        writer.client.delete(f"{API}/uploads/{ids[0]}", headers=writer.headers).status_code == 204
    )
    assert writer.post("/uploads", {"sha256": SHA, "size": len(DATA)}).status_code == 201


def test_completed_unattached_uploads_are_capped_apart(world, writer, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_OPEN_UPLOADS", 1)
    monkeypatch.setattr(uploads, "MAX_COMPLETED_UPLOADS", 2)
    upload(writer, b"one")
    upload(writer, b"two")
    error = assert_error(
        writer.post("/uploads", {"sha256": SHA, "size": len(DATA)}), 400, "invalid", "uploads"
    )
    assert "2 completed uploads not attached" in error["message"]
    assert "attach" in error["message"] and "DELETE /api/v1/uploads/{id}" in error["message"]
    files = [{"path": "one", "sha256": sha(b"one")}]
    assert writer.post(M + "/versions", {"version": "2.0.0", "files": files}).status_code == 201
    assert writer.post("/uploads", {"sha256": SHA, "size": len(DATA)}).status_code == 201


@pytest.mark.usefixtures("any_storage")  # local files and S3
def test_delete_discards_an_upload_and_its_bytes(world, writer, as_token, contributor, maintainer):
    upload_id = upload(writer, DATA)
    url = f"{API}/uploads/{upload_id}"
    other = as_token(maintainer, "write")
    assert_error(other.client.delete(url, headers=other.headers), 404, "not_found")
    reader = as_token(contributor, "read")
    assert_error(reader.client.delete(url, headers=reader.headers), 403, "insufficient_scope")
    assert UploadSession.objects.filter(pk=upload_id).exists()

    response = writer.client.delete(url, headers=writer.headers)
    assert response.status_code == 204 and response.content == b""
    assert not UploadSession.objects.exists()
    assert artifact_storage.listdir("uploads")[1] == []
    assert_error(writer.get(f"/uploads/{upload_id}"), 404, "not_found")
    assert_error(writer.client.delete(url, headers=writer.headers), 404, "not_found")
    files = [{"path": "w.bin", "sha256": SHA}]
    assert_error(
        writer.post(M + "/versions", {"version": "2.0.0", "files": files}), 400, "invalid", "files"
    )
    assert writer.post("/uploads", {"sha256": SHA, "size": len(DATA)}).status_code == 201


def test_known_tells_the_callers_own_completed_uploads_only(world, writer, as_token, maintainer):
    done = b"completed"
    upload(writer, done)
    partial = writer.post("/uploads", {"sha256": SHA, "size": len(DATA)}).json()["id"]
    put(writer, partial, DATA, 0, len(DATA))  # every byte, not completed
    query = {"sha256": [sha(done), SHA]}
    assert writer.post("/blobs/known", query).json() == {"known": [sha(done)]}
    # Not another user's, in the same team or not.
    assert as_token(maintainer, "write").post("/blobs/known", query).json() == {"known": []}
    # Nor an expired one (about to be swept).
    UploadSession.objects.update(created_at=timezone.now() - dt.timedelta(hours=25))
    assert writer.post("/blobs/known", query).json() == {"known": []}


# --- numbers in headers and parameters ------------------------------------------------------

LONG = "9" * 5000  # past what int() takes (4300 digits): these were 500s


@pytest.mark.parametrize(
    ("query", "headers", "field"),
    [
        (f"offset={LONG}", {}, "offset"),
        ("offset=%C2%B2", {}, "offset"),  # "²": isdigit() says yes, int() no
        ("offset=99999999999999999999", {}, "offset"),  # 20 digits
        ("", {"Content-Range": f"bytes 0-{LONG}/3"}, "Content-Range"),
        ("", {"Content-Range": f"bytes {LONG}-0/3"}, "Content-Range"),
        ("", {"Content-Range": f"bytes 0-3/{LONG}"}, "Content-Range"),
        ("", {"Content-Range": "bytes 0-²/3"}, "Content-Range"),
        ("", {"CONTENT_LENGTH": LONG}, "Content-Length"),
        ("", {"CONTENT_LENGTH": "²"}, "Content-Length"),
        ("", {"CONTENT_LENGTH": "-1"}, "Content-Length"),
    ],
)
def test_bad_numbers_answer_400_naming_where(world, writer, query, headers, field):
    upload_id = writer.post("/uploads", {"sha256": SHA, "size": len(DATA)}).json()["id"]
    environ = {k: v for k, v in headers.items() if k.isupper()}
    sent = {**writer.headers, **{k: v for k, v in headers.items() if not k.isupper()}}
    response = writer.client.put(
        f"{API}/uploads/{upload_id}?{query}",
        data=DATA[:4],
        content_type="application/octet-stream",
        headers=sent,
        **environ,
    )
    assert_error(response, 400, "invalid", field)
    assert UploadSession.objects.get().offset == 0


def test_a_huge_size_answers_4xx(world, writer):
    for size, status in ((LONG, 400), ("9" * 25, 413)):  # JSON's own limit; the size limit
        response = writer.client.post(
            f"{API}/uploads",
            data=f'{{"sha256": "{SHA}", "size": {size}}}',
            content_type="application/json",
            headers=writer.headers,
        )
        assert response.status_code == status, response.content
    assert response.json()["error"]["field"] == "size"
    assert not UploadSession.objects.exists()
