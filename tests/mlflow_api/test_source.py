"""An MLflow client's `source` is the version's own (ModelVersion.source): Modelgate's API
and pages show it, MLflow's answers and filters read it, and the migration moved the
sources recorded before."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from registry.models import ModelVersion

MLFLOW = "/api/2.0/mlflow/"


@pytest.mark.django_db
def test_an_mlflow_source_is_the_versions_source(client, make_model, contributor, secret_for):
    make_model("churn")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret_for(contributor)}"}
    body = {"name": "fraud.churn", "source": "s3://bucket/churn/1", "run_id": "r1"}
    response = client.post(MLFLOW + "model-versions/create", json.dumps(body),
                           content_type="application/json", **auth)  # fmt: skip
    assert response.status_code == 200, response.content
    answered = response.json()["model_version"]
    assert (answered["source"], answered["run_id"]) == ("s3://bucket/churn/1", "r1")

    mv = ModelVersion.objects.get()
    assert mv.source == "s3://bucket/churn/1" and mv.mlflow.run_id == "r1"
    api = client.get(f"/api/v1/models/fraud/churn/versions/{mv.version}", **auth).json()
    assert api["source"] == "s3://bucket/churn/1"
    got = client.get(MLFLOW + "model-versions/get", {"name": "fraud.churn", "version": "1"}, **auth)
    assert got.json()["model_version"]["source"] == "s3://bucket/churn/1"
    found = client.get(
        MLFLOW + "model-versions/search", {"filter": "source_path = 's3://bucket/churn/1'"}, **auth
    )
    assert [v["version"] for v in found.json()["model_versions"]] == ["1"]


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_recorded_sources_to_their_versions(team: Any) -> None:
    before = [("mlflow_api", "0001_initial"), ("registry", "0013_version_source")]
    after = [("mlflow_api", "0002_version_source_moves_to_the_version")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    model = old.get_model("registry", "RegisteredModel").objects.create(
        team_id=team.pk, name="churn", last_sequence=3, version_count=3
    )
    Version = old.get_model("registry", "ModelVersion")
    versions = [
        Version.objects.create(model=model, version=f"{i}.0.0", sequence=i, sort_key=f"{i}")
        for i in (1, 2, 3)
    ]
    Source = old.get_model("mlflow_api", "VersionSource")
    Source.objects.create(version=versions[0], source="s3://b/1", run_id="r1")
    Source.objects.create(version=versions[1], source="x" * 3000)
    Source.objects.create(version=versions[2], source="", run_link="https://run")

    executor = MigrationExecutor(connection)
    executor.migrate(after)
    executor.loader.build_graph()

    sources = dict(ModelVersion.objects.values_list("sequence", "source"))
    assert sources == {1: "s3://b/1", 2: "x" * 2000, 3: ""}
    assert ModelVersion.objects.get(sequence=1).mlflow.run_id == "r1"
