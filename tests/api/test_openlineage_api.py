"""OpenLineage ingest: RunEvents become runs with the datasets they read and wrote, and
the impact of a dataset follows them to the model versions trained on their outputs."""

from __future__ import annotations

import json
import uuid

import pytest

from lineage import graph
from lineage.models import Dataset, DatasetVersion, Edge, NodeType, RunState, TrainingRun
from tests.api.conftest import assert_error

pytestmark = pytest.mark.django_db
URL = "/lineage/openlineage"


def event(event_type="START", run_id=None, **extra):
    body = {
        "eventType": event_type,
        "eventTime": "2026-05-01T10:00:00.000Z",
        "producer": "https://github.com/apache/airflow",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run_id or "3f5e83fa-3480-44ff-99c5-ff943904e5e8", "facets": {
            "nominalTime": {"nominalStartTime": "2026-05-01T10:00:00Z"},  # ignored
        }},
        "job": {"namespace": "fraud", "name": "features.build_daily"},
        "inputs": [{
            "namespace": "s3://lake", "name": "raw/transactions",
            "facets": {
                "schema": {"fields": [{"name": "amount", "type": "DOUBLE"}]},
                "version": {"datasetVersion": "2026-05-01"},
                "someVendorFacet": {"whatever": [1, 2, 3]},  # unknown: ignored
            },
        }],
        "outputs": [{
            "namespace": "s3://lake", "name": "features/daily",
            "facets": {"version": {"datasetVersion": "v42"}},
            "outputFacets": {"outputStatistics": {"rowCount": 1200, "size": 4096}},
        }],
    }  # fmt: skip
    body.update(extra)
    return body


def test_start_then_complete_records_one_run_with_its_inputs_and_outputs(as_token, contributor):
    api = as_token(contributor, "read", "write")
    started = api.post(URL, event("START"))
    assert started.status_code == 201, started.content
    assert started.json()["state"] == "running"
    done = api.post(URL, event("COMPLETE", eventTime="2026-05-01T10:20:00Z"))
    assert done.status_code == 201, done.content
    assert (done.json()["inputs"], done.json()["outputs"]) == (1, 1)

    run = TrainingRun.objects.get()
    assert run.state == RunState.COMPLETE
    assert run.job == "fraud/features.build_daily"
    assert (run.ended_at - run.started_at).total_seconds() == 1200
    raw = DatasetVersion.objects.get(dataset__name="s3://lake/raw/transactions")
    assert raw.version == "2026-05-01"
    assert raw.schema == {"fields": [{"name": "amount", "type": "DOUBLE"}]}
    out = DatasetVersion.objects.get(dataset__name="s3://lake/features/daily")
    assert (out.version, out.rows, out.size_bytes) == ("v42", 1200, 4096)
    assert Edge.objects.count() == 2  # sent twice, stored once


def test_a_late_start_does_not_reopen_a_finished_run(as_user, contributor):
    api = as_user(contributor)
    api.post(URL, event("FAIL", run={"runId": str(uuid.UUID(int=7)),
                                     "facets": {"errorMessage": {"message": "OOM"}}}))  # fmt: skip
    api.post(URL, event("START", run={"runId": str(uuid.UUID(int=7))}))
    run = TrainingRun.objects.get()
    assert (run.state, run.error) == (RunState.FAILED, "OOM")
    assert run.started_at and run.ended_at


def test_impact_follows_a_run_to_the_models_trained_on_its_output(as_user, contributor, make_model):
    api = as_user(contributor)
    api.post(URL, event("COMPLETE"))
    model = make_model()
    response = api.post("/models/fraud/churn/versions", {
        "version": "2.0.0", "datasets": [{"name": "s3://lake/features/daily", "version": "v42"}],
        "run": {"external_id": "train-77", "url": "https://airflow.example/run/77",
                "params": {"lr": 0.1}},
    })  # fmt: skip
    assert response.status_code == 201, response.content
    raw = DatasetVersion.objects.get(dataset__name="s3://lake/raw/transactions")
    impacted = api.get(f"/lineage/datasets/fraud/{raw.pk}/impact").json()
    assert [(v["model"], v["version"]) for v in impacted["versions"]] == [("fraud/churn", "2.0.0")]
    run = TrainingRun.objects.get(external_id="train-77")
    assert run.params == {"lr": 0.1} and run.url == "https://airflow.example/run/77"
    run_impact = api.get(f"/lineage/runs/fraud/{run.pk}/impact").json()
    assert [v["version"] for v in run_impact["versions"]] == ["2.0.0"]
    assert model.versions.count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"eventType": "DONE"}, "eventType"),
        ({"eventTime": "yesterday"}, "eventTime"),
        ({"eventTime": "2026-05-01T10:00:00"}, "eventTime"),  # no zone
        ({"eventTime": "2999-01-01T00:00:00Z"}, "eventTime"),
        ({"run": {"runId": "not-a-uuid"}}, "run.runId"),
        ({"run": {}}, "run.runId"),
        ({"run": "x"}, "run"),
        ({"job": {"namespace": "fraud"}}, "job.name"),
        ({"inputs": {"namespace": "x"}}, "inputs"),
        ({"inputs": [{"namespace": "s3://x"}]}, "inputs.0.name"),
        ({"outputs": [{"namespace": "", "name": "y"}]}, "outputs.0.namespace"),
        ({"outputs": [{"namespace": "s3://x", "name": "y" * 400}]}, "outputs.0.name"),
    ],
)
def test_malformed_events_are_refused_naming_the_field(as_user, contributor, change, field):
    body = event() | change
    response = as_user(contributor).post(URL, body)
    assert_error(response, 400, "invalid", field)
    assert not TrainingRun.objects.exists() and not Dataset.objects.exists()


@pytest.mark.parametrize("raw", [b"", b"{not json", b"[1, 2]", b'"text"'])
def test_a_body_that_is_not_an_event_object_is_a_400(as_user, contributor, raw):
    response = as_user(contributor).client.post(
        "/api/v1" + URL, raw, content_type="application/json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["field"] == "body"


def test_the_team_comes_from_the_parameter_the_namespace_or_the_only_team(
    as_user, contributor, other_team, outsider
):
    api = as_user(contributor)
    ns = event(job={"namespace": "airflow-prod", "name": "train"})
    assert api.post(URL, ns).status_code == 201  # the contributor's only team
    assert TrainingRun.objects.get().team.slug == "fraud"
    other = api.post(URL + "?team=growth", event(run={"runId": str(uuid.UUID(int=1))}))
    assert_error(other, 400, "invalid", "team")  # not a member: as if it did not exist
    assert TrainingRun.objects.count() == 1
    # An outsider cannot file events into fraud, by parameter or by namespace.
    outsider_api = as_user(outsider)
    assert_error(outsider_api.post(URL + "?team=fraud", event()), 400, "invalid", "team")
    response = outsider_api.post(URL, event(run={"runId": str(uuid.UUID(int=2))}))
    assert response.status_code == 201
    assert TrainingRun.objects.get(external_id=str(uuid.UUID(int=2))).team == other_team


def test_readers_may_not_send_events(as_user, viewer):
    response = as_user(viewer).post(URL + "?team=fraud", event())
    assert response.status_code == 403
    assert not TrainingRun.objects.exists()


def test_dataset_names_with_markup_are_stored_as_text(as_user, contributor):
    body = event(inputs=[{"namespace": "s3://x", "name": "<script>alert(1)</script>"}])
    assert as_user(contributor).post(URL, body).status_code == 201
    stored = Dataset.objects.get(name__contains="script")
    assert stored.name == "s3://x/<script>alert(1)</script>"
    found = graph.walk(graph.Node(NodeType.RUN, TrainingRun.objects.get().pk), "upstream")
    assert len(found.nodes) == 1
    assert json.dumps(stored.name)  # plain data
