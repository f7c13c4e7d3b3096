"""Artifacts and the archive on S3: a real S3-compatible server (moto) on 127.0.0.1.

Registration (form uploads and resumable API uploads), streamed and ranged downloads, and
the archive alias, through the same storage code production runs with S3 configured.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys

import boto3
import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.urls import reverse

from registry import artifacts, uploads
from registry.models import Blob, blob_storage_name
from registry.storage import S3ArtifactStorage, archive_storage, artifact_storage, iter_range
from tests.conftest import S3_KEYS
from tests.test_settings import ROOT

pytestmark = pytest.mark.django_db

MIB = 1024 * 1024


def objects(s3_endpoint: str, bucket: str) -> dict[str, dict]:
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **S3_KEYS)
    listing = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {item["Key"]: client.head_object(Bucket=bucket, Key=item["Key"]) for item in listing}


def test_both_aliases_are_s3_buckets(s3):
    assert isinstance(artifact_storage, S3ArtifactStorage)
    assert isinstance(archive_storage, S3ArtifactStorage)
    assert artifact_storage.bucket_name == s3["artifacts"]
    assert archive_storage.bucket_name == s3["archive"]


def test_a_large_artifact_goes_up_in_parts_and_comes_back_streamed(
    s3, s3_endpoint, make_model, make_version, viewer, client
):
    data = os.urandom(20 * MIB)  # over boto3's 8 MiB multipart threshold
    sha = hashlib.sha256(data).hexdigest()
    make_version(make_model("churn"), "1.0.0", files={"weights.bin": data})

    stored = objects(s3_endpoint, s3["artifacts"])
    key = f"artifacts/{blob_storage_name(sha)}"
    assert list(stored) == [key]  # the staged temporary object is gone
    assert stored[key]["ContentLength"] == len(data)
    assert "-" in stored[key]["ETag"]  # a multipart upload's ETag: "<md5>-<parts>"

    client.force_login(viewer)
    url = reverse("artifact-download", args=["fraud", "churn", "1.0.0", "weights.bin"])
    response = client.get(url)
    assert response.status_code == 200 and response.streaming
    chunks = list(response.streaming_content)
    assert max(len(c) for c in chunks) <= MIB  # streamed, never read whole
    assert hashlib.sha256(b"".join(chunks)).hexdigest() == sha == response["X-Checksum-SHA256"]

    response = client.get(url, headers={"Range": f"bytes={10 * MIB}-{10 * MIB + 99}"})
    assert response.status_code == 206
    assert b"".join(response.streaming_content) == data[10 * MIB : 10 * MIB + 100]


def test_the_same_content_twice_is_stored_once(s3, s3_endpoint, make_model, make_version):
    model = make_model("churn")
    make_version(model, "1.0.0", files={"a.bin": b"same bytes"})
    make_version(model, "1.0.1", files={"b.bin": b"same bytes", "c.bin": b"other"})
    keys = sorted(objects(s3_endpoint, s3["artifacts"]))
    assert keys == sorted(
        f"artifacts/{blob_storage_name(hashlib.sha256(b).hexdigest())}"
        for b in (b"same bytes", b"other")
    )
    assert Blob.objects.count() == 2


def test_a_torn_blob_left_by_a_crash_is_replaced(s3, make_model, make_version):
    sha = hashlib.sha256(b"good bytes").hexdigest()
    with io.BytesIO(b"torn") as torn:
        artifact_storage.save(blob_storage_name(sha), torn)
    make_version(make_model("churn"), "1.0.0", files={"w.bin": b"good bytes"})
    assert b"".join(artifacts.iter_blob(sha)) == b"good bytes"


def test_a_failed_upload_leaves_nothing_in_the_bucket(s3, s3_endpoint, contributor, make_model):
    make_model("churn")
    session, _ = uploads.create_upload(
        actor=contributor, sha256=hashlib.sha256(b"x").hexdigest(), size=5
    )
    uploads.write_chunk(session, io.BytesIO(b"hello"), start=0)
    with pytest.raises(uploads.ChecksumMismatch):
        uploads.complete_upload(session)
    assert objects(s3_endpoint, s3["artifacts"]) == {}


def test_the_archive_alias_reads_and_writes_with_its_storage_class(s3, s3_endpoint):
    data = os.urandom(MIB + 5)
    name = archive_storage.save("blobs/ab/cd/archived", io.BytesIO(data))
    assert archive_storage.exists(name)
    assert archive_storage.size(name) == len(data)
    assert b"".join(iter_range(archive_storage, name)) == data
    assert b"".join(iter_range(archive_storage, name, MIB, 10)) == data[MIB : MIB + 10]
    assert b"".join(iter_range(archive_storage, name, len(data) + 5)) == b""
    head = objects(s3_endpoint, s3["archive"])[f"archive/{name}"]
    assert head["StorageClass"] == "STANDARD_IA"
    archive_storage.delete(name)
    assert not archive_storage.exists(name)


def test_settings_build_both_s3_aliases_from_the_environment(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret-from-a-file\n")
    code = (
        "import json; from django.conf import settings; "
        "print(json.dumps({k: settings.STORAGES[k] for k in ('artifacts', 'archive')}))"
    )
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ARTIFACTS_", "ARCHIVE_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        ARTIFACTS_S3_BUCKET="hot",
        ARCHIVE_S3_BUCKET="cold",
        ARCHIVE_S3_STORAGE_CLASS="GLACIER_IR",
        AWS_S3_ENDPOINT_URL="http://127.0.0.1:9000",
        AWS_S3_REGION_NAME="eu-west-1",
        AWS_ACCESS_KEY_ID="AKIAEXAMPLE",
        AWS_SECRET_ACCESS_KEY_FILE=str(secret),
    )
    out = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    stores = json.loads(out)
    hot, cold = stores["artifacts"]["OPTIONS"], stores["archive"]["OPTIONS"]
    assert stores["archive"]["BACKEND"] == "registry.storage.S3ArtifactStorage"
    assert (hot["bucket_name"], hot["location"]) == ("hot", "artifacts")
    assert (cold["bucket_name"], cold["location"]) == ("cold", "archive")
    assert hot["secret_key"] == cold["secret_key"] == "s3cret-from-a-file"
    assert hot["endpoint_url"] == "http://127.0.0.1:9000" and hot["region_name"] == "eu-west-1"
    assert hot["object_parameters"] == {}
    assert cold["object_parameters"] == {"StorageClass": "GLACIER_IR"}


def test_without_buckets_the_archive_is_another_local_directory(settings):
    assert not isinstance(storages.create_storage(settings.STORAGES["archive"]), S3ArtifactStorage)


def test_an_artifact_over_the_size_limit_leaves_nothing_in_the_bucket(
    s3, s3_endpoint, settings, make_model, make_version
):
    settings.MODELGATE_MAX_ARTIFACT_BYTES = 9 * MIB
    with pytest.raises(ValidationError, match="MODELGATE_MAX_ARTIFACT_BYTES"):
        make_version(make_model("churn"), "1.0.0", files={"big.bin": os.urandom(10 * MIB)})
    assert objects(s3_endpoint, s3["artifacts"]) == {}
    assert not Blob.objects.exists()
