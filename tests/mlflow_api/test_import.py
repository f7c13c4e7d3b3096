"""`import_mlflow` against a real `mlflow server` started on 127.0.0.1 (sqlite backend,
artifacts served by its proxy)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from django.core.management import call_command

from accounts.models import AuditEvent
from registry.models import Alias, Artifact, ModelVersion, RegisteredModel, Stage

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    log = open(root / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"), "server",
            "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination", str(root / "artifacts"),
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        ],
        stdout=log, stderr=subprocess.STDOUT, cwd=root, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    http = urllib3.PoolManager()
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (root / "server.log").read_text()[-2000:]
            try:
                if http.request("GET", f"{url}/health", timeout=2, retries=False).status == 200:
                    break
            except urllib3.exceptions.HTTPError:
                pass
            assert time.monotonic() < deadline, "mlflow server did not start"
            time.sleep(0.5)
        yield url
    finally:
        # The server and its worker processes, as a group. Its graceful shutdown is not under
        # test (and took the whole 20 s it was given): a few seconds, then SIGKILL.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture
def source(mlflow_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The MLflow server with two models: fraud.churn (versions 1 and 3 — 2 deleted —,
    artifacts, a Production stage, an alias, tags) and legacy (no team prefix)."""
    from mlflow import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    suffix = tmp_path.name[-6:]
    experiment = client.create_experiment(f"exp-{suffix}")
    run = client.create_run(experiment)
    model_dir = tmp_path / "model"
    (model_dir / "conf").mkdir(parents=True)
    (model_dir / "model.pkl").write_bytes(b"weights" * 1000)
    (model_dir / "conf" / "params.json").write_text('{"depth": 6}')
    client.log_artifacts(run.info.run_id, str(model_dir), "model")
    source_uri = f"runs:/{run.info.run_id}/model"
    client.create_registered_model("fraud.churn", tags={"owner": "ml"}, description="Churn")
    for _ in range(3):
        client.create_model_version("fraud.churn", source_uri, run.info.run_id,
                                    tags={"quality": "ok"}, description="trained")  # fmt: skip
    client.delete_model_version("fraud.churn", "2")
    client.transition_model_version_stage("fraud.churn", "3", "Production")
    client.set_registered_model_alias("fraud.churn", "champion", "3")
    client.create_registered_model("legacy")
    client.create_model_version("legacy", source_uri, run.info.run_id)
    return client


def _import(url: str, maintainer: Any, *extra: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("import_mlflow", "--from", url, "--team", "fraud", "--user",
                 maintainer.username, "--no-progress", *extra, stdout=out)  # fmt: skip
    return out.getvalue()


def test_it_imports_models_versions_stages_aliases_and_artifacts(
    mlflow_server, source, maintainer, team
):
    report = _import(mlflow_server, maintainer)
    assert "models: 2 imported" in report
    assert "versions: 3 imported" in report

    churn = RegisteredModel.objects.get(team=team, name="churn")
    assert churn.description == "Churn"
    assert dict(churn.tags.values_list("key", "value")) == {"owner": "ml"}
    versions = {v.sequence: v for v in ModelVersion.objects.filter(model=churn)}
    assert sorted(versions) == [1, 3]  # numbers kept, the deleted one stays a gap
    assert versions[3].stage == Stage.PRODUCTION
    assert versions[1].stage == Stage.DEVELOPMENT
    assert versions[1].description == "trained"
    assert dict(versions[1].tags.values_list("key", "value")) == {"quality": "ok"}
    assert versions[3].source.startswith("runs:/")
    files = dict(Artifact.objects.filter(version=versions[3]).values_list("path", "size"))
    assert files == {"model.pkl": 7000, "conf/params.json": 12}
    assert Alias.objects.get(model=churn, name="champion").version == versions[3]
    legacy = RegisteredModel.objects.get(team=team, name="legacy")
    assert legacy.versions.count() == 1
    imported = AuditEvent.objects.filter(action="mlflow.import")
    assert imported.count() == 2 + 3  # every model and version, marked as imported

    # Idempotent: a second run imports nothing; a new MLflow version is all a third takes.
    before = AuditEvent.objects.count()
    report = _import(mlflow_server, maintainer)
    assert "models: 0 imported, 2 already here" in report
    assert "versions: 0 imported, 3 already here" in report
    assert AuditEvent.objects.count() == before
    source.create_model_version("fraud.churn", "s3://bucket/new", None)
    report = _import(mlflow_server, maintainer, "--since", "2000-01-01")
    assert "versions: 1 imported" in report
    assert sorted(ModelVersion.objects.filter(model=churn).values_list("sequence", flat=True)) == [
        1, 3, 4,
    ]  # fmt: skip


def test_a_viewer_cannot_import(mlflow_server, viewer, team, monkeypatch):
    from django.core.management.base import CommandError
    from mlflow import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
    MlflowClient(mlflow_server, mlflow_server).create_registered_model("fraud.other")

    with pytest.raises(CommandError, match="maintainer"):
        _import(mlflow_server, viewer)
    assert not RegisteredModel.objects.exists()
