"""Reads answer in a constant number of queries, whatever the number of versions."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = pytest.mark.django_db

API = "/api/2.0/mlflow/"


@pytest.fixture
def headers(contributor: Any, secret_for: Any) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret_for(contributor)}"}


@pytest.fixture
def churn(client: Any, headers: dict[str, str], team: Any) -> None:
    post = lambda path, body: client.post(  # noqa: E731
        API + path, json.dumps(body), content_type="application/json", **headers
    )
    assert post("registered-models/create", {"name": "fraud.churn"}).status_code == 200
    for i in range(12):
        tags = [{"key": "team", "value": "fraud"}, {"key": "i", "value": str(i)}]
        body = {"name": "churn", "source": f"s3://b/{i}", "tags": tags}
        assert post("model-versions/create", body).status_code == 200
    assert (
        post(
            "registered-models/alias", {"name": "churn", "alias": "champion", "version": "3"}
        ).status_code
        == 200
    )  # noqa: E501


@pytest.mark.usefixtures("churn")
def test_search_get_and_alias_read_in_few_queries(client, headers, django_assert_max_num_queries):
    # token, the user's memberships with the default team, the versions, their tags, aliases
    with django_assert_max_num_queries(6):
        flt = "name='churn' AND tags.team='fraud'"
        response = client.get(API + "model-versions/search", {"filter": flt}, **headers)
    found = response.json()["model_versions"]
    assert len(found) == 12
    assert found[-1]["version"] == "1" and found[-1]["tags"][-1] == {
        "key": "modelgate.version", "value": "1.0.0"
    }  # fmt: skip
    assert [v["aliases"] for v in found if v["version"] == "3"] == [["champion"]]
    with django_assert_max_num_queries(6):
        response = client.get(API + "model-versions/get", {"name": "churn", "version": "3"},
                              **headers)  # fmt: skip
    assert response.json()["model_version"]["aliases"] == ["champion"]
    with django_assert_max_num_queries(7):
        response = client.get(API + "registered-models/alias",
                              {"name": "churn", "alias": "champion"}, **headers)  # fmt: skip
    assert response.json()["model_version"]["version"] == "3"
    page = client.get(
        API + "model-versions/search",
        {"max_results": 5, "order_by": "version_number ASC"},
        **headers,
    ).json()  # noqa: E501
    assert [v["version"] for v in page["model_versions"]] == ["1", "2", "3", "4", "5"]
    more = client.get(
        API + "model-versions/search",
        {"max_results": 5, "order_by": "version_number ASC", "page_token": page["next_page_token"]},
        **headers,
    ).json()  # noqa: E501
    assert [v["version"] for v in more["model_versions"]] == ["6", "7", "8", "9", "10"]
