"""The lineage lists, run / feature set / deployment pages, and recording lineage and
deployments from the version page."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from lineage import deployments, graph
from lineage.models import (
    Dataset,
    DatasetVersion,
    Deployment,
    Edge,
    EdgeKind,
    FeatureSet,
    FeatureSetVersion,
    NodeType,
    TrainingRun,
)
from registry.models import ModelVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def versions(make_model, make_version):
    model = make_model()
    made = make_version(model, "1.0.0"), make_version(model, "1.1.0")
    ModelVersion.objects.update(created_at=timezone.now() - dt.timedelta(days=3))
    return [ModelVersion.objects.get(pk=v.pk) for v in made]


def _many_datasets(team, n):
    for i in range(n):
        dataset = Dataset.objects.create(team=team, name=f"table-{i:02}")
        for v in range(3):
            DatasetVersion.objects.create(dataset=dataset, version=f"v{v}")


def test_the_datasets_list_filters_by_team_and_name_in_constant_queries(
    client, viewer, team, other_team, django_assert_max_num_queries
):
    _many_datasets(team, 30)
    Dataset.objects.create(team=other_team, name="secret-table")
    client.force_login(viewer)
    # session, user, memberships, teams, count, page, latest versions, nav counts
    with django_assert_max_num_queries(8):
        response = client.get(reverse("datasets"))
    body = response.content.decode()
    assert len(re.findall(r">table-\d\d<", body)) == 30 and "secret-table" not in body
    assert ">3<" in body  # versions per dataset
    filtered = client.get(reverse("datasets"), {"q": "TABLE-0", "team": "fraud"})
    assert len(re.findall(r">table-0\d<", filtered.content.decode())) == 10
    assert ">table-10<" not in filtered.content.decode()
    empty = client.get(reverse("datasets"), {"q": "nothing"}).content.decode()
    assert "Nothing matches these filters" in empty


def test_the_lists_have_helpful_empty_states(client, viewer):
    client.force_login(viewer)
    assert "No datasets are recorded yet" in client.get(reverse("datasets")).content.decode()
    features = client.get(reverse("feature-sets")).content.decode()
    assert "No feature sets are recorded yet" in features
    runs = client.get(reverse("training-runs")).content.decode()
    assert "/api/v1/lineage/openlineage" in runs
    assert "No deployments are recorded yet" in client.get(reverse("deployments")).content.decode()


def test_a_run_page_shows_what_it_read_and_wrote_and_what_depends_on_it(
    client, viewer, team, versions
):
    run = TrainingRun.objects.create(team=team, external_id="r-1", job="airflow/train",
                                     params={"lr": 0.1}, state="complete")  # fmt: skip
    raw, out = (DatasetVersion.objects.create(dataset=Dataset.objects.create(team=team, name=n),
                                              version="1") for n in ("raw", "out"))  # fmt: skip
    graph.add_edges([
        (EdgeKind.USED, graph.Node(NodeType.DATASET, raw.pk), graph.Node(NodeType.RUN, run.pk)),
        (EdgeKind.PRODUCED, graph.Node(NodeType.RUN, run.pk), graph.Node(NodeType.DATASET, out.pk)),
        (EdgeKind.USED, graph.Node(NodeType.DATASET, out.pk),
         graph.Node(NodeType.VERSION, versions[0].pk)),
    ])  # fmt: skip
    client.force_login(viewer)
    body = client.get(run.get_absolute_url()).content.decode()
    assert "airflow/train" in body and "Complete" in body
    assert raw.get_absolute_url() in body and out.get_absolute_url() in body
    assert versions[0].get_absolute_url() in body  # impact
    dataset_page = client.get(raw.get_absolute_url()).content.decode()
    assert "Read by" in dataset_page and run.get_absolute_url() in dataset_page
    assert versions[0].get_absolute_url() in dataset_page  # through the run
    listed = client.get(reverse("training-runs"), {"state": "complete"}).content.decode()
    assert run.get_absolute_url() in listed
    assert "r-1" not in client.get(reverse("training-runs"), {"state": "failed"}).content.decode()


def test_the_version_page_records_a_dataset_a_feature_set_and_a_parent(
    client, contributor, versions
):
    base, tuned = versions
    client.force_login(contributor)
    url = reverse("version-lineage-add", args=["fraud", "churn", "1.1.0"])
    assert (
        client.post(url, {"kind": "dataset", "ref": "s3://lake/train.parquet"}).status_code == 302
    )
    assert client.post(url, {"kind": "features", "ref": "customer@v3"}).status_code == 302
    response = client.post(url, {"kind": "parent", "ref": "churn@1.0.0",
                                 "relation": "fine_tuned_from"}, follow=True)  # fmt: skip
    assert "Recorded parent model version: churn@1.0.0" in response.content.decode()
    found = graph.version_lineage(contributor, tuned)
    assert [str(d) for d in found.datasets] == ["s3://lake/train.parquet"]
    assert [str(f) for f in found.features] == ["customer@v3"]
    assert [v.version for v, _d in found.ancestors] == ["1.0.0"]
    parent_edge = Edge.objects.get(src_type="version", src_id=base.pk, dst_id=tuned.pk)
    assert parent_edge.kind == "fine_tuned_from"

    cycle = reverse("version-lineage-add", args=["fraud", "churn", "1.0.0"])
    refused = client.post(cycle, {"kind": "parent", "ref": "churn@1.1.0"}, follow=True)
    assert "would make a cycle" in refused.content.decode()
    bad = client.post(url, {"kind": "dataset", "ref": "bad name@"}, follow=True)
    assert "Not recorded: datasets.0:" in bad.content.decode()
    unknown = client.post(url, {"kind": "nonsense", "ref": "x"}, follow=True)
    assert "kind: choose one of" in unknown.content.decode()
    assert Edge.objects.count() == 3


def test_deploying_from_the_version_page_and_the_history_pages(
    client, contributor, viewer, versions, django_assert_max_num_queries
):
    base, tuned = versions
    client.force_login(contributor)
    deploy = reverse("version-deploy", args=["fraud", "churn", "1.0.0"])
    response = client.post(deploy, {"environment": "prod-eu", "target": "svc/churn"}, follow=True)
    assert "Recorded 1.0.0 as deployed in prod-eu" in response.content.decode()
    first = Deployment.objects.get()
    Deployment.objects.filter(pk=first.pk).update(deployed_at=timezone.now() - dt.timedelta(days=2))
    deployments.record_deployment(contributor, tuned, "prod-eu", "svc/churn")
    bad = client.post(deploy, {"environment": "Prod EU"}, follow=True).content.decode()
    assert "Not deployed: environment:" in bad

    client.force_login(viewer)
    history = reverse("model-deployments", args=["fraud", "churn"])
    # session, user, memberships, model, environments, count, page, nav counts
    with django_assert_max_num_queries(8):
        body = client.get(history).content.decode()
    assert body.count("<tr>") == 3 and "Replaced" in body and "Active" in body
    at = (timezone.now() - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    then = client.get(history, {"environment": "prod-eu", "at": at}).content.decode()
    assert "Deployed in prod-eu at" in then and then.count("<tr>") == 2
    assert ">1.0.0</a>" in then and ">1.1.0</a>" not in then
    partial = client.get(history, {"environment": "prod-eu"}, headers={"HX-Request": "true"})
    assert "<html" not in partial.content.decode()
    needs_env = client.get(history, {"at": at}).content.decode()
    assert "choose an environment" in needs_env
    all_page = client.get(reverse("deployments"), {"environment": "prod-eu"}).content.decode()
    assert "fraud/churn" in all_page

    page = client.get(first.get_absolute_url()).content.decode()
    assert "Replaced by" in page and "End deployment" not in page  # ended, and a viewer
    version_page = client.get(tuned.get_absolute_url()).content.decode()
    assert "Deployed in" in version_page and "prod-eu" in version_page
    graph.add_edges([(EdgeKind.DERIVED_FROM, graph.Node(NodeType.VERSION, base.pk),
                      graph.Node(NodeType.VERSION, tuned.pk))])  # fmt: skip
    parent_page = client.get(base.get_absolute_url()).content.decode()
    child = parent_page[parent_page.index("Child:") :]
    assert "prod-eu" in child[: child.index("</li>")]  # the child's live deployment


def test_ending_a_deployment_from_its_page(client, contributor, versions):
    d = deployments.record_deployment(contributor, versions[0], "prod-eu")
    client.force_login(contributor)
    assert "End deployment" in client.get(d.get_absolute_url()).content.decode()
    url = reverse("deployment-end", args=["fraud", d.pk])
    response = client.post(url, {"status": "failed"}, follow=True)
    assert "is failed" in response.content.decode()
    d.refresh_from_db()
    assert d.status == "failed" and d.ended_at
    again = client.post(url, {"status": "retired"}, follow=True).content.decode()
    assert "already ended" in again


def test_a_feature_set_version_page_lists_its_features_and_impact(client, viewer, team, versions):
    fv = FeatureSetVersion.objects.create(
        feature_set=FeatureSet.objects.create(team=team, name="customer"), version="v3",
        features=["age", "<b>tenure</b>"],
    )  # fmt: skip
    graph.add_edges([(EdgeKind.USED, graph.Node(NodeType.FEATURES, fv.pk),
                      graph.Node(NodeType.VERSION, versions[1].pk))])  # fmt: skip
    deployments.record_deployment(versions[1].created_by, versions[1], "prod-us")
    client.force_login(viewer)
    body = client.get(fv.get_absolute_url()).content.decode()
    assert "&lt;b&gt;tenure&lt;/b&gt;" in body and "<b>tenure" not in body
    assert versions[1].get_absolute_url() in body and "prod-us" in body
    assert "1 deployed now" in body
    assert "customer" in client.get(reverse("feature-sets")).content.decode()


def _rich_lineage(team, version, n, contributor, make_version):
    """n of every kind of node around `version`: datasets, feature sets, code, runs,
    parents, children, and a deployment."""
    edges = []
    at = graph.Node(NodeType.VERSION, version.pk)
    for i in range(n):
        dv = DatasetVersion.objects.create(
            dataset=Dataset.objects.create(team=team, name=f"d{version.pk}-{i}"), version="1"
        )
        fv = FeatureSetVersion.objects.create(
            feature_set=FeatureSet.objects.create(team=team, name=f"f{version.pk}-{i}")
        )
        run = TrainingRun.objects.create(team=team, external_id=f"r{version.pk}-{i}")
        parent = make_version(version.model, f"0.{i}.0")
        child = make_version(version.model, f"9.{i}.0")
        edges += [
            (EdgeKind.USED, graph.Node(NodeType.DATASET, dv.pk), at),
            (EdgeKind.USED, graph.Node(NodeType.FEATURES, fv.pk), at),
            (EdgeKind.PRODUCED, graph.Node(NodeType.RUN, run.pk), at),
            (EdgeKind.DERIVED_FROM, graph.Node(NodeType.VERSION, parent.pk), at),
            (EdgeKind.DERIVED_FROM, at, graph.Node(NodeType.VERSION, child.pk)),
        ]  # fmt: skip
    graph.add_edges(edges)
    deployments.record_deployment(contributor, version, "prod-eu")


@pytest.mark.parametrize("n", [1, 12])
def test_a_version_page_with_every_kind_of_lineage_costs_the_same_queries(
    client, viewer, contributor, team, versions, n, make_version, django_assert_max_num_queries
):
    version = versions[0]
    _rich_lineage(team, version, n, contributor, make_version)
    client.force_login(viewer)
    # The page's 14 (tests/registry/test_version_views.py) with the walks, plus one query
    # per kind of node found: datasets, feature sets, runs, model versions, deployments,
    # where the descendants are live, and the live metrics its deployments reported.
    with django_assert_max_num_queries(21):
        body = client.get(version.get_absolute_url()).content.decode()
    assert body.count("bi-database") >= n and "Deployed in" in body
    with django_assert_max_num_queries(20):
        client.get(reverse("version-graph", args=["fraud", "churn", version.version]))


def test_the_admin_shows_lineage_read_only(admin_client, contributor, versions):
    d = deployments.record_deployment(contributor, versions[0], "prod-eu")
    listing = admin_client.get(reverse("admin:lineage_deployment_changelist"))
    assert "prod-eu" in listing.content.decode()
    page = admin_client.get(reverse("admin:lineage_deployment_change", args=[d.pk]))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert admin_client.get(reverse("admin:lineage_deployment_add")).status_code == 403


def test_the_graph_draws_every_kind_of_node_with_its_label_and_link(contributor, team, versions,
                                                                    make_version):  # fmt: skip
    from lineage import render

    version = versions[0]
    _rich_lineage(team, version, 1, contributor, make_version)
    found = graph.version_lineage(contributor, version)
    dot = render.version_dot(found, version)
    run, fv = found.runs[0], found.features[0]
    deployment = found.deployments[0]
    for url in (
        run.get_absolute_url(),
        fv.get_absolute_url(),
        deployment.get_absolute_url(),
        found.datasets[0].get_absolute_url(),
        found.ancestors[0][0].get_absolute_url(),
    ):
        assert f'URL="{url}"' in dot
    assert f"run {run.external_id}" in dot and "prod-eu" in dot and str(fv) in dot
    job = render.job_for(dot)
    render.run(job.pk)
    job.refresh_from_db()
    assert job.state == "done", job.error
    svg = render.svg_bytes(job).decode()
    assert svg.count('class="node"') == found.node_count + 1  # no undeclared, unlabelled nodes
