"""Racing MLflow clients: transitions and version creation stay consistent (PostgreSQL)."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from registry.models import ModelVersion, Stage
from tests.threads import run_at_once

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.concurrency,
    pytest.mark.filterwarnings("ignore:.*transition_model_version_stage:FutureWarning"),
]

RACERS = 8


@pytest.fixture(autouse=True)
def _postgres_only(is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip("row locks need PostgreSQL")


@pytest.mark.usefixtures("open_policies")
def test_racing_transitions_leave_exactly_one_production_version(
    mlflow_as, contributor, live_server
):
    client = mlflow_as(contributor)
    client.create_registered_model("fraud.churn")
    for _ in range(RACERS):
        client.create_model_version("fraud.churn", source="s3://b")
    for _round in range(3):
        run_at_once(
            RACERS,
            lambda i: (MlflowClient(live_server.url, live_server.url), str(i + 1)),
            lambda prepared: prepared[0].transition_model_version_stage(
                "fraud.churn", prepared[1], "Production", archive_existing_versions=True
            ),
        )
        production = ModelVersion.objects.filter(model__name="churn", stage=Stage.PRODUCTION)
        assert production.count() == 1
        found = client.search_model_versions("name='fraud.churn'")
        assert [v.current_stage for v in found].count("Production") == 1


def test_racing_creations_number_versions_without_gaps(mlflow_as, contributor, live_server):
    client = mlflow_as(contributor)
    client.create_registered_model("fraud.churn")
    returned = run_at_once(
        RACERS,
        lambda i: MlflowClient(live_server.url, live_server.url),
        lambda c: c.create_model_version("fraud.churn", source="s3://b").version,
    )
    assert sorted(int(v) for v in returned) == list(range(1, RACERS + 1))
    versions = ModelVersion.objects.filter(model__name="churn")
    assert sorted(versions.values_list("version", flat=True)) == sorted(
        f"{n}.0.0" for n in range(1, RACERS + 1)
    )
