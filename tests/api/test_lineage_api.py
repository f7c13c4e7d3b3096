"""Lineage through the API: registration with datasets/parents, links, impact."""

from __future__ import annotations

import pytest

from lineage import graph
from lineage.models import CodeVersion, Dataset, DatasetVersion, Edge
from registry.models import ModelVersion
from tests.api.conftest import assert_error

pytestmark = pytest.mark.django_db
VERSIONS = "/models/fraud/churn/versions"


@pytest.fixture
def base(make_model, make_version):
    model = make_model()
    return make_version(model, "1.0.0")


def test_it_records_datasets_parents_and_code_as_lineage(as_user, contributor, base):
    api = as_user(contributor)
    body = {
        "version": "1.1.0",
        "datasets": [
            "s3://data/churn/2025-01",
            "transactions@v3",
            {"name": "labels", "version": "7", "digest": "sha256:ab", "rows": 10, "size_bytes": 5},
        ],
        "parents": [{"version": "churn@1.0.0", "kind": "fine_tuned_from"}],
        "code_repository": "https://git.example/churn.git",
        "code_commit": "a" * 40,
    }
    response = api.post(VERSIONS, body)
    assert response.status_code == 201, response.content
    lineage = response.json()["lineage"]
    assert lineage == {
        "datasets": ["s3://data/churn/2025-01", "transactions@v3", "labels@7"],
        "parents": ["fraud/churn@1.0.0"],
    }
    assert response.json()["tags"] == {}  # no longer recorded as tags
    labels = DatasetVersion.objects.get(dataset__name="labels")
    assert (labels.digest, labels.rows, labels.size_bytes) == ("sha256:ab", 10, 5)
    assert CodeVersion.objects.get().commit == "a" * 40

    found = api.get(f"{VERSIONS}/1.0.0/lineage").json()
    assert [(n["label"], n["depth"]) for n in found["downstream"]] == [("fraud/churn@1.1.0", 1)]
    found = api.get(f"{VERSIONS}/1.1.0/lineage").json()
    assert {n["type"] for n in found["upstream"]} == {"dataset", "code", "version"}


@pytest.mark.parametrize(
    ("refs", "field"),
    [
        ({"datasets": [{"rows": 3}]}, "datasets.0"),
        ({"datasets": [{"name": "x", "rows": -1}]}, "datasets.0.rows"),
        ({"datasets": ["bad name with spaces@"]}, "datasets.0"),
        ({"parents": ["churn"]}, "parents.0"),
        ({"parents": ["churn@9.9.9"]}, "parents.0"),
        ({"parents": [{"version": "churn@1.0.0", "kind": "copied"}]}, "parents.0.kind"),
        # mistyped, unknown or unstorable fields are refused, never converted
        ({"datasets": [{"name": {"a": 1}}]}, "datasets.0.name"),
        ({"datasets": [{"name": "d1", "version": ["x"]}]}, "datasets.0.version"),
        ({"datasets": [{"name": "d3", "bogus_field": 1}]}, "datasets.0.bogus_field"),
        ({"datasets": [{"name": "a\u0001b"}]}, "datasets.0.name"),
        ({"datasets": [{"name": "d4", "digest": "x" * 201}]}, "datasets.0.digest"),
        ({"datasets": [{"name": "d5", "rows": True}]}, "datasets.0.rows"),
        ({"features": [{"name": "f", "team": 7}]}, "features.0.team"),
        ({"features": [{"name": "f", "features": ["ok", "bad\nname"]}]}, "features.0.features"),
    ],
)
def test_it_refuses_bad_references_naming_the_field_and_stores_nothing(
    as_user, contributor, base, refs, field
):
    response = as_user(contributor).post(VERSIONS, {"version": "1.1.0", **refs})
    assert_error(response, 400, "invalid", field)
    assert ModelVersion.objects.count() == 1
    assert not Dataset.objects.exists() and not Edge.objects.exists()


def test_a_dataset_version_may_be_a_whole_number(as_user, contributor, base):
    body = {"version": "1.1.0", "datasets": [{"name": "events", "version": 7}]}
    response = as_user(contributor).post(VERSIONS, body)
    assert response.status_code == 201, response.content
    assert response.json()["lineage"]["datasets"] == ["events@7"]


def test_it_refuses_datasets_and_parents_of_teams_the_caller_cannot_read(
    as_user, contributor, base, other_team, outsider, make_model, make_version
):
    theirs = make_version(make_model("secret", team=other_team, actor=outsider), "1.0.0",
                          actor=outsider)  # fmt: skip
    hidden = Dataset.objects.create(team=other_team, name="pii")
    DatasetVersion.objects.create(dataset=hidden, version="1")
    api = as_user(contributor)
    for refs, field in (
        ({"datasets": ["growth/pii@1"]}, "datasets.0"),
        ({"datasets": ["growth/nothing@1"]}, "datasets.0"),
        ({"parents": [f"growth/{theirs.model.name}@1.0.0"]}, "parents.0"),
    ):
        error = assert_error(api.post(VERSIONS, {"version": "1.1.0", **refs}), 400, "invalid",
                             field)  # fmt: skip
        assert "that you may read" in error["message"]
    assert not Edge.objects.exists()


def test_it_links_a_parent_and_refuses_a_cycle(as_user, contributor, make_version, base):
    child = make_version(base.model, "1.1.0")
    api = as_user(contributor)
    response = api.post(f"{VERSIONS}/1.1.0/parents", {"parent": "churn@1.0.0"})
    assert response.status_code == 201
    assert response.json()["parents"] == ["fraud/churn@1.0.0"]
    error = assert_error(
        api.post(f"{VERSIONS}/1.0.0/parents", {"parent": "churn@1.1.0"}), 409, "conflict", "parent"
    )
    assert "cycle" in error["message"]
    assert Edge.objects.count() == 1 and child.pk


def test_a_viewer_may_read_lineage_but_not_link_parents(as_user, viewer, make_version, base):
    make_version(base.model, "1.1.0")
    api = as_user(viewer)
    assert api.get(f"{VERSIONS}/1.1.0/lineage").status_code == 200
    response = api.post(f"{VERSIONS}/1.1.0/parents", {"parent": "churn@1.0.0"})
    assert_error(response, 403, "permission_denied")
    assert not Edge.objects.exists()


def test_an_outsider_sees_neither_lineage_nor_impact(as_user, outsider, team, base):
    dv = DatasetVersion.objects.create(dataset=Dataset.objects.create(team=team, name="tx"))
    api = as_user(outsider)
    assert_error(api.get(f"{VERSIONS}/1.0.0/lineage"), 404, "not_found")
    assert_error(api.get(f"/lineage/datasets/fraud/{dv.pk}/impact"), 404, "not_found")


def test_it_answers_the_impact_of_a_dataset_version(as_user, contributor, viewer, base):
    api = as_user(contributor)
    assert api.post(VERSIONS, {"version": "1.1.0", "datasets": ["tx@1"]}).status_code == 201
    dv = DatasetVersion.objects.get()
    body = as_user(viewer).get(f"/lineage/datasets/fraud/{dv.pk}/impact").json()
    assert [(v["model"], v["version"], v["production"]) for v in body["versions"]] == [
        ("fraud/churn", "1.1.0", False)
    ]


def test_a_version_is_never_committed_without_its_lineage(as_user, contributor, base, monkeypatch):
    """Recording the lineage fails after the version row was written: nothing is kept."""

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("lineage store down")

    monkeypatch.setattr(graph, "record_version_lineage", broken)
    with pytest.raises(RuntimeError):
        as_user(contributor).post(VERSIONS, {"version": "9.9.9", "datasets": ["transactions@v3"]})
    assert list(ModelVersion.objects.values_list("version", flat=True)) == ["1.0.0"]
    assert not DatasetVersion.objects.exists()
