"""Concurrent registrations and promotions on one model, each thread on its own connection.

These rely on PostgreSQL row locks (SELECT … FOR UPDATE); CI runs them on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from accounts.audit import verify_chain
from accounts.models import AuditEvent, User
from registry import services
from registry.metadata import clean_version_metadata
from registry.models import (
    Artifact,
    Blob,
    ModelVersion,
    RegisteredModel,
    Stage,
    StageTransition,
    blob_storage_name,
)
from registry.storage import artifact_storage
from tests.threads import run_at_once

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]

MakeModel = Callable[..., RegisteredModel]
MakeVersion = Callable[..., ModelVersion]


@pytest.fixture(autouse=True)
def _postgres_only(is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip("row locks need PostgreSQL")


def test_it_numbers_24_simultaneous_registrations_1_to_24_without_gaps(
    make_model: MakeModel, contributor: User
) -> None:
    model = make_model("churn", "semantic")

    def prepare(index: int) -> dict[str, Any]:
        return {
            "model": RegisteredModel.objects.select_related("team").get(pk=model.pk),
            "actor": User.objects.get(pk=contributor.pk),
            "version": f"1.0.{index}",
            "metadata": clean_version_metadata(
                {"metrics": {"test": {"auc": index / 100}}, "tags": {"thread": str(index)}}
            ),
            "files": [services.ArtifactUpload("model.bin", io.BytesIO(b"weights %d" % index))],
        }

    created = run_at_once(24, prepare, lambda kwargs: services.register_version(**kwargs))

    assert sorted(mv.sequence for mv in created) == list(range(1, 25))
    stored = ModelVersion.objects.filter(model=model)
    assert sorted(stored.values_list("sequence", flat=True)) == list(range(1, 25))
    assert sorted(stored.values_list("version", flat=True)) == sorted(f"1.0.{i}" for i in range(24))
    model.refresh_from_db()
    assert model.last_sequence == 24
    assert model.version_count == 24
    # The highest by precedence (not the last to commit: the threads ran in any order).
    assert model.latest_version == stored.get(version="1.0.23")
    assert StageTransition.objects.filter(version__model=model).count() == 24
    assert Artifact.objects.filter(version__model=model).count() == 24
    assert Blob.objects.count() == 24
    # Each version's metrics and tags (written before the lock, under a reserved id) are
    # its own, and the audit chain took the 24 events one after another.
    for mv in stored.prefetch_related("metrics", "tags"):
        index = int(mv.version.rsplit(".", 1)[1])
        assert [(m.name, m.value) for m in mv.metrics.all()] == [("auc", index / 100)]
        assert {t.key: t.value for t in mv.tags.all()} == {"thread": str(index)}
    assert verify_chain()[1] is None
    registered = AuditEvent.objects.filter(action="version.register", model_id=model.pk)
    assert registered.count() == 24


def test_it_relies_on_deferred_foreign_keys_to_write_a_versions_rows_before_it() -> None:
    """register_version inserts metrics, tags and the first transition before the version
    row (its id reserved), which PostgreSQL accepts because Django creates foreign keys
    DEFERRABLE INITIALLY DEFERRED: checked at commit, when the version exists."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, condeferrable, condeferred FROM pg_constraint "
            "WHERE contype = 'f' AND confrelid = 'registry_modelversion'::regclass "
            "AND conrelid::regclass::text IN "
            "('registry_metric', 'registry_versiontag', 'registry_stagetransition')"
        )
        rows = sorted(cursor.fetchall())
    assert rows == [
        ("registry_metric", True, True),
        ("registry_stagetransition", True, True),
        ("registry_versiontag", True, True),
    ]


def test_it_gives_concurrent_timestamp_registrations_consecutive_sequences(
    make_model: MakeModel, contributor: User
) -> None:
    model = make_model("nightly", "timestamp")

    def prepare(index: int) -> dict[str, Any]:
        return {
            "model": RegisteredModel.objects.select_related("team").get(pk=model.pk),
            "actor": User.objects.get(pk=contributor.pk),
            "version": f"20250101-0000{index:02d}",
            "metadata": clean_version_metadata({}),
        }

    run_at_once(12, prepare, lambda kwargs: services.register_version(**kwargs))

    model.refresh_from_db()
    assert sorted(model.versions.values_list("sequence", flat=True)) == list(range(1, 13))
    assert (model.last_sequence, model.version_count) == (12, 12)


@pytest.mark.parametrize("scheme", ["semantic", "timestamp"])
def test_simultaneous_registrations_without_a_version_all_get_one(
    make_model: MakeModel, make_version: MakeVersion, contributor: User, scheme: str
) -> None:
    """Parallel training jobs that leave the version out: each gets its own (chosen
    again under the model's lock when another took it), none is refused."""
    model = make_model("churn", scheme)
    if scheme == "semantic":
        make_version(model, "1.0.0")

    def prepare(index: int) -> dict[str, Any]:
        return {
            "model": RegisteredModel.objects.select_related("team").get(pk=model.pk),
            "actor": User.objects.get(pk=contributor.pk),
            "metadata": clean_version_metadata({"tags": {"job": str(index)}}),
        }

    created = run_at_once(8, prepare, lambda kwargs: services.register_version(**kwargs))

    versions = [mv.version for mv in created]
    assert len(set(versions)) == 8
    if scheme == "semantic":
        assert sorted(versions) == [f"1.0.{n}" for n in range(1, 9)]
    stored = ModelVersion.objects.filter(model=model).exclude(version="1.0.0")
    assert sorted(stored.values_list("version", flat=True)) == sorted(versions)


def test_it_leaves_exactly_one_production_version_after_8_simultaneous_promotions(
    make_model: MakeModel, make_version: MakeVersion, maintainer: User
) -> None:
    model = make_model("churn", "semantic")
    versions = [make_version(model, f"1.{i}.0") for i in range(8)]

    def prepare(index: int) -> dict[str, Any]:
        return {
            "version": ModelVersion.objects.select_related("model__team").get(
                pk=versions[index].pk
            ),
            "actor": User.objects.get(pk=maintainer.pk),
            "to_stage": Stage.PRODUCTION,
        }

    run_at_once(8, prepare, lambda kwargs: services.apply_transition(**kwargs))

    stages = dict(model.versions.values_list("pk", "stage"))
    [winner] = [pk for pk, stage in stages.items() if stage == Stage.PRODUCTION]
    assert sorted(stages.values()) == ["archived"] * 7 + ["production"]

    # Replaying the stage changes in commit order: every promotion archived the one before.
    names = dict(model.versions.values_list("pk", "version"))
    changes = StageTransition.objects.filter(version__model=model).exclude(from_stage="")
    production: int | None = None
    promotions = demotions = 0
    pending_replacement: str | None = None
    for t in changes.order_by("id"):
        if t.to_stage == Stage.ARCHIVED:
            assert (t.version_id, t.from_stage) == (production, Stage.PRODUCTION)
            pending_replacement = t.comment
            production = None
            demotions += 1
        else:
            assert (t.from_stage, t.to_stage) == (Stage.DEVELOPMENT, Stage.PRODUCTION)
            assert production is None
            if pending_replacement is not None:
                assert pending_replacement == f"replaced by {names[t.version_id]}"
                pending_replacement = None
            production = t.version_id
            promotions += 1
    assert (promotions, demotions) == (8, 7)
    assert production == winner


def test_it_keeps_a_blob_that_another_registration_still_needs(
    make_model: MakeModel,
    make_version: MakeVersion,
    contributor: User,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Request A writes a new blob, request B reuses that file, then A fails (duplicate
    version) and cleans up; B commits afterwards. B's artifact must still have its bytes."""
    model_a, model_b = make_model("a"), make_model("b")
    make_version(model_a, "1.0.0")
    data = b"weights both requests upload"
    a_wrote, b_wrote, a_done = threading.Event(), threading.Event(), threading.Event()
    original = services._create_version_rows

    def interleaved(model: RegisteredModel, *args: Any, **kwargs: Any) -> ModelVersion:
        if model.pk == model_a.pk:
            a_wrote.set()
            assert b_wrote.wait(timeout=30)
        else:
            b_wrote.set()
            assert a_done.wait(timeout=30)
        return original(model, *args, **kwargs)

    monkeypatch.setattr(services, "_create_version_rows", interleaved)
    outcomes: dict[str, Any] = {}

    def register(name: str, model: RegisteredModel) -> None:
        try:
            outcomes[name] = services.register_version(
                model=model,
                actor=User.objects.get(pk=contributor.pk),
                version="1.0.0",
                metadata=clean_version_metadata({}),
                files=[services.ArtifactUpload("model.bin", io.BytesIO(data))],
            )
        except Exception as exc:
            outcomes[name] = exc
        finally:
            connection.close()

    thread_a = threading.Thread(target=register, args=("a", model_a))
    thread_b = threading.Thread(target=register, args=("b", model_b))
    thread_a.start()
    assert a_wrote.wait(timeout=30)
    thread_b.start()
    thread_a.join(timeout=30)
    a_done.set()
    thread_b.join(timeout=30)

    assert isinstance(outcomes["a"], ValidationError)  # duplicate 1.0.0 of model a
    assert isinstance(outcomes["b"], ModelVersion)
    artifact = Artifact.objects.get(version=outcomes["b"])
    assert artifact_storage.exists(blob_storage_name(artifact.blob_id))
    with artifact_storage.open(blob_storage_name(artifact.blob_id), "rb") as fh:
        assert hashlib.sha256(fh.read()).hexdigest() == artifact.blob_id


def test_simultaneous_registrations_in_any_version_order_leave_the_highest_latest(
    make_model: MakeModel, make_version: MakeVersion, contributor: User
) -> None:
    """The model row's lock waits for the registrations before it; the latest version they
    committed is read afresh, not from the snapshot the locking statement started with."""
    for round_ in range(3):
        model = make_model(f"churn{round_}", "semantic")
        make_version(model, "0.1.0")

        def prepare(index: int, model: RegisteredModel = model) -> dict[str, Any]:
            return {
                "model": RegisteredModel.objects.select_related("team").get(pk=model.pk),
                "actor": User.objects.get(pk=contributor.pk),
                "version": f"1.{index}.0",
                "metadata": clean_version_metadata({}),
            }

        run_at_once(8, prepare, lambda kwargs: services.register_version(**kwargs))
        model.refresh_from_db()
        assert (model.latest_version.version, model.version_count) == ("1.7.0", 9)
