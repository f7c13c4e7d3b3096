"""Artifact paths and content-addressed blobs: normalise_path, stage_blob / commit_blobs,
iter_blob and deduplication across versions through register_version."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage

from registry import artifacts, storage
from registry.artifacts import commit_blobs, discard_staged, iter_blob, normalise_path, stage_blob
from registry.models import Artifact, Blob, ModelVersion, RegisteredModel, blob_storage_name
from registry.storage import artifact_storage

MakeModel = Callable[..., RegisteredModel]
MakeVersion = Callable[..., ModelVersion]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored_files(tmp_path: Path) -> list[str]:
    root = tmp_path / "artifacts"
    if not root.exists():
        return []
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def write_blob(stream: io.BytesIO, path: str) -> artifacts.StagedBlob:
    """Stage and commit one upload, as register_version does, leaving no temporary object."""
    staged = stage_blob(stream, path)
    try:
        commit_blobs([staged])
    finally:
        discard_staged([staged])
    return staged


def read_stored(sha256: str) -> bytes:
    with artifact_storage.open(blob_storage_name(sha256), "rb") as fh:
        return fh.read()


# --- normalise_path ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("model.bin", "model.bin"),
        ("a/./b//c.bin", "a/b/c.bin"),
        ("./a/b/", "a/b"),
        ("  weights/w.bin \n", "weights/w.bin"),
        ("a/..b/c..", "a/..b/c.."),
        ("...", "..."),
        (".hidden/config", ".hidden/config"),
        ("e\u0301t\u00e9/caf\u0065\u0301.txt", "\u00e9t\u00e9/caf\u00e9.txt"),
        ("模型/权重.bin", "模型/权重.bin"),
        ("a" * 1024, "a" * 1024),
        ("./" + "a" * 1024, "a" * 1024),
    ],
    ids=[
        "plain",
        "dot-and-double-slash",
        "leading-dot-trailing-slash",
        "surrounding-whitespace",
        "dots-inside-names",
        "three-dots",
        "hidden",
        "unicode-nfc",
        "cjk",
        "max-length",
        "max-length-after-collapsing",
    ],
)
def test_it_normalises_an_acceptable_path(raw: str, clean: str) -> None:
    assert normalise_path(raw) == clean


# (id, raw, code, message)
REJECTED = [
    ("empty", "", "empty", "artifact path must not be empty"),
    ("blank", " \t ", "empty", "artifact path must not be empty"),
    ("none", None, "empty", "artifact path must not be empty"),
    ("dot", ".", "empty", "artifact path '.' names no file"),
    ("dots-and-slashes", ".//./", "empty", "artifact path './/./' names no file"),
    ("nul", "a\x00b", "control", "artifact path must not contain NUL or control characters"),
    ("newline", "a\nb", "control", "artifact path must not contain NUL or control characters"),
    ("tab", "a\tb", "control", "artifact path must not contain NUL or control characters"),
    ("delete", "a\x7fb", "control", "artifact path must not contain NUL or control characters"),
    (
        "backslash",
        "a\\b",
        "backslash",
        "artifact path 'a\\\\b' must use '/' separators, not backslashes",
    ),
    (
        "drive-backslash",
        "C:\\x",
        "backslash",
        "artifact path 'C:\\\\x' must use '/' separators, not backslashes",
    ),
    ("drive-slash", "C:/x", "absolute", "artifact path 'C:/x' must be relative"),
    ("drive-relative", "c:x", "absolute", "artifact path 'c:x' must be relative"),
    ("absolute", "/etc/passwd", "absolute", "artifact path '/etc/passwd' must be relative"),
    ("unc", "//server/share", "absolute", "artifact path '//server/share' must be relative"),
    ("parent", "../x", "escape", "artifact path '../x' must not contain '..' segments"),
    ("only-parent", "..", "escape", "artifact path '..' must not contain '..' segments"),
    (
        "escape-after-descent",
        "a/../../b",
        "escape",
        "artifact path 'a/../../b' must not contain '..' segments",
    ),
    (
        "inner-parent",
        "a/b/../c",
        "escape",
        "artifact path 'a/b/../c' must not contain '..' segments",
    ),
    ("too-long", "a" * 1025, "too_long", "artifact path is longer than 1024 characters"),
]


@pytest.mark.parametrize(
    ("raw", "code", "message"), [r[1:] for r in REJECTED], ids=[r[0] for r in REJECTED]
)
def test_it_rejects_an_unsafe_path_naming_the_rule(raw: str, code: str, message: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        normalise_path(raw)

    assert excinfo.value.code == code
    assert excinfo.value.messages == [message]


@pytest.mark.parametrize(
    "raw",
    ["a\x85b", "a\x9b31mb", "invoice\u202efdp.exe", "a\u200bb", "\ufeffmodel.bin"],
    ids=["c1-nel", "c1-csi", "rtl-override", "zero-width-space", "byte-order-mark"],
)
def test_it_rejects_c1_controls_and_invisible_format_characters(raw: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        normalise_path(raw)

    assert excinfo.value.code == "control"
    assert excinfo.value.messages == ["artifact path must not contain NUL or control characters"]


# --- stage_blob / commit_blobs / iter_blob ------------------------------------------------


@pytest.mark.django_db
def test_it_stores_a_blob_under_its_sha256_with_the_uploaded_bytes(tmp_path: Path) -> None:
    data = b"\x00weights\xff" * 1000

    stored = write_blob(io.BytesIO(data), "model.bin")

    assert (stored.sha256, stored.size) == (sha(data), len(data))
    assert read_stored(stored.sha256) == data
    assert Blob.objects.get().size == len(data)
    assert stored_files(tmp_path) == [blob_storage_name(sha(data))]  # no temporary left


@pytest.mark.django_db
def test_it_stages_privately_until_committed(tmp_path: Path) -> None:
    staged = stage_blob(io.BytesIO(b"private"), "m.bin")

    assert stored_files(tmp_path) == [staged.temp_name]
    assert not artifact_storage.exists(blob_storage_name(staged.sha256))
    discard_staged([staged])
    assert stored_files(tmp_path) == []
    assert not Blob.objects.exists()


@pytest.mark.django_db
def test_it_hashes_from_the_start_of_the_stream_wherever_it_is_positioned() -> None:
    stream = io.BytesIO(b"abcdef")
    stream.read(4)

    stored = write_blob(stream, "x")

    assert stored.sha256 == sha(b"abcdef")
    assert read_stored(stored.sha256) == b"abcdef"


@pytest.mark.django_db
def test_it_streams_in_chunks_for_files_larger_than_a_chunk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(artifacts, "CHUNK_SIZE", 7)
    monkeypatch.setattr(storage, "CHUNK_SIZE", 7)
    data = bytes(range(256)) * 3

    stored = write_blob(io.BytesIO(data), "big.bin")

    assert (stored.sha256, stored.size) == (sha(data), len(data))
    assert b"".join(iter_blob(stored.sha256)) == data
    assert {len(chunk) for chunk in iter_blob(stored.sha256)} <= {7, len(data) % 7}


@pytest.mark.django_db
def test_it_stores_an_empty_file() -> None:
    stored = write_blob(io.BytesIO(b""), "empty.txt")

    assert (stored.sha256, stored.size) == (sha(b""), 0)
    assert read_stored(stored.sha256) == b""


@pytest.mark.django_db
def test_it_does_not_rewrite_a_blob_that_has_a_row(tmp_path: Path) -> None:
    first = write_blob(io.BytesIO(b"same"), "a")
    path = tmp_path / "artifacts" / blob_storage_name(first.sha256)
    before = path.stat().st_mtime_ns

    again = write_blob(io.BytesIO(b"same"), "b")

    assert again.sha256 == first.sha256
    assert path.stat().st_mtime_ns == before
    assert Blob.objects.count() == 1
    assert stored_files(tmp_path) == [blob_storage_name(first.sha256)]


@pytest.mark.django_db
def test_it_adopts_an_intact_file_without_a_row(tmp_path: Path) -> None:
    """An intact file from an earlier request that crashed after copying: keep it."""
    artifact_storage.save(blob_storage_name(sha(b"data")), ContentFile(b"data"))

    stored = write_blob(io.BytesIO(b"data"), "x")

    assert read_stored(stored.sha256) == b"data"
    assert Blob.objects.filter(sha256=stored.sha256).exists()
    assert stored_files(tmp_path) == [blob_storage_name(sha(b"data"))]


@pytest.mark.django_db
def test_it_replaces_a_torn_file_that_has_no_row(tmp_path: Path) -> None:
    data = b"the full, correct contents"
    name = blob_storage_name(sha(data))
    artifact_storage.save(name, ContentFile(data[:5]))  # a crashed upload's partial file

    stored = write_blob(io.BytesIO(data), "model.bin")

    assert (stored.sha256, stored.size) == (sha(data), len(data))
    assert read_stored(stored.sha256) == data
    assert stored_files(tmp_path) == [name]  # replaced in place, no "_abc123" sibling


@pytest.mark.django_db
def test_it_refuses_a_blob_over_the_size_limit_without_writing_it(
    settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.MODELGATE_MAX_ARTIFACT_BYTES = 10
    written: list[int] = []
    real_save = FileSystemStorage._save

    def counting_save(storage: FileSystemStorage, name: str, content: Any) -> str:
        class Counting:
            def read(self, size: int = -1) -> bytes:
                chunk = content.read(size)
                written.append(len(chunk))
                return chunk

        return real_save(storage, name, artifacts.File(Counting(), name=name))

    monkeypatch.setattr(FileSystemStorage, "_save", counting_save)

    with pytest.raises(ValidationError) as excinfo:
        stage_blob(io.BytesIO(b"x" * 200_000), "big.bin")

    assert excinfo.value.code == "too_large"
    assert excinfo.value.messages == [
        "artifact 'big.bin' is 200,000 bytes, over the limit of 10 bytes "
        "(MODELGATE_MAX_ARTIFACT_BYTES)"
    ]
    assert written == []  # cut off at the first chunk that crossed the limit
    assert stored_files(tmp_path) == []


@pytest.mark.parametrize(
    ("start", "length", "expected"),
    [
        (0, None, b"0123456789"),
        (3, None, b"3456789"),
        (0, 4, b"0123"),
        (2, 5, b"23456"),
        (8, 10, b"89"),
        (9, 1, b"9"),
        (10, None, b""),
        (25, 3, b""),
        (4, 0, b""),
    ],
)
@pytest.mark.django_db
@pytest.mark.usefixtures("any_storage")
def test_it_reads_a_blob_or_a_byte_range_of_it(
    monkeypatch: pytest.MonkeyPatch, start: int, length: int | None, expected: bytes
) -> None:
    stored = write_blob(io.BytesIO(b"0123456789"), "digits.txt")
    monkeypatch.setattr(storage, "CHUNK_SIZE", 3)

    chunks = list(iter_blob(stored.sha256, start, length))

    assert b"".join(chunks) == expected
    assert all(0 < len(chunk) <= 3 for chunk in chunks)


# --- content addressing through register_version -----------------------------------------


@pytest.mark.django_db
def test_it_stores_the_same_bytes_once_for_two_versions(
    make_model: MakeModel, make_version: MakeVersion, tmp_path: Path
) -> None:
    model = make_model()
    data = b"shared weights"

    v1 = make_version(model, "1.0.0", files={"model.bin": data})
    v2 = make_version(model, "1.1.0", files={"renamed/model.bin": data})

    blob = Blob.objects.get()
    assert blob.sha256 == hashlib.sha256(data).hexdigest()
    assert blob.size == len(data)
    assert stored_files(tmp_path) == [blob.storage_name]
    assert read_stored(blob.sha256) == data
    assert sorted(Artifact.objects.values_list("version_id", "path", "blob_id")) == [
        (v1.pk, "model.bin", blob.sha256),
        (v2.pk, "renamed/model.bin", blob.sha256),
    ]


@pytest.mark.django_db
def test_it_stores_the_same_bytes_once_for_two_paths_in_one_version(
    make_model: MakeModel, make_version: MakeVersion, tmp_path: Path
) -> None:
    mv = make_version(make_model(), "1.0.0", files={"a.bin": b"dup", "b/a.bin": b"dup"})

    assert Blob.objects.count() == 1
    assert stored_files(tmp_path) == [blob_storage_name(sha(b"dup"))]
    assert list(mv.artifacts.values_list("path", flat=True)) == ["a.bin", "b/a.bin"]


@pytest.mark.django_db
def test_it_shares_blobs_across_models_and_teams(
    make_model: MakeModel, make_version: MakeVersion, other_team: Any, site_admin: Any
) -> None:
    mine = make_model("mine")
    theirs = make_model("theirs", team=other_team, actor=site_admin)

    make_version(mine, "1.0.0", files={"w.bin": b"common"})
    make_version(theirs, "1.0.0", files={"w.bin": b"common"}, actor=site_admin)

    assert Blob.objects.count() == 1
    assert Artifact.objects.count() == 2


@pytest.mark.django_db
def test_it_keeps_every_file_with_its_own_content(
    make_model: MakeModel, make_version: MakeVersion, tmp_path: Path
) -> None:
    files = {"a.bin": b"alpha", "b/b.bin": b"beta", "c.txt": b"", "d.bin": bytes(range(256))}

    mv = make_version(make_model(), "1.0.0", files=files)

    for artifact in mv.artifacts.select_related("blob"):
        assert read_stored(artifact.blob_id) == files[artifact.path]
        assert artifact.size == artifact.blob.size == len(files[artifact.path])
        assert artifact.blob.sha256 == hashlib.sha256(files[artifact.path]).hexdigest()
    assert len(stored_files(tmp_path)) == 4


def test_it_flushes_a_staged_upload_before_any_lock_is_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    synced: list[str] = []
    real_fsync = artifacts._fsync
    monkeypatch.setattr(artifacts, "_fsync", lambda path: (synced.append(path), real_fsync(path)))

    staged = stage_blob(io.BytesIO(b"durable"), "model.bin")
    try:
        assert staged.durable
        assert synced == [artifact_storage.path(staged.temp_name)]
    finally:
        discard_staged([staged])


@pytest.mark.django_db
def test_it_makes_a_blob_durable_before_it_is_visible(monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    real_fsync = artifacts._fsync
    monkeypatch.setattr(artifacts, "_fsync", lambda path: (synced.append(path), real_fsync(path)))

    stored = write_blob(io.BytesIO(b"durable"), "model.bin")

    target = artifact_storage.path(blob_storage_name(stored.sha256))
    assert len(synced) == 2
    assert synced[0].endswith(stored.temp_name)  # the bytes, when staged (before the rename)
    assert synced[1] == os.path.dirname(target)  # then the directory entry
