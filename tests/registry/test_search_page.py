from __future__ import annotations

import pytest
from django.urls import reverse

from registry.services import apply_transition

pytestmark = pytest.mark.django_db
URL = reverse("search")


@pytest.fixture
def versions(make_model, make_version, maintainer, other_team, site_admin):
    churn = make_model("churn", tags={"owner": "fraud"})
    good = make_version(churn, "1.0.0", metrics={"test": {"auc": 0.95}}, tags={"owner": "fraud"})
    make_version(churn, "1.1.0", metrics={"test": {"auc": 0.80}})
    apply_transition(version=good, to_stage="production", actor=maintainer)
    return good


def found(response) -> list[str]:
    return [str(item) for item in response.context["page"].items]


def test_it_finds_versions_by_the_search_language(client, viewer, versions):
    client.force_login(viewer)
    response = client.get(URL, {"q": "metrics.test.auc >= 0.9 and stage = Production"})
    assert response.status_code == 200
    assert found(response) == ["churn 1.0.0"]


def test_it_finds_models(client, viewer, versions):
    client.force_login(viewer)
    response = client.get(URL, {"q": 'tags.owner = "fraud"', "kind": "models"})
    assert found(response) == ["fraud/churn"]


def test_it_points_at_the_error(client, viewer, versions):
    client.force_login(viewer)
    response = client.get(URL, {"q": "metrics.test.auc >="})
    assert response.status_code == 400
    assert response.context["error"].position == 19
    assert "expected a value" in response.content.decode()
    assert "\n" + " " * 19 + "^" in response.content.decode()


def test_it_never_shows_other_teams_versions(client, outsider, versions):
    client.force_login(outsider)
    response = client.get(URL, {"q": "metrics.test.auc >= 0 or not stage = archived"})
    assert found(response) == []


def test_it_renders_results_alone_for_htmx_and_the_page_otherwise(client, viewer, versions):
    client.force_login(viewer)
    part = client.get(URL, {"q": "stage = production"}, headers={"HX-Request": "true"})
    assert b"<html" not in part.content and b'id="search-results"' in part.content
    assert b"<html" in client.get(URL, {"q": "stage = production"}).content


def test_it_shows_examples_without_a_query(client, viewer):
    client.force_login(viewer)
    response = client.get(URL)
    assert response.status_code == 200 and b"How to search" in response.content
