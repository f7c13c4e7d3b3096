"""MLflow-malformed bodies, parameters and filters answer INVALID_PARAMETER_VALUE with a
message (never a 500) and change nothing; auth failures answer MLflow's codes."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlflow_api import filters
from mlflow_api.errors import MlflowError
from registry.models import ModelVersion, RegisteredModel

pytestmark = pytest.mark.django_db

API = "/api/2.0/mlflow/"


@pytest.fixture
def call(client: Any, contributor: Any, secret_for: Any) -> Any:
    secret = secret_for(contributor)

    def send(method: str, path: str, body: Any = None, query: dict | None = None, **headers: Any):
        headers.setdefault("HTTP_AUTHORIZATION", f"Bearer {secret}")
        data = (
            body if isinstance(body, str | bytes) else json.dumps(body) if body is not None else ""
        )
        url = API + path
        if query:
            from urllib.parse import urlencode

            url += "?" + urlencode(query, doseq=True)
        return client.generic(method, url, data, content_type="application/json", **headers)

    return send


@pytest.fixture
def churn(make_model: Any, make_version: Any) -> RegisteredModel:
    model = make_model("churn")
    make_version(model, "1.0.0")
    return model


def stored() -> tuple[Any, ...]:
    return (
        list(RegisteredModel.objects.values_list("name", "description")),
        list(ModelVersion.objects.values_list("version", "stage", "description")),
    )


BAD_BODIES = [
    ("POST", "registered-models/create", "not json"),
    ("POST", "registered-models/create", "[1, 2]"),
    ("POST", "registered-models/create", {}),
    ("POST", "registered-models/create", {"name": 5}),
    ("POST", "registered-models/create", {"name": ""}),
    ("POST", "registered-models/create", {"name": "fraud."}),
    ("POST", "registered-models/create", {"name": "fraud.bad name!"}),
    ("POST", "registered-models/create", {"name": "fraud." + "x" * 1000}),
    ("POST", "registered-models/create", {"name": "fraud.a\x00b"}),
    ("POST", "registered-models/create", {"name": "fraud.caf\u00e9"}),
    ("POST", "registered-models/create", {"name": "fraud.a", "tags": "owner=me"}),
    ("POST", "registered-models/create", {"name": "fraud.a", "tags": [{"key": 1}]}),
    ("POST", "registered-models/create", {"name": "fraud.a", "tags": [{"key": "bad key"}]}),
    ("POST", "registered-models/create", {"name": "fraud.a", "tags": [{"key": "k", "value": []}]}),
    ("POST", "registered-models/create", {"name": "fraud.a", "description": 5}),
    ("POST", "registered-models/create", {"name": ["fraud.a"]}),
    ("POST", "model-versions/create", {"name": "fraud.churn", "source": 5}),
    ("POST", "model-versions/create", {"name": "fraud.churn", "source": "s3://b/\nm"}),
    ("POST", "model-versions/create", {"name": "fraud.churn", "source": "s3://" + "b" * 2000}),
    ("POST", "model-versions/create", {"name": "fraud.churn", "run_id": "r" * 100}),
    ("POST", "model-versions/create", {"name": "fraud.churn", "tags": [{"key": "a b"}]}),
    (
        "POST",
        "model-versions/create",
        {"name": "fraud.churn", "tags": [{"key": "modelgate.version", "value": "not-semver"}]},
    ),  # noqa: E501
    ("POST", "model-versions/set-tag", {"name": "fraud.churn", "version": "1", "key": ""}),
    (
        "POST",
        "model-versions/set-tag",
        {"name": "fraud.churn", "version": "1", "key": "k", "value": "v" * 300},
    ),  # noqa: E501
    (
        "POST",
        "model-versions/transition-stage",
        {"name": "fraud.churn", "version": "1", "stage": "Prod"},
    ),  # noqa: E501
    (
        "POST",
        "model-versions/transition-stage",
        {"name": "fraud.churn", "version": "1", "stage": 3},
    ),  # noqa: E501
    (
        "POST",
        "model-versions/transition-stage",
        {
            "name": "fraud.churn",
            "version": "1",
            "stage": "Staging",
            "archive_existing_versions": "maybe",
        },
    ),  # noqa: E501
    (
        "POST",
        "registered-models/alias",
        {"name": "fraud.churn", "alias": "Bad Alias", "version": "1"},
    ),  # noqa: E501
    ("POST", "registered-models/alias", {"name": "fraud.churn", "alias": "ok", "version": "one"}),
    ("PATCH", "registered-models/update", {"name": "fraud.churn", "description": {"a": 1}}),
    ("PATCH", "model-versions/update", {"name": "fraud.churn", "version": True}),
    ("POST", "registered-models/rename", {"name": "fraud.churn", "new_name": 7}),
]


@pytest.mark.usefixtures("churn")
@pytest.mark.parametrize(("method", "path", "body"), BAD_BODIES)
def test_bad_bodies_answer_invalid_parameter_value(call, method, path, body):
    before = stored()
    response = call(method, path, body)
    assert response.status_code == 400, response.content
    data = response.json()
    assert data["error_code"] == "INVALID_PARAMETER_VALUE"
    assert data["message"]
    assert stored() == before


BAD_QUERIES = [
    ("model-versions/get", {"name": "fraud.churn", "version": "abc"}),
    ("model-versions/get", {"name": "fraud.churn", "version": "-1"}),
    ("model-versions/get", {"name": "fraud.churn", "version": "1.5"}),
    ("model-versions/get", {"name": "fraud.churn", "version": "99999999999"}),
    ("model-versions/get", {"name": "fraud.churn"}),
    ("registered-models/get", {}),
    ("registered-models/search", {"max_results": "abc"}),
    ("registered-models/search", {"max_results": "0"}),
    ("registered-models/search", {"max_results": "1001"}),
    ("registered-models/search", {"page_token": "garbage"}),
    ("registered-models/search", {"page_token": base64.urlsafe_b64encode(b'{"offset": -4}')}),
    ("registered-models/search", {"order_by": "foo DESC"}),
    ("registered-models/search", {"order_by": "name SIDEWAYS"}),
    ("model-versions/search", {"max_results": "300000"}),
]
BAD_FILTERS = [
    "name = ",
    "name LIKE",
    "foo = 'x'",
    "name = 'a' OR name = 'b'",
    "tags. = 'x'",
    "tags.`` = 'x'",
    "version_number = 'abc'",
    "version_number LIKE '1%'",
    "name IN 'a'",
    "name IN ('a' 'b')",
    "((",
    "'",
    "name = 'a' AND",
    "name = 'unterminated",
    "name > 'a'",
    "name NOT 'a'",
    "run_id = 'a\x00'",
    "name = 'a'; DROP TABLE registry_registeredmodel",
    "§",
]


@pytest.mark.usefixtures("churn")
@pytest.mark.parametrize(("path", "query"), BAD_QUERIES)
def test_bad_queries_answer_invalid_parameter_value(call, path, query):
    response = call("GET", path, query=query)
    assert response.status_code == 400, response.content
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


@pytest.mark.usefixtures("churn")
@pytest.mark.parametrize("flt", BAD_FILTERS)
@pytest.mark.parametrize("path", ["registered-models/search", "model-versions/search"])
def test_bad_filters_answer_invalid_parameter_value(call, path, flt):
    response = call("GET", path, query={"filter": flt})
    assert response.status_code == 400, response.content
    data = response.json()
    assert data["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "filter" in data["message"].lower() or "parameter" in data["message"].lower()


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.text(
        alphabet=st.sampled_from(list("nametgsvrIDLKEAN_.=!<>()',`\" %0123456789")), max_size=40
    )
)
def test_any_filter_text_parses_or_answers_invalid(text):
    from django.contrib.auth.models import AnonymousUser

    user = AnonymousUser()
    for keys, convert in (
        (filters.MODEL_KEYS, filters.model_conditions),
        (filters.VERSION_KEYS, filters.version_conditions),
    ):
        try:
            convert(user, filters.parse(text, keys))
        except MlflowError as exc:
            assert exc.code == "INVALID_PARAMETER_VALUE"


def test_names_differing_by_percent_encoding_or_unicode_form_are_one_model(call, churn):
    response = call("POST", "registered-models/create", {"name": "fraud.ch%75rn"})
    assert response.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    response = call("GET", "registered-models/get", query={"name": "fraud.%63hurn"})
    assert response.json()["registered_model"]["name"] == "fraud.churn"
    assert call("POST", "registered-models/create", {"name": "fraud.ne%77"}).status_code == 200
    assert call("POST", "registered-models/create", {"name": "fraud.new"}).status_code == 400
    # NFC and NFD spellings of one name resolve alike (Modelgate names are ASCII: both
    # are refused, neither creates a model).
    for spelling in ("fraud.caf\u00e9", "fraud.cafe\u0301"):
        response = call("POST", "registered-models/create", {"name": spelling})
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert sorted(RegisteredModel.objects.values_list("name", flat=True)) == ["churn", "new"]


def test_authentication_failures_answer_mlflow_codes(call, churn, contributor, secret_for):
    response = call("GET", "registered-models/get", query={"name": "fraud.churn"},
                    HTTP_AUTHORIZATION="Bearer mg_nope")  # fmt: skip
    assert response.status_code == 401
    assert response.json()["error_code"] == "UNAUTHENTICATED"
    response = call("GET", "registered-models/get", query={"name": "fraud.churn"},
                    HTTP_AUTHORIZATION="")  # fmt: skip
    assert response.status_code == 401
    secret = secret_for(contributor)
    basic = base64.b64encode(f"contributor:{secret}".encode()).decode()
    response = call("GET", "registered-models/get", query={"name": "fraud.churn"},
                    HTTP_AUTHORIZATION=f"Basic {basic}")  # fmt: skip
    assert response.status_code == 200
    wrong_user = base64.b64encode(f"someone:{secret}".encode()).decode()
    response = call("GET", "registered-models/get", query={"name": "fraud.churn"},
                    HTTP_AUTHORIZATION=f"Basic {wrong_user}")  # fmt: skip
    assert response.status_code == 401
    response = call("GET", "registered-models/get", query={"name": "fraud.churn"},
                    HTTP_AUTHORIZATION="Basic !!!")  # fmt: skip
    assert response.json()["error_code"] == "UNAUTHENTICATED"
    assert call("PUT", "registered-models/create", {"name": "fraud.x"}).status_code == 404


def test_the_session_needs_the_csrf_token_for_changes(contributor, churn):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(contributor)
    assert browser.get(API + "registered-models/get", {"name": "fraud.churn"}).status_code == 200
    response = browser.post(API + "registered-models/create", json.dumps({"name": "fraud.x"}),
                            content_type="application/json")  # fmt: skip
    assert response.status_code == 403
    assert response.json()["error_code"] == "PERMISSION_DENIED"
    assert not RegisteredModel.objects.filter(name="x").exists()


def test_the_artifact_proxy_serves_ranges_and_refuses_archived_files(
    client, contributor, secret_for, make_model, make_version
):
    """The proxy streams as the other downloads do (registry.downloads): a Range resumes,
    and a file in archive storage is INVALID_STATE, never a 500."""
    import hashlib

    from registry.models import Blob, BlobLocation

    make_version(make_model("churn"), "1.0.0", files={"model.bin": b"0123456789"})
    url = "/api/2.0/mlflow-artifacts/artifacts/models/fraud/churn/1/model.bin"
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret_for(contributor)}"}
    partial = client.get(url, HTTP_RANGE="bytes=4-", **auth)
    assert partial.status_code == 206 and b"".join(partial.streaming_content) == b"456789"
    assert partial["X-Checksum-SHA256"] == hashlib.sha256(b"0123456789").hexdigest()
    assert client.get(url, HTTP_RANGE="bytes=10-", **auth).status_code == 416
    Blob.objects.update(location=BlobLocation.ARCHIVE)
    refused = client.get(url, **auth)
    assert refused.status_code == 400 and refused.json()["error_code"] == "INVALID_STATE"
