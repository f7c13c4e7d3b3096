"""What the client sends: training code's values as JSON, artifact paths by the server's
rules, both checked before anything is uploaded."""

from __future__ import annotations

import datetime
import json
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from registry.artifacts import normalise_path
from registry.models import UploadSession

pytest.importorskip("modelgate_client", reason="install the client: pip install -e ./client")
from modelgate_client.client import artifact_path, collect_files  # noqa: E402
from modelgate_client.encoding import dumps, plain  # noqa: E402


class Scalar:
    """A stand-in for a NumPy scalar: only `.item()`."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def item(self) -> Any:
        return self.value


def test_numpy_values_become_json_numbers_and_lists() -> None:
    np = pytest.importorskip("numpy")
    body = {
        "test": {"auc": np.float32(0.91), "f1": np.float64(0.8), "loss": np.float16(0.1)},
        "n": np.int64(100),
        "early_stop": np.bool_(True),
        "weights": np.array([0.25, 0.1], dtype=np.float32),
        "matrix": np.arange(4, dtype=np.int32).reshape(2, 2),
        "per_class": {np.int64(0): np.float32(0.5)},
    }
    assert json.loads(dumps(body)) == {
        "test": {"auc": 0.91, "f1": 0.8, "loss": 0.1},  # as written, not float32's 0.91000002
        "n": 100,
        "early_stop": True,
        "weights": [0.25, 0.1],
        "matrix": [[0, 1], [2, 3]],
        "per_class": {"0": 0.5},
    }


def test_any_value_with_item_dates_and_paths_are_converted() -> None:
    when = datetime.datetime(2026, 11, 27, 5, 0, tzinfo=datetime.UTC)
    assert plain(
        {
            "x": Scalar(3),
            "when": when,
            "day": when.date(),
            "path": PurePosixPath("a/b"),
            "tuple": (Scalar(1.5), "s"),
            7: None,
        }  # fmt: skip
    ) == {
        "x": 3,
        "when": "2026-11-27T05:00:00+00:00",
        "day": "2026-11-27",
        "path": "a/b",
        "tuple": [1.5, "s"],
        "7": None,
    }


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        ({"metrics": {"test": {"auc": object()}}}, TypeError, "metrics.test.auc: object is"),
        ({"params": {"grid": {1, 2}}}, TypeError, "params.grid: set is"),
        ({"datasets": [{"rows": Scalar(1j)}]}, TypeError, r"datasets\[0\].rows: complex is"),
        ({"metrics": {"test": {"auc": float("nan")}}}, ValueError, "metrics.test.auc: nan is"),
        ({"metrics": {"x": Scalar(float("inf"))}}, ValueError, "metrics.x: inf is"),
        ({"params": {(1, 2): 3}}, TypeError, r"params: the key \(1, 2\) is not"),
    ],
)
def test_a_value_json_cannot_carry_names_its_field(body, error, message) -> None:
    with pytest.raises(error, match=f"^{message}"):
        dumps(body)


PATHS = [
    "model.bin",
    " config/./params.json ",
    "a//b/",
    "e\u0301.txt",  # NFC: é
    "a\\b",
    "/etc/passwd",
    "C:model.bin",
    "a/../../b",
    "..",
    "",
    "./.",
    "a\x00b",
    "tab\there",
    "right\u202eleft",
    "x" * 1024,
    "x/" * 512,
    "x" * 1025,
]


@pytest.mark.parametrize("raw", PATHS)
def test_artifact_paths_follow_the_servers_rules(raw: str) -> None:
    try:
        expected = normalise_path(raw)
    except ValidationError:
        with pytest.raises(ValueError, match="unsafe artifact path"):
            artifact_path(raw)
    else:
        assert artifact_path(raw) == expected


def test_collect_files_checks_every_name(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "back\\slash").write_text("1")
    with pytest.raises(ValueError, match="backslashes"):
        collect_files(tmp_path / "a")
    with pytest.raises(ValueError, match="two files would be stored as 'x'"):
        collect_files({"x": tmp_path / "a" / "back\\slash", "./x": tmp_path / "a" / "back\\slash"})


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("files", "values", "error", "message"),
    [
        ({"model.bin": "model.bin"}, {"params": {"n": object()}}, TypeError, "params.n"),
        (
            {"model.bin": "model.bin"},
            {"metrics": {"t": {"auc": float("nan")}}},
            ValueError,
            "metrics.t.auc",
        ),  # fmt: skip
        ({"../model.bin": "model.bin"}, {}, ValueError, "'..' segments"),
    ],
)
def test_nothing_is_uploaded_when_the_registration_would_fail(
    client, model_dir, monkeypatch, files, values, error, message
) -> None:
    sent: list[str] = []
    real = client.session.request

    def recording(method: str, url: str, **kwargs: Any) -> Any:
        sent.append(f"{method} {url}")
        return real(method, url, **kwargs)

    monkeypatch.setattr(client.session, "request", recording)
    files = {name: model_dir / local for name, local in files.items()}
    with pytest.raises(error, match=message):
        client.register_version("fraud", "churn", files, version="1.0.0", **values)
    assert sent == [] and UploadSession.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_numpy_metrics_and_params_are_registered(client, model_dir) -> None:
    np = pytest.importorskip("numpy")
    started = datetime.datetime(2026, 11, 27, 4, 0, tzinfo=datetime.UTC)
    created = client.register_version(
        "fraud",
        "churn",
        model_dir,
        version="0.9.7",
        metrics={"test": {"auc": np.float32(0.91)}},
        params={"n": np.int64(100), "layers": np.array([64, 32])},
        training_started_at=started,
        capture=False,
    )
    assert created["metrics"]["test"]["auc"]["value"] == 0.91
    assert created["params"] == {"n": 100, "layers": [64, 32]}
    assert created["training"]["started_at"].startswith("2026-11-27T04:00:00")
    found = list(client.search("metrics.test.auc = 0.91 and params.n = 100"))
    assert [v["version"] for v in found] == ["0.9.7"]
    # Every JSON body goes the same way, e.g. live metrics.
    deployment = client.deploy("fraud", "churn", "0.9.7", "prod-eu")
    assert client.report_metrics(deployment["id"], {"auc": np.float32(0.9)}) == 1
