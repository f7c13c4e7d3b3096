from __future__ import annotations

import pytest
from django.urls import reverse

from registry import services
from registry.models import ModelTag

pytestmark = pytest.mark.django_db
URL = reverse("models")


@pytest.fixture
def catalogue(make_model, make_version, other_team, maintainer, site_admin):
    churn = make_model(
        "churn", framework="xgboost", task_type="classification", tags={"owner": "fraud", "pii": ""}
    )
    make_version(churn, "1.0.0")
    prod = make_version(churn, "1.1.0")
    services.apply_transition(version=prod, to_stage="production", actor=maintainer)
    ranker = make_model(
        "ranker", framework="lightgbm", task_type="ranking", tags={"owner": "search"}
    )
    make_version(ranker, "0.1.0")
    services.create_model(
        team=other_team,
        name="vision-det",
        actor=site_admin,
        framework="pytorch",
        task_type="object_detection",
        visibility="internal",
    )
    services.create_model(team=other_team, name="secret", actor=site_admin, framework="onnx")
    return churn, ranker


def names(response) -> list[str]:
    return [m.name for m in response.context["page"].object_list]


def test_it_requires_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_it_lists_models_with_latest_version(client, viewer, catalogue):
    client.force_login(viewer)
    response = client.get(URL)
    assert response.status_code == 200
    assert sorted(names(response)) == ["churn", "ranker", "vision-det"]
    assert b"1.1.0" in response.content


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"team": "fraud"}, ["churn", "ranker"]),
        ({"framework": "lightgbm"}, ["ranker"]),
        ({"task": "object_detection"}, ["vision-det"]),
        ({"tag": "pii"}, ["churn"]),
        ({"tag": "owner=search"}, ["ranker"]),
        ({"tag": "owner=nobody"}, []),
        ({"stage": "production"}, ["churn"]),
        ({"stage": "development"}, ["churn", "ranker"]),
        ({"q": "rank"}, ["ranker"]),
        ({"q": "search"}, ["ranker"]),  # matches a tag value
        ({"team": "fraud", "stage": "production", "framework": "xgboost"}, ["churn"]),
    ],
)
def test_it_filters(client, viewer, catalogue, query, expected):
    client.force_login(viewer)
    response = client.get(URL, query)
    assert sorted(names(response)) == expected


def test_it_sorts_by_name_and_versions(client, viewer, catalogue):
    client.force_login(viewer)
    assert names(client.get(URL, {"sort": "name"})) == ["churn", "ranker", "vision-det"]
    assert names(client.get(URL, {"sort": "-versions"}))[0] == "churn"


def test_it_ignores_junk_parameters(client, viewer, catalogue):
    client.force_login(viewer)
    response = client.get(URL, {"page": "abc", "sort": "password", "stage": "x", "task": "?"})
    assert response.status_code == 200
    assert len(names(response)) == 3


def test_it_renders_only_the_results_for_htmx(client, viewer, catalogue):
    client.force_login(viewer)
    response = client.get(URL, {"team": "fraud"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert b"<html" not in response.content
    assert b'id="model-results"' in response.content
    full = client.get(URL, {"team": "fraud"})
    assert b"<html" in full.content and b'id="model-results"' in full.content


def test_it_treats_boosted_requests_as_full_pages(client, viewer, catalogue):
    client.force_login(viewer)
    response = client.get(URL, headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert b"<html" in response.content


def test_it_shows_an_empty_state(client, viewer):
    client.force_login(viewer)
    assert b"No models registered yet" in client.get(URL).content
    assert b"No models match these filters" in client.get(URL, {"q": "zzz"}).content


def test_it_paginates(client, viewer, team, site_admin):
    for i in range(30):
        services.create_model(team=team, name=f"m{i:02d}", actor=site_admin)
    client.force_login(viewer)
    first = client.get(URL, {"sort": "name"})
    second = client.get(URL, {"sort": "name", "page": 2})
    assert len(names(first)) == 25 and names(second) == [f"m{i:02d}" for i in range(25, 30)]
    assert b"page=2" in first.content


def test_it_rejects_post(client, viewer):
    client.force_login(viewer)
    assert client.post(URL).status_code == 405


def test_its_query_count_does_not_grow_with_rows(
    client, viewer, team, site_admin, django_assert_max_num_queries
):
    for i in range(40):
        model = services.create_model(team=team, name=f"m{i:02d}", actor=site_admin)
        ModelTag.objects.create(model=model, key="owner", value="x")
    client.force_login(viewer)
    # session, user, count, page of models (+team, latest version), tags, teams, frameworks
    with django_assert_max_num_queries(9):
        response = client.get(URL, {"stage": "production", "tag": "owner"})
    assert response.status_code == 200
    with django_assert_max_num_queries(9):
        client.get(URL)


def test_it_refreshes_the_live_count_out_of_band(client, viewer, catalogue):
    client.force_login(viewer)
    part = client.get(URL, {"team": "fraud"}, headers={"HX-Request": "true"}).content.decode()
    assert 'id="results-status"' in part and 'hx-swap-oob="innerHTML"' in part
    full = client.get(URL, {"team": "fraud"}).content.decode()
    assert 'id="results-status"' in full and "hx-swap-oob" not in full


def test_it_gives_htmx_history_restores_the_whole_page(client, viewer, catalogue):
    client.force_login(viewer)
    response = client.get(URL, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert b"<html" in response.content
    assert "HX-Request" in response["Vary"]
