"""The dataset-version and code-version pages, and the version page's lineage section."""

from __future__ import annotations

import pytest
from django.urls import reverse

from lineage.models import CodeVersion, EdgeKind
from registry.models import Stage
from registry.services import apply_transition
from tests.lineage.conftest import edge

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(make_model, make_version, make_dataset, maintainer):
    model = make_model()
    base, tuned = make_version(model, "1.0.0"), make_version(model, "1.1.0")
    data = make_dataset('<b>"tx"</b>', "v1", uri="s3://data/tx")
    edge(data, base, EdgeKind.USED)
    edge(base, tuned)
    apply_transition(version=tuned, to_stage=Stage.PRODUCTION, actor=maintainer)
    return data, base, tuned


def test_the_dataset_page_lists_the_impacted_versions_marking_production(
    client, viewer, world, django_assert_max_num_queries
):
    data, base, tuned = world
    client.force_login(viewer)
    # session, user, memberships, dataset version, its other versions, the runs' edges,
    # downstream walk, versions, their live deployments, nav counts
    with django_assert_max_num_queries(10):
        response = client.get(data.get_absolute_url())
    assert response.status_code == 200
    body = response.content.decode()
    assert "2 dependent versions, 1 in Production" in body
    assert "&lt;b&gt;&quot;tx&quot;&lt;/b&gt;" in body and '<b>"tx"</b>' not in body
    assert tuned.get_absolute_url() in body and "impacted Production version" in body


def test_an_outsider_gets_404_for_a_dataset_and_a_code_version(client, outsider, world, team):
    data, _base, _tuned = world
    code = CodeVersion.objects.create(team=team, repository="r", commit="abc1234")
    client.force_login(outsider)
    assert client.get(data.get_absolute_url()).status_code == 404
    assert client.get(code.get_absolute_url()).status_code == 404
    # The right id under another team's slug is not there either.
    assert client.get(reverse("dataset-version", args=["growth", data.pk])).status_code == 404


def test_the_code_page_lists_what_the_commit_trained(client, viewer, world, team):
    _data, base, _tuned = world
    code = CodeVersion.objects.create(team=team, repository="git@x:churn.git", commit="abc1234")
    edge(code, base, EdgeKind.TRAINED_BY)
    client.force_login(viewer)
    body = client.get(code.get_absolute_url()).content.decode()
    assert "2 dependent versions, 1 in Production" in body


def test_the_version_page_lists_where_it_came_from_and_where_it_went(client, viewer, world):
    data, base, tuned = world
    client.force_login(viewer)
    body = client.get(base.get_absolute_url()).content.decode()
    assert 'id="lineage"' in body
    assert data.get_absolute_url() in body
    assert f'Child: <a href="{tuned.get_absolute_url()}">' in body
    body = client.get(tuned.get_absolute_url()).content.decode()
    assert f'Parent: <a href="{base.get_absolute_url()}">' in body
