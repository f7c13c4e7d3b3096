from __future__ import annotations

import pytest

from registry.services import apply_transition
from tests.api.conftest import assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def versions(make_model, make_version, maintainer):
    churn = make_model("churn", tags={"owner": "fraud"})
    good = make_version(churn, "1.0.0", metrics={"test": {"auc": 0.95}})
    make_version(churn, "1.1.0", metrics={"test": {"auc": 0.80}})
    apply_transition(version=good, to_stage="production", actor=maintainer)
    return churn


def test_it_searches_versions_with_a_read_token(as_token, viewer, versions):
    api = as_token(viewer, "read")
    response = api.get("/search/versions", data={"q": "metrics.test.auc >= 0.9"})
    assert response.status_code == 200
    assert [v["version"] for v in response.json()["items"]] == ["1.0.0"]


def test_it_searches_models(as_user, viewer, versions):
    response = as_user(viewer).get("/search/models", data={"q": 'tags.owner = "fraud"'})
    assert [m["name"] for m in response.json()["items"]] == ["churn"]


def test_it_answers_400_with_the_position(as_user, viewer, versions):
    response = as_user(viewer).get("/search/versions", data={"q": "stage = prod"})
    error = assert_error(response, 400, "invalid_query", "q")
    assert error["details"][0]["position"] == 8
    assert "stage must be one of" in error["message"]


def test_it_only_finds_what_the_caller_may_read(as_user, outsider, versions):
    response = as_user(outsider).get("/search/versions", data={"q": "not stage = archived"})
    assert response.json()["items"] == []


def test_it_pages_with_cursors(as_user, viewer, versions, make_version):
    for i in range(5):
        make_version(versions, f"2.{i}.0")
    api = as_user(viewer)
    first = api.get("/search/versions", data={"q": "not stage = archived", "limit": 4}).json()
    second = api.get(
        "/search/versions", data={"q": "not stage = archived", "limit": 4, "cursor": first["next"]}
    ).json()
    seen = [v["version"] for v in first["items"] + second["items"]]
    assert len(seen) == len(set(seen)) == 7 and second["next"] is None


def test_it_needs_a_signed_in_caller(as_user):
    assert as_user(None).get("/search/versions", data={"q": "stage = staging"}).status_code == 401
