"""Artifact downloads with HTTP Range (resumable downloads), HEAD and tokens."""

from __future__ import annotations

import hashlib

import pytest
from django.urls import reverse

from accounts import tokens
from registry.downloads import UNSATISFIABLE, parse_range

# Every download answers the same from local files and from S3 (ranged GETs).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("any_storage")]

DATA = bytes(range(256)) * 8  # 2048 bytes
SIZE = len(DATA)


@pytest.fixture
def url(make_model, make_version):
    make_version(make_model("churn"), "1.0.0", files={"model/weights.bin": DATA})
    return reverse("artifact-download", args=["fraud", "churn", "1.0.0", "model/weights.bin"])


@pytest.fixture
def browser(client, viewer):
    client.force_login(viewer)
    return client


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_full_download_advertises_ranges(browser, url):
    response = browser.get(url)
    assert response.status_code == 200
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Length"] == str(SIZE)
    assert response["X-Checksum-SHA256"] == hashlib.sha256(DATA).hexdigest()
    assert response["Content-Disposition"] == 'attachment; filename="weights.bin"'
    assert body(response) == DATA


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-0", 0, 0),
        ("bytes=100-199", 100, 199),
        ("bytes=2000-", 2000, SIZE - 1),
        ("bytes=-48", SIZE - 48, SIZE - 1),
        ("bytes=-5000", 0, SIZE - 1),  # a suffix longer than the file: all of it
        ("bytes=1000-999999", 1000, SIZE - 1),  # an end past the file is clipped
        ("bytes=2047-2047", 2047, 2047),
    ],
)
def test_a_range_answers_206_with_exactly_those_bytes(browser, url, header, start, end):
    response = browser.get(url, headers={"Range": header})
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {start}-{end}/{SIZE}"
    assert response["Content-Length"] == str(end - start + 1)
    assert body(response) == DATA[start : end + 1]


HUGE = "9" * 5000  # past what int() takes (4300 digits)


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        (f"bytes=-{HUGE}", 0, SIZE - 1),  # a suffix longer than the file: all of it
        (f"bytes=10-{HUGE}", 10, SIZE - 1),  # an end past the file is clipped
        ("bytes=-00000000000000000000000048", SIZE - 48, SIZE - 1),  # leading zeros
        (f"bytes=0000000000000000000000{'0' * 5000}7-8", 7, 8),
    ],
)
def test_numbers_of_any_length_are_understood(browser, url, header, start, end):
    response = browser.get(url, headers={"Range": header})
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {start}-{end}/{SIZE}"
    assert body(response) == DATA[start : end + 1]


@pytest.mark.parametrize(
    "header",
    ["bytes=2048-", "bytes=5000-6000", "bytes=-0", f"bytes={HUGE}-", f"bytes={HUGE}-{HUGE}"],
)
def test_an_unsatisfiable_range_answers_416(browser, url, header):
    response = browser.get(url, headers={"Range": header})
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{SIZE}"


@pytest.mark.parametrize(
    "header",
    [
        "bytes=0-1,5-6",
        "items=0-5",
        "bytes=abc",
        "bytes=9-3",
        "bytes=-",
        "",
        "bytes=²-",
        "bytes=-²",
        f"bytes={HUGE}-1",
    ],  # fmt: skip
)
def test_multiple_or_malformed_ranges_send_the_whole_file(browser, url, header):
    response = browser.get(url, headers={"Range": header})
    assert response.status_code == 200
    assert body(response) == DATA


def test_if_range_with_another_etag_sends_the_whole_file(browser, url):
    stale = browser.get(url, headers={"Range": "bytes=0-9", "If-Range": '"deadbeef"'})
    assert stale.status_code == 200 and body(stale) == DATA
    etag = browser.get(url)["ETag"]
    fresh = browser.get(url, headers={"Range": "bytes=0-9", "If-Range": etag})
    assert fresh.status_code == 206 and body(fresh) == DATA[:10]


def test_head_answers_the_headers_without_the_body(browser, url):
    response = browser.head(url)
    assert response.status_code == 200
    assert response["Content-Length"] == str(SIZE)
    assert response["Accept-Ranges"] == "bytes"
    assert response.content == b""


def test_post_is_not_allowed(browser, url):
    assert browser.post(url).status_code == 405


def test_a_token_resumes_a_download_and_others_see_nothing(client, url, viewer, outsider):
    _t, secret = tokens.create(viewer, name="ci", scopes=["read"])
    response = client.get(url, headers={"Authorization": f"Bearer {secret}", "Range": "bytes=10-"})
    assert response.status_code == 206 and body(response) == DATA[10:]
    _t, secret = tokens.create(outsider, name="ci", scopes=["read"])
    response = client.get(url, headers={"Authorization": f"Bearer {secret}", "Range": "bytes=0-"})
    assert response.status_code == 404
    assert client.get(url, headers={"Authorization": "Bearer mg_nope"}).status_code == 401


def test_parse_range_edge_cases():
    assert parse_range(None, 10) is None
    assert parse_range("bytes=0-", 0) == UNSATISFIABLE
    assert parse_range("bytes=-1", 0) == UNSATISFIABLE
    assert parse_range("bytes = 2-3", 10) == (2, 2)
