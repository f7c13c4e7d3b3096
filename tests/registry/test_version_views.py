from __future__ import annotations

import hashlib

import pytest
from django.urls import reverse

from registry.models import PromotionPolicy, Stage

pytestmark = pytest.mark.django_db


def url(v, name: str = "version-detail") -> str:
    return reverse(name, args=[v.model.team.slug, v.model.name, v.version])


@pytest.fixture
def version(make_model, make_version):
    model = make_model()
    return make_version(
        model,
        "1.0.0+build.7",
        description="Trained on **2024-Q4**",
        metrics={"test": {"auc": 0.91, "p95_latency_ms": 41}, "train": {"loss": 0.12}},
        params={"learning_rate": 0.05, "max_depth": 8},
        environment={
            "python": "3.12.1",
            "os": "Debian 12",
            "hardware": {"gpu": "A100"},
            "packages": ["numpy==1.26.4", "Scikit_Learn==1.5.0"],
        },
        signature={"inputs": [{"name": "age", "type": "long"}], "outputs": [{"type": "double"}]},
        code_repository="https://git.example.com/fraud/churn",
        code_commit="a" * 40,
        code_branch="main",
        code_entry_point="train.py",
        code_dirty=False,
        training_started_at="2024-12-01T10:00:00Z",
        training_ended_at="2024-12-01T12:30:00Z",
        tags={"owner": "fraud"},
        files={"model.bin": b"weights" * 100, "conf/config.json": b'{"a": 1}'},
    )


def test_it_shows_every_section(client, viewer, version):
    client.force_login(viewer)
    response = client.get(url(version))
    assert response.status_code == 200
    html = response.content.decode()
    for expected in [
        "p95_latency_ms",
        "learning_rate",
        "scikit-learn",
        "1.5.0",
        "Debian 12",
        "A100",
        "age",
        "double",
        "conf/config.json",
        "a" * 40,
        "train.py",
        "2:30:00",
        "owner=fraud",
        "<strong>2024-Q4</strong>",
        "registered",
    ]:
        assert expected in html, expected


def test_it_answers_404_for_unknown_versions(client, viewer, version):
    client.force_login(viewer)
    bad = reverse("version-detail", args=["fraud", "churn", "9.9.9"])
    assert client.get(bad).status_code == 404


def test_its_query_count_is_constant_with_many_metrics(
    client, viewer, make_model, make_version, django_assert_max_num_queries
):
    model = make_model()
    v = make_version(
        model,
        "1.0.0",
        metrics={"test": {f"m{i}": i / 1000 for i in range(200)}},
        params={f"p{i}": i for i in range(200)},
        environment={"packages": [f"pkg{i}==1.{i}" for i in range(200)]},
    )
    client.force_login(viewer)
    # session, user, version(+model+team+creator), metrics, artifacts, tags, transitions,
    # memberships, aliases, the versions to compare with (Production, previous), open
    # promotion requests, the navigation's counts, lineage (upstream and downstream walks;
    # each kind of node they reach is one more query, see tests/lineage/test_views.py)
    with django_assert_max_num_queries(14):
        response = client.get(url(v))
    assert response.context["metric_count"] == 200


def test_it_downloads_an_artifact_as_a_stream(client, viewer, version):
    client.force_login(viewer)
    artifact = version.artifacts.get(path="model.bin")
    response = client.get(artifact.get_absolute_url())
    assert response.status_code == 200
    assert response.streaming
    body = b"".join(response.streaming_content)
    assert body == b"weights" * 100
    assert response["X-Checksum-SHA256"] == hashlib.sha256(body).hexdigest()
    assert response["Content-Length"] == "700"
    assert 'filename="model.bin"' in response["Content-Disposition"]


def test_it_downloads_nested_paths_and_404s_unknown_ones(client, viewer, version):
    client.force_login(viewer)
    nested = reverse(
        "artifact-download", args=["fraud", "churn", version.version, "conf/config.json"]
    )
    assert b"".join(client.get(nested).streaming_content) == b'{"a": 1}'
    missing = reverse("artifact-download", args=["fraud", "churn", version.version, "../x"])
    assert client.get(missing).status_code == 404


def test_it_serves_the_manifest(client, viewer, version):
    client.force_login(viewer)
    manifest = client.get(url(version, "version-manifest")).json()
    assert manifest["version"] == "1.0.0+build.7"
    assert {f["path"] for f in manifest["files"]} == {"model.bin", "conf/config.json"}
    assert all(len(f["sha256"]) == 64 for f in manifest["files"])


class TestStageChange:
    def test_it_moves_a_version_for_contributors(self, client, contributor, version):
        PromotionPolicy.objects.create(
            team=version.model.team, target_stage="staging", required_approvals=0
        )
        client.force_login(contributor)
        response = client.post(
            url(version, "version-stage"), {"to_stage": "staging", "comment": "ready for QA"}
        )
        assert response.status_code == 302
        version.refresh_from_db()
        assert version.stage == Stage.STAGING
        assert version.transitions.first().comment == "ready for QA"

    def test_it_denies_viewers_and_hides_from_outsiders(
        self, client, viewer, contributor, outsider, version
    ):
        for user, to_stage, status in [
            (viewer, "staging", 403),
            (contributor, "production", 403),  # into service: maintainers only
            (outsider, "staging", 404),
        ]:
            client.force_login(user)
            response = client.post(url(version, "version-stage"), {"to_stage": to_stage})
            assert response.status_code == status
        version.refresh_from_db()
        assert version.stage == Stage.DEVELOPMENT

    def test_it_offers_only_the_stages_the_user_may_move_to(
        self, client, contributor, maintainer, version
    ):
        client.force_login(contributor)
        context = client.get(url(version)).context
        # Staging is requested (the policy gates it); archiving is for maintainers.
        assert [s for s, _ in context["stage_choices"]] == []
        assert context["request_targets"] == ["staging"]
        client.force_login(maintainer)
        context = client.get(url(version)).context
        assert [s for s, _ in context["stage_choices"]] == ["archived"]
        assert context["request_targets"] == ["staging"]

    def test_it_reports_bad_input_and_changes_nothing(self, client, contributor, version):
        client.force_login(contributor)
        client.post(url(version, "version-stage"), {"to_stage": "heaven"})
        client.post(url(version, "version-stage"), {"to_stage": "development"})
        version.refresh_from_db()
        assert version.stage == Stage.DEVELOPMENT
        assert version.transitions.count() == 1
        page = client.get(url(version)).content.decode()
        assert "already in Development" in page

    def test_it_rejects_get(self, client, contributor, version):
        client.force_login(contributor)
        assert client.get(url(version, "version-stage")).status_code == 405


def test_it_shows_aliases_and_offers_setting_them_to_contributors(
    client, contributor, viewer, version
):
    from registry import aliases

    aliases.set_alias(version.model, "champion", version, contributor)
    client.force_login(viewer)
    page = client.get(url(version)).content.decode()
    assert "champion" in page and "Point an alias here" not in page
    client.force_login(contributor)
    page = client.get(url(version)).content.decode()
    assert "Point an alias here" in page
    response = client.post(url(version, "version-alias"), {"name": "candidate"})
    assert response.status_code == 302
    assert sorted(version.aliases.values_list("name", flat=True)) == ["candidate", "champion"]
