"""Artifact downloads under /api/v1 (…/versions/{v}/artifacts/{path}): the bytes, Range,
If-Range, HEAD, the API's error body, and who may download."""

from __future__ import annotations

import hashlib

import pytest
from django.test import Client

from accounts import tokens
from registry.models import Blob, BlobLocation
from tests.api.conftest import API, assert_error

# Local files and S3 answer the same (ranged GETs on S3).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("any_storage")]

DATA = bytes(range(256)) * 8  # 2048 bytes
SIZE = len(DATA)
SHA = hashlib.sha256(DATA).hexdigest()
V = "/models/fraud/churn/versions/1.0.0"
FILE = f"{V}/artifacts/model/weights.bin"  # a path with a slash


@pytest.fixture
def world(make_model, make_version):
    return make_version(make_model("churn"), "1.0.0", files={"model/weights.bin": DATA})


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def get(api, path: str, **headers: str):
    return api.client.get(f"{API}{path}", headers={**api.headers, **headers})


def test_the_version_names_the_api_download_url_and_it_serves_the_file(world, as_token, viewer):
    reader = as_token(viewer, "read")
    [artifact] = reader.get(V).json()["artifacts"]
    assert artifact["download_url"] == f"http://testserver{API}{FILE}"
    response = reader.get(FILE)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Length"] == str(SIZE)
    assert response["Accept-Ranges"] == "bytes"
    assert response["ETag"] == f'"{SHA}"'
    assert response["X-Checksum-SHA256"] == SHA
    assert response["Content-Disposition"] == 'attachment; filename="weights.bin"'
    assert body(response) == DATA


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [("bytes=0-0", 0, 0), ("bytes=100-199", 100, 199), ("bytes=2000-", 2000, SIZE - 1),
     ("bytes=-48", SIZE - 48, SIZE - 1), ("bytes=1000-999999", 1000, SIZE - 1)],
)  # fmt: skip
def test_a_range_answers_206_with_exactly_those_bytes(world, as_token, viewer, header, start, end):
    response = get(as_token(viewer, "read"), FILE, Range=header)
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {start}-{end}/{SIZE}"
    assert response["Content-Length"] == str(end - start + 1)
    assert body(response) == DATA[start : end + 1]


HUGE = "9" * 5000  # past what int() takes (4300 digits): once a 500


@pytest.mark.parametrize(
    ("header", "status", "start"),
    [(f"bytes=-{HUGE}", 206, 0), (f"bytes=5-{HUGE}", 206, 5), ("bytes=²-", 200, 0),
     ("bytes=-²", 200, 0)],
)  # fmt: skip
def test_long_or_non_ascii_numbers_in_a_range(world, as_token, viewer, header, status, start):
    response = get(as_token(viewer, "read"), FILE, Range=header)
    assert response.status_code == status
    assert body(response) == DATA[start:]


@pytest.mark.parametrize(
    "header",
    ["bytes=2048-", "bytes=5000-6000", "bytes=-0", f"bytes={HUGE}-", f"bytes={HUGE}-{HUGE}"],
)
def test_an_unsatisfiable_range_answers_416_in_the_error_body(world, as_token, viewer, header):
    response = get(as_token(viewer, "read"), FILE, Range=header)
    error = assert_error(response, 416, "range_not_satisfiable", "Range")
    assert str(SIZE) in error["message"]
    assert response["Content-Range"] == f"bytes */{SIZE}"


def test_if_range_with_another_etag_sends_the_whole_file(world, as_token, viewer):
    reader = as_token(viewer, "read")
    stale = get(reader, FILE, Range="bytes=0-9", **{"If-Range": '"deadbeef"'})
    assert stale.status_code == 200 and body(stale) == DATA
    fresh = get(reader, FILE, Range="bytes=0-9", **{"If-Range": f'"{SHA}"'})
    assert fresh.status_code == 206 and body(fresh) == DATA[:10]


def test_head_answers_the_headers_without_the_body(world, as_token, viewer):
    reader = as_token(viewer, "read")
    response = reader.client.head(f"{API}{FILE}", headers=reader.headers)
    assert response.status_code == 200
    assert response["Content-Length"] == str(SIZE)
    assert response["X-Checksum-SHA256"] == SHA
    assert response.content == b""


def test_a_missing_file_or_version_answers_404_naming_it(world, as_token, viewer):
    reader = as_token(viewer, "read")
    error = assert_error(reader.get(f"{V}/artifacts/model/nope.bin"), 404, "not_found")
    assert "fraud/churn 1.0.0" in error["message"] and "model/nope.bin" in error["message"]
    missing = "/models/fraud/churn/versions/9.9.9/artifacts/model/weights.bin"
    error = assert_error(reader.get(missing), 404, "not_found")
    assert "9.9.9" in error["message"] and "fraud/churn" in error["message"]


def test_an_archived_file_answers_409_with_where_to_restore(world, as_token, maintainer):
    Blob.objects.filter(pk=SHA).update(location=BlobLocation.ARCHIVE)
    response = as_token(maintainer, "read").get(FILE)
    assert response.status_code == 409
    answer = response.json()  # where to restore it beside the error, as an upload's offset
    assert answer["error"] == {
        "code": "archived", "message": "archived — request a restore", "field": None,
    }  # fmt: skip
    assert answer["restore"] == f"http://testserver{API}{V}/restore"
    assert answer["version_page"] == "http://testserver/models/fraud/churn/versions/1.0.0/"


# --- who may download -------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["viewer", "contributor", "maintainer"])
def test_team_members_may_download(world, as_token, request, persona):
    user = request.getfixturevalue(persona)
    assert body(as_token(user, "read").get(FILE)) == DATA


def test_a_signed_in_viewer_may_download_with_the_session(world, as_user, viewer):
    assert body(as_user(viewer).get(FILE)) == DATA


def test_a_non_member_gets_404_as_for_a_missing_version(world, as_token, outsider):
    error = assert_error(as_token(outsider, "read").get(FILE), 404, "not_found")
    assert error["message"] == "No version 1.0.0 of fraud/churn that you may read."


def test_no_credentials_answer_401_json_not_a_sign_in_redirect(world):
    response = Client().get(f"{API}{FILE}")
    assert_error(response, 401, "unauthenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_token_without_the_read_scope_gets_403(world, as_token, viewer):
    assert_error(as_token(viewer, "review").get(FILE), 403, "insufficient_scope")


def test_a_revoked_token_gets_401(world, viewer):
    token, secret = tokens.create(viewer, name="ci", scopes=["read"])
    tokens.revoke(token, viewer)
    response = Client().get(f"{API}{FILE}", headers={"Authorization": f"Bearer {secret}"})
    assert_error(response, 401, "unauthenticated")


def test_other_methods_answer_405_json_with_allow(world, as_token, viewer):
    reader = as_token(viewer, "read", "write")
    response = reader.post(FILE, {})
    error = assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET, HEAD"
    assert "POST" in error["message"]


def test_the_page_download_still_works_for_the_browser(world, client, viewer):
    client.force_login(viewer)
    page_url = "/models/fraud/churn/versions/1.0.0/files/model/weights.bin"
    assert body(client.get(page_url)) == DATA
    assert client.get(page_url, headers={"Range": "bytes=5000-"}).status_code == 416
