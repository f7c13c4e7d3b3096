"""Hostile input anywhere in a URL, query string or form gets a 4xx, never a 500.

NUL bytes matter on PostgreSQL (text columns cannot hold them); CI runs these there.
"""

from __future__ import annotations

import base64
import json

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from registry.metadata import MAX_JSON_DEPTH, clean_version_metadata
from registry.models import ModelVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(make_model, make_version):
    return make_version(make_model(), "1.0.0", files={"model.bin": b"x"})


@pytest.mark.parametrize(
    "query",
    [
        {"q": "a\x00b"}, {"team": "\x00"}, {"tag": "k\x00=v"}, {"framework": "x\x00"},
        {"q": "x" * 10_000}, {"page": "-1"}, {"page": "9" * 30}, {"sort": "\x00"},
    ],
)  # fmt: skip
def test_it_ignores_unusable_model_filters(client, viewer, version, query):
    client.force_login(viewer)
    assert client.get(reverse("models"), query).status_code == 200


@pytest.mark.parametrize(
    "cursor",
    [base64.urlsafe_b64encode(b"\x00").decode(), "AA", "\x00", "%%%", "x" * 5000],
)
def test_it_ignores_unusable_history_cursors(client, viewer, version, cursor):
    client.force_login(viewer)
    url = version.model.get_absolute_url()
    assert client.get(url, {"cursor": cursor}).status_code == 200
    assert client.get(url, {"before": cursor}).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/models/fraud/ch%00urn/",
        "/models/fraud/churn/versions/1.0.0%00/",
        "/models/fraud/churn/versions/1.0.0/files/model.bin%00",
        "/models/fraud/churn/versions/1.0.0/files/%2e%2e/%2e%2e/etc/passwd",
        "/models/fr%00aud/churn/",
        "/models/fraud/churn/versions/" + "9" * 300 + "/",
    ],
)
def test_it_answers_404_for_odd_urls(client, viewer, version, path):
    client.force_login(viewer)
    assert client.get(path).status_code == 404


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("metrics", json.dumps({"test": {"a\x00b": 1}})),
        ("params", json.dumps({"lr": "a\x00"})),
        ("signature", json.dumps({"inputs": [{"type": "x\x00"}]})),
        ("metrics", "[" * 100_000),
        ("params", '{"a":' * 5000 + "1" + "}" * 5000),
    ],
)
def test_it_rejects_unusable_json_in_the_register_form(client, contributor, version, field, value):
    client.force_login(contributor)
    url = reverse("version-register", args=["fraud", "churn"])
    response = client.post(url, {"version": "2.0.0", field: value})
    assert response.status_code == 400
    assert response.context["form"].errors[field]
    assert ModelVersion.objects.count() == 1


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def test_it_limits_how_deep_metadata_may_nest():
    clean_version_metadata({"params": nested(MAX_JSON_DEPTH - 1)})
    with pytest.raises(ValidationError) as excinfo:
        clean_version_metadata({"params": nested(MAX_JSON_DEPTH + 5)})
    assert "nested more than" in excinfo.value.message_dict["params"][0]


@pytest.mark.parametrize("field", ["description", "code_branch", "framework"])
def test_it_rejects_nul_in_metadata_strings(field):
    with pytest.raises(ValidationError) as excinfo:
        clean_version_metadata({field: "a\x00b"})
    assert "NUL" in excinfo.value.message_dict[field][0]


@pytest.mark.parametrize(
    "when", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "1066-10-14T09:00:00Z"]
)
def test_it_rejects_training_times_out_of_range(when):
    with pytest.raises(ValidationError) as excinfo:
        clean_version_metadata({"training_started_at": when})
    assert "between the years" in excinfo.value.message_dict["training_started_at"][0]


@pytest.mark.parametrize(
    "data",
    [
        {"description": "a\ud800b"},
        {"params": {"k\udfff": 1}},
        {"tags": {"owner": "\ud83d"}},
        {"environment": {"os": "\ud800"}},
    ],
)
def test_it_rejects_lone_surrogates_in_metadata(data):
    with pytest.raises(ValidationError) as excinfo:
        clean_version_metadata(data)
    assert "lone surrogates" in str(excinfo.value)


def test_it_rejects_a_lone_surrogate_in_an_artifact_path():
    from registry.artifacts import normalise_path

    with pytest.raises(ValidationError, match="control characters"):
        normalise_path("weights/\ud800.bin")
