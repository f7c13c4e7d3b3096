"""register_version: what a new version stores, how it is numbered, and that bad input or a
refused actor changes nothing (no version, no Blob row, no file left in artifact storage)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.utils import timezone

from accounts.models import Team
from registry import artifacts, services
from registry.metadata import clean_version_metadata
from registry.models import (
    Artifact,
    Blob,
    Metric,
    ModelVersion,
    RegisteredModel,
    StageTransition,
    VersionTag,
    blob_storage_name,
)
from registry.storage import artifact_storage

pytestmark = pytest.mark.django_db

MakeModel = Callable[..., RegisteredModel]
MakeVersion = Callable[..., ModelVersion]


def stored_files(tmp_path: Path) -> list[str]:
    """Every file in this test's artifact storage, relative to its root."""
    root = tmp_path / "artifacts"
    if not root.exists():
        return []
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def snapshot(model: RegisteredModel, tmp_path: Path) -> dict[str, Any]:
    """Everything a registration could touch, to compare before and after a failed one."""
    model.refresh_from_db()
    return {
        "versions": sorted(ModelVersion.objects.values_list("model_id", "version", "sequence")),
        "blobs": sorted(Blob.objects.values_list("sha256", flat=True)),
        "artifacts": Artifact.objects.count(),
        "metrics": Metric.objects.count(),
        "tags": VersionTag.objects.count(),
        "transitions": StageTransition.objects.count(),
        "files": stored_files(tmp_path),
        "last_sequence": model.last_sequence,
        "version_count": model.version_count,
        "latest_version": model.latest_version_id,
    }


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def messages_for(exc: ValidationError, field: str) -> list[str]:
    assert field in exc.message_dict, exc.message_dict
    return exc.message_dict[field]


@pytest.fixture
def model(make_model: MakeModel) -> RegisteredModel:
    return make_model("churn", "semantic")


@pytest.fixture
def registered(model: RegisteredModel, make_version: MakeVersion) -> ModelVersion:
    """A model that already holds version 1.0.0 with one file, so 'unchanged' means something."""
    return make_version(model, "1.0.0", files={"base.bin": b"base bytes"})


# --- what a version stores ---------------------------------------------------------------


FULL_METADATA: dict[str, Any] = {
    "description": "  Gradient-boosted churn model  ",
    "task_type": "classification",
    "framework": "XGBoost",
    "framework_version": "2.0.3",
    "metrics": {
        "test": {
            "auc": 0.93,
            "log_loss": 0.21,
            "latency_ms": 12,
            "recall": {"value": 0.8, "direction": "higher"},
        },
        "validation": {"custom_score": {"value": "3.5", "direction": "lower"}},
        "business": {"revenue_uplift": 1200.0},
    },
    "params": {"max_depth": 6, "eta": 0.1, "objective": "binary:logistic", "grid": {"a": [1, 2]}},
    "environment": {
        "python": "3.12.01",
        "os": "Debian 13",
        "hardware": {"gpu": "A100", "count": 2},
        "packages": ["NumPy==1.26.4", "scikit_learn>=1.3", "# a comment", "", "Torch===2.1.0"],
    },
    "signature": {
        "inputs": [{"name": "age", "type": "long"}, {"name": "plan", "type": "string"}],
        "outputs": [{"type": "double", "shape": [-1]}],
    },
    "code_repository": "https://git.example.com/fraud/churn",
    "code_commit": "abc123def4567890",
    "code_branch": "main",
    "code_entry_point": "train.py:main",
    "code_dirty": False,
    "training_started_at": "2025-01-31T14:30:00Z",
    "training_ended_at": "2025-01-31T16:15:00+01:00",
    "tags": {"owner": "fraud", "candidate": "", "team:region/eu": "west"},
}


def test_it_stores_every_metadata_group(
    model: RegisteredModel, make_version: MakeVersion, contributor: Any
) -> None:
    created = make_version(model, "1.0.0", **FULL_METADATA)

    mv = ModelVersion.objects.get(pk=created.pk)
    assert mv.model == model
    assert mv.version == "1.0.0"
    assert mv.created_by == contributor
    assert mv.description == "Gradient-boosted churn model"
    assert mv.task_type == "classification"
    assert mv.framework == "xgboost"
    assert mv.framework_version == "2.0.3"
    assert mv.params == FULL_METADATA["params"]
    assert mv.signature == FULL_METADATA["signature"]
    assert mv.code_repository == "https://git.example.com/fraud/churn"
    assert mv.code_commit == "abc123def4567890"
    assert mv.code_branch == "main"
    assert mv.code_entry_point == "train.py:main"
    assert mv.code_dirty is False
    assert mv.training_started_at == dt.datetime(2025, 1, 31, 14, 30, tzinfo=dt.UTC)
    assert mv.training_ended_at == dt.datetime(2025, 1, 31, 15, 15, tzinfo=dt.UTC)
    assert mv.training_duration == dt.timedelta(minutes=45)
    assert dict(mv.tags.values_list("key", "value")) == {
        "candidate": "",
        "owner": "fraud",
        "team:region/eu": "west",
    }


def test_it_stores_metrics_with_split_and_direction(
    model: RegisteredModel, make_version: MakeVersion
) -> None:
    mv = make_version(model, "1.0.0", metrics=FULL_METADATA["metrics"])

    stored = {(m.split, m.name): (m.value, m.direction) for m in mv.metrics.all()}
    assert stored == {
        ("test", "auc"): (0.93, "higher"),
        ("test", "log_loss"): (0.21, "lower"),
        ("test", "latency_ms"): (12.0, "lower"),
        ("test", "recall"): (0.8, "higher"),
        ("validation", "custom_score"): (3.5, "lower"),
        ("business", "revenue_uplift"): (1200.0, "higher"),
    }
    # Denormalised for the trend chart: every metric points at the version's model.
    assert set(Metric.objects.values_list("model_id", flat=True)) == {model.pk}


def test_it_stores_the_environment_with_packages_parsed_and_canonicalised(
    model: RegisteredModel, make_version: MakeVersion
) -> None:
    mv = make_version(model, "1.0.0", environment=FULL_METADATA["environment"])

    mv.refresh_from_db()
    assert mv.environment == {
        "python": "3.12.1",
        "os": "Debian 13",
        "hardware": {"gpu": "A100", "count": 2},
        "packages": [
            {"name": "numpy", "requirement": "NumPy==1.26.4", "version": "1.26.4"},
            {"name": "scikit-learn", "requirement": "scikit_learn>=1.3"},
            {"name": "torch", "requirement": "Torch===2.1.0", "version": "2.1.0"},
        ],
    }


def test_it_accepts_packages_as_an_object_of_names_to_versions(
    model: RegisteredModel, make_version: MakeVersion
) -> None:
    mv = make_version(
        model, "1.0.0", environment={"packages": {"Pandas": "2.2.0", "scikit_learn": "1.5.1"}}
    )

    mv.refresh_from_db()
    assert mv.environment["packages"] == [
        {"name": "pandas", "requirement": "Pandas==2.2.0", "version": "2.2.0"},
        {"name": "scikit-learn", "requirement": "scikit_learn==1.5.1", "version": "1.5.1"},
    ]


def test_it_takes_task_type_and_framework_from_the_model_when_the_version_omits_them(
    make_model: MakeModel, make_version: MakeVersion
) -> None:
    model = make_model("ranker", "semantic", task_type="ranking", framework="LightGBM")

    mv = make_version(model, "1.0.0")

    assert (mv.task_type, mv.framework) == ("ranking", "lightgbm")
    assert mv.training_duration is None


def test_it_stores_artifacts_with_their_normalised_paths(
    model: RegisteredModel, make_version: MakeVersion
) -> None:
    mv = make_version(model, "1.0.0", files={"model/./weights//w.bin": b"w", "README.md": b"r"})

    assert list(mv.artifacts.values_list("path", "blob_id", "size")) == [
        ("README.md", sha(b"r"), 1),
        ("model/weights/w.bin", sha(b"w"), 1),
    ]


def test_it_numbers_versions_one_two_three_and_updates_the_model(
    model: RegisteredModel, make_version: MakeVersion
) -> None:
    versions = [make_version(model, v) for v in ("1.0.0", "1.1.0", "2.0.0-rc.1")]

    assert [v.sequence for v in versions] == [1, 2, 3]
    model.refresh_from_db()
    assert model.last_sequence == 3
    assert model.version_count == 3
    assert model.latest_version == versions[-1]


def test_it_leaves_no_gap_in_sequence_numbers_after_a_failed_registration(
    model: RegisteredModel, make_version: MakeVersion
) -> None:
    make_version(model, "1.0.0")
    with pytest.raises(ValidationError):
        make_version(model, "1.0.0")
    with pytest.raises(ValidationError):
        make_version(model, "not-a-version")

    second = make_version(model, "1.1.0")

    assert second.sequence == 2


def test_it_numbers_each_model_separately(make_model: MakeModel, make_version: MakeVersion) -> None:
    churn, fraud = make_model("churn"), make_model("fraud")
    make_version(churn, "1.0.0")
    make_version(churn, "1.1.0")

    assert make_version(fraud, "1.0.0").sequence == 1


def test_it_records_the_registration_as_a_transition_into_development(
    model: RegisteredModel, make_version: MakeVersion, contributor: Any
) -> None:
    mv = make_version(model, "1.0.0")

    assert mv.stage == "development"
    transition = StageTransition.objects.get(version=mv)
    assert (transition.from_stage, transition.to_stage) == ("", "development")
    assert transition.actor == contributor


def test_it_assigns_a_timestamp_version_when_the_scheme_is_timestamp_and_none_is_given(
    make_model: MakeModel, make_version: MakeVersion, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = make_model("nightly", "timestamp")
    monkeypatch.setattr(
        timezone, "now", lambda: dt.datetime(2024, 12, 19, 14, 30, 22, 999, tzinfo=dt.UTC)
    )

    mv = make_version(model)

    assert mv.version == "20241219-143022"
    assert mv.sequence == 1


def test_it_assigns_the_timestamp_in_utc(
    make_model: MakeModel, make_version: MakeVersion, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = make_model("nightly", "timestamp")
    plus_two = dt.timezone(dt.timedelta(hours=2))
    monkeypatch.setattr(timezone, "now", lambda: dt.datetime(2025, 1, 1, 1, 0, 0, tzinfo=plus_two))

    assert make_version(model).version == "20241231-230000"


def test_it_accepts_an_explicit_timestamp_version(
    make_model: MakeModel, make_version: MakeVersion
) -> None:
    model = make_model("nightly", "timestamp")

    assert make_version(model, "20240229-235959").version == "20240229-235959"


@pytest.mark.parametrize("scheme", ["git", "hybrid"])
@pytest.mark.parametrize("missing", [None, "", "   "])
def test_it_requires_a_version_for_schemes_without_automatic_versions(
    make_model: MakeModel,
    make_version: MakeVersion,
    tmp_path: Path,
    scheme: str,
    missing: str | None,
) -> None:
    model = make_model("m", scheme)
    before = snapshot(model, tmp_path)

    with pytest.raises(ValidationError) as excinfo:
        make_version(model, missing, files={"a.bin": b"a"})

    assert any(
        f"a version is required for the {scheme} scheme" in m
        for m in messages_for(excinfo.value, "version")
    )
    assert snapshot(model, tmp_path) == before


def test_it_assigns_a_semantic_version_from_the_signature_change(
    model: RegisteredModel, make_version: MakeVersion
) -> None:
    age = {"name": "age", "type": "long"}
    assert make_version(model, None, signature={"inputs": [age]}).version == "1.0.0"
    assert make_version(model, "", signature={"inputs": [age]}).version == "1.0.1"
    optional = {"name": "city", "type": "string", "optional": True}
    assert make_version(model, " ", signature={"inputs": [age, optional]}).version == "1.1.0"
    assert make_version(model, None, signature={"inputs": []}).version == "2.0.0"


def test_it_strips_whitespace_around_the_version(
    model: RegisteredModel, make_version: MakeVersion
) -> None:
    assert make_version(model, "  1.2.3 \n").version == "1.2.3"


# --- bad input changes nothing -----------------------------------------------------------

# (id, scheme, version, metadata, field, fragment of the message naming the rule)
BAD_VERSIONS = [
    ("semantic-v-prefix", "semantic", "v1.0", "version", 'remove the leading "v"'),
    ("semantic-two-parts", "semantic", "1.0", "version", "MAJOR.MINOR.PATCH"),
    ("semantic-leading-zero", "semantic", "01.0.0", "version", "must not have leading zeros"),
    ("git-not-hex", "git", "xyz", "version", "7–40 hex characters"),
    ("timestamp-month-13", "timestamp", "20241332-000000", "version", "month must be in 1..12"),
    ("bad-characters", "semantic", "1.0.0 beta", "version", "invalid characters"),
]


@pytest.mark.parametrize(
    ("scheme", "version", "field", "fragment"),
    [case[1:] for case in BAD_VERSIONS],
    ids=[case[0] for case in BAD_VERSIONS],
)
def test_it_rejects_a_version_invalid_for_the_scheme_and_changes_nothing(
    make_model: MakeModel,
    make_version: MakeVersion,
    tmp_path: Path,
    scheme: str,
    version: str,
    field: str,
    fragment: str,
) -> None:
    model = make_model("m", scheme)
    before = snapshot(model, tmp_path)

    with pytest.raises(ValidationError) as excinfo:
        make_version(model, version, files={"model.bin": b"weights"}, metrics={"test": {"a": 1}})

    assert any(fragment in m for m in messages_for(excinfo.value, field))
    assert snapshot(model, tmp_path) == before
    assert stored_files(tmp_path) == []


# (id, metadata, field, fragment)
BAD_METADATA: list[tuple[str, dict[str, Any], str, str]] = [
    ("metric-text", {"metrics": {"test": {"auc": "high"}}}, "metrics", "must be a finite number"),
    ("metric-nan", {"metrics": {"test": {"auc": math.nan}}}, "metrics", "must be a finite number"),
    ("metric-nan-text", {"metrics": {"test": {"auc": "NaN"}}}, "metrics", "finite number"),
    ("metric-inf", {"metrics": {"test": {"auc": math.inf}}}, "metrics", "must be a finite number"),
    ("metric-minus-inf", {"metrics": {"test": {"auc": "-inf"}}}, "metrics", "finite number"),
    ("metric-bool", {"metrics": {"test": {"auc": True}}}, "metrics", "must be a finite number"),
    ("metric-null", {"metrics": {"test": {"auc": None}}}, "metrics", "must be a finite number"),
    ("metric-list", {"metrics": {"test": {"auc": [0.9]}}}, "metrics", "must be a finite number"),
    (
        "metric-bad-direction",
        {"metrics": {"test": {"auc": {"value": 0.9, "direction": "up"}}}},
        "metrics",
        "direction must be 'higher' or 'lower'",
    ),
    ("unknown-split", {"metrics": {"holdout": {"auc": 0.9}}}, "metrics", "unknown split"),
    (
        "bad-requirement",
        {"environment": {"packages": ["numpy=>1"]}},
        "environment",
        "'numpy=>1' is not a valid requirement (PEP 508)",
    ),
    (
        "bad-python",
        {"environment": {"python": "three point twelve"}},
        "environment",
        "is not a Python version",
    ),
    (
        "training-ends-before-start",
        {
            "training_started_at": "2025-01-31T14:30:00Z",
            "training_ended_at": "2025-01-31T14:29:59Z",
        },
        "training_ended_at",
        "training must not end before it started",
    ),
    ("tag-key-space", {"tags": {"has space": "x"}}, "tags", "Tag keys start with a letter"),
    ("tag-key-leading-dash", {"tags": {"-owner": "x"}}, "tags", "Tag keys start with a letter"),
    ("tag-key-too-long", {"tags": {"k" * 64: "x"}}, "tags", "Tag keys start with a letter"),
    ("params-nan", {"params": {"lr": math.nan}}, "params", "values must be finite numbers"),
]


@pytest.mark.parametrize(
    ("metadata", "field", "fragment"),
    [case[1:] for case in BAD_METADATA],
    ids=[case[0] for case in BAD_METADATA],
)
def test_it_rejects_bad_metadata_and_changes_nothing(
    registered: ModelVersion,
    make_version: MakeVersion,
    tmp_path: Path,
    metadata: dict[str, Any],
    field: str,
    fragment: str,
) -> None:
    model = registered.model
    before = snapshot(model, tmp_path)

    with pytest.raises(ValidationError) as excinfo:
        make_version(model, "2.0.0", files={"new.bin": b"new weights"}, **metadata)

    assert any(fragment in m for m in messages_for(excinfo.value, field))
    assert snapshot(model, tmp_path) == before
    assert not artifact_storage.exists(blob_storage_name(sha(b"new weights")))


def test_it_rejects_metadata_json_over_the_limit_and_changes_nothing(
    registered: ModelVersion, make_version: MakeVersion, tmp_path: Path, settings: Any
) -> None:
    settings.MODELGATE_MAX_METADATA_BYTES = 1000
    model = registered.model
    before = snapshot(model, tmp_path)

    with pytest.raises(ValidationError) as excinfo:
        make_version(model, "2.0.0", files={"new.bin": b"new"}, params={"k": "x" * 992})

    assert messages_for(excinfo.value, "params") == [
        "is 1,001 bytes of JSON, over the limit of 1,000 bytes (MODELGATE_MAX_METADATA_BYTES)"
    ]
    assert snapshot(model, tmp_path) == before


def test_it_accepts_metadata_json_exactly_at_the_limit(
    model: RegisteredModel, make_version: MakeVersion, settings: Any
) -> None:
    settings.MODELGATE_MAX_METADATA_BYTES = 1000

    mv = make_version(model, "1.0.0", params={"k": "x" * 991})  # {"k": "xxx…"} is 1,000 bytes

    assert len(mv.params["k"]) == 991


def test_it_rejects_a_duplicate_version_and_changes_nothing(
    registered: ModelVersion, make_version: MakeVersion, tmp_path: Path
) -> None:
    model = registered.model
    before = snapshot(model, tmp_path)

    with pytest.raises(ValidationError) as excinfo:
        make_version(model, "1.0.0", files={"new.bin": b"new weights"}, metrics={"test": {"a": 1}})

    assert messages_for(excinfo.value, "version") == ["version 1.0.0 of churn already exists"]
    assert snapshot(model, tmp_path) == before


def test_it_removes_blobs_it_wrote_when_the_version_turns_out_to_be_a_duplicate(
    registered: ModelVersion, make_version: MakeVersion, tmp_path: Path
) -> None:
    """The duplicate is only found under the row lock, after the blobs were written."""
    model = registered.model
    base_file = blob_storage_name(sha(b"base bytes"))

    with pytest.raises(ValidationError):
        make_version(
            model,
            "1.0.0",
            files={"base.bin": b"base bytes", "new.bin": b"new bytes", "also.bin": b"also"},
        )

    assert stored_files(tmp_path) == [base_file]
    assert artifact_storage.open(base_file).read() == b"base bytes"
    assert list(Blob.objects.values_list("sha256", flat=True)) == [sha(b"base bytes")]
    assert Artifact.objects.get().version == registered


def _break_transition_insert(monkeypatch: pytest.MonkeyPatch) -> None:
    insert = services.rows.insert

    def broken(objs: Any) -> None:
        if objs and isinstance(objs[0], StageTransition):
            raise RuntimeError("database went away")
        insert(objs)

    monkeypatch.setattr(services.rows, "insert", broken)


def _break_audit_record(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(services.audit, "record", broken)


@pytest.mark.parametrize(
    "break_step",
    [
        # before the model row lock on PostgreSQL (the version's id reserved), after the
        # version row elsewhere
        _break_transition_insert,
        # the last statement before the blobs are promoted
        _break_audit_record,
    ],
    ids=["transition", "audit-event"],
)
def test_it_rolls_everything_back_when_a_late_step_fails(
    registered: ModelVersion,
    make_version: MakeVersion,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    break_step: Callable[[pytest.MonkeyPatch], None],
) -> None:
    model = registered.model
    before = snapshot(model, tmp_path)
    break_step(monkeypatch)

    with pytest.raises(RuntimeError):
        make_version(
            model,
            "2.0.0",
            files={"base.bin": b"base bytes", "new.bin": b"new"},
            metrics={"test": {"auc": 0.9}},
            tags={"owner": "fraud"},
        )

    assert snapshot(model, tmp_path) == before


# (id, raw path, fragment of the message)
BAD_PATHS = [
    ("parent", "../x", "must not contain '..' segments"),
    ("absolute", "/etc/passwd", "must be relative"),
    ("escape-after-descent", "a/../../b", "must not contain '..' segments"),
    ("drive-backslash", "C:\\x", "must use '/' separators, not backslashes"),
    ("drive-slash", "C:/x", "must be relative"),
    ("backslash", "a\\b", "must use '/' separators, not backslashes"),
    ("nul", "a\x00b", "must not contain NUL or control characters"),
    ("empty", "", "artifact path must not be empty"),
    ("blank", "   ", "artifact path must not be empty"),
    ("dot-only", "./", "names no file"),
    ("too-long", "a" * 1025, "longer than 1024 characters"),
]


@pytest.mark.parametrize(
    ("path", "fragment"), [case[1:] for case in BAD_PATHS], ids=[case[0] for case in BAD_PATHS]
)
def test_it_rejects_an_escaping_or_empty_artifact_path_and_changes_nothing(
    registered: ModelVersion, make_version: MakeVersion, tmp_path: Path, path: str, fragment: str
) -> None:
    model = registered.model
    before = snapshot(model, tmp_path)

    with pytest.raises(ValidationError) as excinfo:
        make_version(model, "2.0.0", files={"good.bin": b"good", path: b"evil"})

    assert any(fragment in m for m in messages_for(excinfo.value, "files"))
    assert snapshot(model, tmp_path) == before


def test_it_reports_every_bad_path_at_once(
    model: RegisteredModel, make_version: MakeVersion
) -> None:
    with pytest.raises(ValidationError) as excinfo:
        make_version(model, "1.0.0", files={"../a": b"1", "/b": b"2", "c\\d": b"3"})

    assert len(messages_for(excinfo.value, "files")) == 3


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("model.bin", "model.bin"),
        ("a/b.bin", "a/./b.bin"),
        ("a//b.bin", "a/b.bin/"),
        ("e\u0301.bin", "\u00e9.bin"),
    ],
    ids=["same", "dot-segment", "slashes", "unicode-nfc"],
)
def test_it_rejects_artifact_paths_that_are_the_same_once_normalised(
    registered: ModelVersion,
    make_version: MakeVersion,
    tmp_path: Path,
    first: str,
    second: str,
) -> None:
    model = registered.model
    before = snapshot(model, tmp_path)
    uploads = [
        services.ArtifactUpload(first, io.BytesIO(b"one")),
        services.ArtifactUpload(second, io.BytesIO(b"two")),
    ]

    with pytest.raises(ValidationError) as excinfo:
        services.register_version(
            model=model,
            actor=registered.created_by,
            version="2.0.0",
            metadata=clean_version_metadata({}),
            files=uploads,
        )

    [message] = messages_for(excinfo.value, "files")
    assert message.startswith("artifact paths must be unique; repeated: ")
    assert snapshot(model, tmp_path) == before


def test_it_rejects_an_upload_over_the_size_limit_and_changes_nothing(
    registered: ModelVersion, make_version: MakeVersion, tmp_path: Path, settings: Any
) -> None:
    settings.MODELGATE_MAX_ARTIFACT_BYTES = 10
    model = registered.model
    before = snapshot(model, tmp_path)

    # The first file fits (exactly the limit) and is written before the second is refused.
    with pytest.raises(ValidationError) as excinfo:
        make_version(model, "2.0.0", files={"fits.bin": b"0123456789", "big.bin": b"x" * 11})

    assert any("over the limit of 10 bytes" in m for m in excinfo.value.messages)
    assert snapshot(model, tmp_path) == before


def test_it_names_the_files_field_when_an_upload_is_over_the_size_limit(
    model: RegisteredModel, make_version: MakeVersion, settings: Any
) -> None:
    settings.MODELGATE_MAX_ARTIFACT_BYTES = 10

    with pytest.raises(ValidationError) as excinfo:
        make_version(model, "1.0.0", files={"big.bin": b"x" * 11})

    assert any(
        "'big.bin' is 11 bytes, over the limit of 10 bytes" in m
        for m in messages_for(excinfo.value, "files")
    )


def test_it_refuses_an_upload_of_known_size_over_the_limit_before_writing_anything(
    model: RegisteredModel,
    contributor: Any,
    tmp_path: Path,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.MODELGATE_MAX_ARTIFACT_BYTES = 10
    written: list[str] = []
    monkeypatch.setattr(artifacts, "stage_blob", lambda stream, path: written.append(path))
    uploads = [
        services.ArtifactUpload("fits.bin", ContentFile(b"0123456789")),
        services.ArtifactUpload("big.bin", ContentFile(b"x" * 11)),
    ]

    with pytest.raises(ValidationError) as excinfo:
        services.register_version(
            model=model,
            actor=contributor,
            version="1.0.0",
            metadata=clean_version_metadata({}),
            files=uploads,
        )

    assert messages_for(excinfo.value, "files") == [
        "artifact 'big.bin' is 11 bytes, over the limit of 10 bytes (MODELGATE_MAX_ARTIFACT_BYTES)"
    ]
    assert written == []
    assert stored_files(tmp_path) == []


def test_it_accepts_an_upload_exactly_at_the_size_limit(
    model: RegisteredModel, make_version: MakeVersion, settings: Any
) -> None:
    settings.MODELGATE_MAX_ARTIFACT_BYTES = 10

    mv = make_version(model, "1.0.0", files={"fits.bin": b"0123456789"})

    assert mv.artifacts.get().size == 10


def test_it_rejects_a_metric_integer_too_large_for_a_float(
    model: RegisteredModel, make_version: MakeVersion
) -> None:
    with pytest.raises(ValidationError) as excinfo:
        make_version(model, "1.0.0", metrics={"test": {"auc": 10**400}})

    assert any("must be a finite number" in m for m in messages_for(excinfo.value, "metrics"))
    assert not ModelVersion.objects.exists()


def test_it_rejects_a_code_commit_longer_than_its_column(
    model: RegisteredModel, make_version: MakeVersion
) -> None:
    with pytest.raises(ValidationError) as excinfo:
        make_version(model, "1.0.0", code_commit="a" * 65)

    assert any("64" in m for m in messages_for(excinfo.value, "code_commit"))
    assert not ModelVersion.objects.exists()


def test_it_registers_the_next_version_normally_after_bad_input(
    registered: ModelVersion, make_version: MakeVersion, tmp_path: Path
) -> None:
    with pytest.raises(ValidationError):
        make_version(registered.model, "1.0.0", files={"new.bin": b"new"})

    mv = make_version(registered.model, "1.1.0", files={"new.bin": b"new"})

    assert mv.sequence == 2
    assert artifact_storage.open(blob_storage_name(sha(b"new"))).read() == b"new"


# --- create_model (the model a version belongs to) ------------------------------------------


def test_it_creates_a_model_with_its_tags(team: Team, contributor: Any) -> None:
    model = services.create_model(
        team=team,
        name="  churn-v2 ",
        actor=contributor,
        framework=" PyTorch ",
        task_type="classification",
        versioning_scheme="git",
        tags={"owner": "fraud", "pii": ""},
    )

    model.refresh_from_db()
    assert (model.name, model.framework, model.versioning_scheme) == ("churn-v2", "pytorch", "git")
    assert (model.last_sequence, model.version_count, model.latest_version) == (0, 0, None)
    assert dict(model.tags.values_list("key", "value")) == {"owner": "fraud", "pii": ""}


def test_it_refuses_a_second_model_with_the_same_name_in_any_case(
    make_model: MakeModel, team: Team, contributor: Any
) -> None:
    make_model("churn")

    with pytest.raises(ValidationError) as excinfo:
        services.create_model(team=team, name="CHURN", actor=contributor)

    assert messages_for(excinfo.value, "name") == ["team fraud already has a model named 'CHURN'"]
    assert RegisteredModel.objects.count() == 1


def test_it_allows_the_same_model_name_in_another_team(
    make_model: MakeModel, other_team: Team, site_admin: Any
) -> None:
    make_model("churn")

    assert services.create_model(team=other_team, name="churn", actor=site_admin).pk


@pytest.mark.parametrize("name", ["-churn", "churn model", "a" * 101, ""])
def test_it_rejects_an_invalid_model_name(team: Team, contributor: Any, name: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        services.create_model(team=team, name=name, actor=contributor)

    assert "name" in excinfo.value.message_dict
    assert not RegisteredModel.objects.exists()


def test_it_rejects_an_unknown_versioning_scheme(team: Team, contributor: Any) -> None:
    with pytest.raises(ValidationError) as excinfo:
        services.create_model(team=team, name="m", actor=contributor, versioning_scheme="calver")

    assert "versioning_scheme" in excinfo.value.message_dict
    assert not RegisteredModel.objects.exists()


def test_it_rejects_an_invalid_model_tag_key(team: Team, contributor: Any) -> None:
    with pytest.raises(ValidationError) as excinfo:
        services.create_model(team=team, name="m", actor=contributor, tags={"has space": "x"})

    assert "tags" in excinfo.value.message_dict
    assert not RegisteredModel.objects.exists()


# --- permissions -------------------------------------------------------------------------


def persona(request: pytest.FixtureRequest, name: str) -> Any:
    return AnonymousUser() if name == "anonymous" else request.getfixturevalue(name)


ALLOWED = ["contributor", "reviewer", "maintainer", "site_admin"]
DENIED = ["viewer", "outsider", "anonymous"]


@pytest.mark.parametrize("who", ALLOWED)
def test_it_lets_contributors_and_above_create_models(
    request: pytest.FixtureRequest, team: Team, who: str
) -> None:
    actor = persona(request, who)

    model = services.create_model(team=team, name=f"model-{who}", actor=actor)

    assert RegisteredModel.objects.get(pk=model.pk).created_by == actor


@pytest.mark.parametrize("who", DENIED)
def test_it_refuses_model_creation_to_viewers_outsiders_and_anonymous(
    request: pytest.FixtureRequest, team: Team, who: str
) -> None:
    actor = persona(request, who)

    with pytest.raises(PermissionDenied):
        services.create_model(team=team, name="sneaky", actor=actor, tags={"a": "b"})

    assert not RegisteredModel.objects.exists()


@pytest.mark.parametrize("who", ALLOWED)
def test_it_lets_contributors_and_above_register_versions(
    request: pytest.FixtureRequest, model: RegisteredModel, make_version: MakeVersion, who: str
) -> None:
    actor = persona(request, who)

    mv = make_version(model, "1.0.0", actor=actor, files={"a.bin": b"a"})

    assert mv.created_by == actor
    assert StageTransition.objects.get(version=mv).actor == actor


@pytest.mark.parametrize("who", DENIED)
def test_it_refuses_version_registration_to_viewers_outsiders_and_anonymous(
    request: pytest.FixtureRequest,
    registered: ModelVersion,
    make_version: MakeVersion,
    tmp_path: Path,
    who: str,
) -> None:
    actor = persona(request, who)
    model = registered.model
    before = snapshot(model, tmp_path)

    with pytest.raises(PermissionDenied):
        make_version(model, "2.0.0", actor=actor, files={"new.bin": b"new"})

    assert snapshot(model, tmp_path) == before


# --- cost --------------------------------------------------------------------------------


def test_it_registers_with_a_constant_number_of_queries(
    model: RegisteredModel,
    contributor: Any,
    django_assert_max_num_queries: Any,
) -> None:
    metadata = clean_version_metadata(
        {
            "metrics": {"test": {f"m{i}": i for i in range(20)}},
            "tags": {f"t{i}": "x" for i in range(20)},
        }
    )
    uploads = [services.ArtifactUpload(f"f{i}.bin", io.BytesIO(b"%d" % i)) for i in range(20)]
    services.register_version(
        model=model, actor=contributor, version="0.1.0", metadata=clean_version_metadata({})
    )

    # (the membership is cached on the actor by the first registration)
    # savepoint, a version id (PostgreSQL), metrics, tags, transition, (unless the database
    # orders text by code point) their order, model row lock, insert version, model update,
    # the audit event (lock the chain head, insert, move the head), known blobs, new blobs,
    # artifacts, release; and before all that, the team's webhooks (none here): 17, whatever
    # the number of files, metrics and tags.
    with django_assert_max_num_queries(17):
        mv = services.register_version(
            model=model, actor=contributor, version="1.0.0", metadata=metadata, files=uploads
        )

    assert mv.metrics.count() == 20
    assert mv.tags.count() == 20
    assert mv.artifacts.count() == 20


def test_it_rejects_a_path_that_is_both_a_file_and_a_directory(
    model: RegisteredModel, make_version: MakeVersion, tmp_path: Path
) -> None:
    with pytest.raises(ValidationError) as excinfo:
        make_version(model, "1.0.0", files={"weights": b"a", "weights/part-0.bin": b"b"})

    assert messages_for(excinfo.value, "files") == [
        "artifact path 'weights' is both a file and a directory of another file"
    ]
    assert not ModelVersion.objects.exists()
    assert stored_files(tmp_path) == []


def test_it_gives_same_second_automatic_timestamps_the_next_free_second(
    make_model: MakeModel, make_version: MakeVersion, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = make_model("ts", scheme="timestamp")
    frozen = dt.datetime(2025, 3, 1, 12, 0, 59, tzinfo=dt.UTC)
    monkeypatch.setattr(timezone, "now", lambda: frozen)

    versions = [make_version(model).version for _ in range(3)]

    assert versions == ["20250301-120059", "20250301-120100", "20250301-120101"]


def test_it_still_rejects_an_explicit_duplicate_timestamp(
    make_model: MakeModel, make_version: MakeVersion
) -> None:
    model = make_model("ts", scheme="timestamp")
    make_version(model, "20250301-120059")

    with pytest.raises(ValidationError) as excinfo:
        make_version(model, "20250301-120059")

    assert "already exists" in messages_for(excinfo.value, "version")[0]


def test_it_records_when_the_version_entered_its_first_stage(
    model: RegisteredModel, make_version: MakeVersion
) -> None:
    before = timezone.now()
    mv = make_version(model, "1.0.0")
    assert mv.stage_changed_at is not None and mv.stage_changed_at >= before


def test_it_keeps_the_highest_version_as_latest_when_a_hotfix_comes_later(
    model: RegisteredModel, make_version: MakeVersion
) -> None:
    make_version(model, "1.4.2")
    two = make_version(model, "2.0.0")
    make_version(model, "1.4.3")  # a hotfix of the old line, registered last

    model.refresh_from_db()
    assert model.latest_version == two
    assert model.last_sequence == 3
