"""Every answer under /api/v1/ is the API's error body, even where no endpoint answers
(unknown paths, methods a path does not take), and bodies in another media type than
JSON are refused (415) before anything is stored."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from registry.models import ModelVersion, RegisteredModel
from tests.api.conftest import API, assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def writer(as_token, contributor, make_model):
    make_model("churn")
    return as_token(contributor, "read", "write")


# --- unknown paths and methods ----------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/nope", "/models/fraud/churn/nope", "/models/fraud/rv4%2Fm", "/", "/models/"]
)
def test_an_unknown_path_answers_404_json(writer, path):
    response = writer.get(path)
    error = assert_error(response, 404, "not_found")
    assert "/api/v1/" in error["message"]


def test_an_unknown_path_answers_404_json_to_anonymous_callers_too():
    assert_error(Client().get(f"{API}/nope"), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("put", "/models", "GET, POST"),
        ("delete", "/teams", "GET"),
        ("options", "/models/fraud/churn/versions", "GET, POST"),
        ("head", "/models", "GET, POST"),
    ],
)
def test_a_method_the_path_does_not_take_answers_405_json_with_allow(writer, method, path, allow):
    response = getattr(writer.client, method)(f"{API}{path}", headers=writer.headers)
    assert response["Allow"] == allow
    if method == "head":
        assert response.status_code == 405
        return
    error = assert_error(response, 405, "method_not_allowed")
    assert method.upper() in error["message"] and allow in error["message"]


def test_pages_outside_the_api_keep_their_html_404(client, viewer):
    client.force_login(viewer)
    response = client.get("/nope/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


# --- media types ------------------------------------------------------------------------


def _post(writer, path: str, body: str, content_type: str):
    return writer.client.post(
        f"{API}{path}", data=body, content_type=content_type, headers=writer.headers
    )


MODEL = json.dumps({"team": "fraud", "name": "rv4-ct"})


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "text/json", "application/xml",
     "application/json; charset=latin-1"],
)  # fmt: skip
def test_a_json_body_in_another_media_type_answers_415_and_stores_nothing(writer, content_type):
    error = assert_error(
        _post(writer, "/models", MODEL, content_type),
        415,
        "unsupported_media_type",
        "Content-Type",
    )
    assert "Content-Type" in error["message"]
    assert not RegisteredModel.objects.filter(name="rv4-ct").exists()


def test_a_body_that_is_not_json_in_another_media_type_is_415_not_400(writer):
    response = _post(writer, "/models", "name=rv4-ct", "application/x-www-form-urlencoded")
    error = assert_error(response, 415, "unsupported_media_type", "Content-Type")
    assert "application/x-www-form-urlencoded" in error["message"]


def test_a_body_without_a_content_type_answers_415(writer):
    response = writer.client.generic(
        "POST", f"{API}/models", MODEL.encode(), content_type="", headers=writer.headers
    )
    error = assert_error(response, 415, "unsupported_media_type", "Content-Type")
    assert "no Content-Type" in error["message"]
    assert not RegisteredModel.objects.filter(name="rv4-ct").exists()


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON; charset=UTF-8",
     "application/merge-patch+json", "application/vnd.modelgate+json"],
)  # fmt: skip
def test_json_media_types_are_accepted(writer, content_type):
    assert _post(writer, "/models", MODEL, content_type).status_code == 201


def test_patch_and_put_check_the_media_type_too(writer, make_version, contributor):
    make_version(RegisteredModel.objects.get(name="churn"), "1.0.0")
    url = f"{API}/models/fraud/churn/versions/1.0.0"
    patch = writer.client.patch(
        url, data='{"description": "x"}', content_type="text/plain", headers=writer.headers
    )
    assert_error(patch, 415, "unsupported_media_type", "Content-Type")
    assert ModelVersion.objects.get().description == ""
    put = writer.client.put(
        f"{API}/models/fraud/churn/aliases/champion",
        data='{"version": "1.0.0"}',
        content_type="text/plain",
        headers=writer.headers,
    )
    assert_error(put, 415, "unsupported_media_type", "Content-Type")


def test_the_openlineage_endpoint_checks_the_media_type(writer):
    response = _post(writer, "/lineage/openlineage", "{}", "text/plain")
    assert_error(response, 415, "unsupported_media_type", "Content-Type")


def test_authentication_comes_before_the_media_type(writer):
    response = Client().post(f"{API}/models", data=MODEL, content_type="text/plain")
    assert_error(response, 401, "unauthenticated")


def test_posts_without_a_body_need_no_content_type(writer):
    # A POST that takes no body (completing an upload) is not refused for its media type.
    response = writer.client.post(f"{API}/uploads/nope/complete", headers=writer.headers)
    assert_error(response, 404, "not_found")


def test_the_schema_declares_415_for_operations_with_a_json_body(as_user):
    paths = as_user(None).get("/openapi.json").json()["paths"]
    assert "415" in paths["/api/v1/models"]["post"]["responses"]
    assert "415" in paths["/api/v1/models/{team}/{name}"]["patch"]["responses"]
    assert "415" not in paths["/api/v1/models"]["get"]["responses"]
    assert "415" not in paths["/api/v1/uploads/{upload_id}"]["put"]["responses"]


# --- an object deleted while the request ran --------------------------------------------


def test_a_version_deleted_while_the_request_ran_answers_404_not_500(
    writer, make_version, maintainer, monkeypatch
):
    import api.v1
    from registry import services

    make_version(RegisteredModel.objects.get(name="churn"), "1.0.0")
    real = api.v1.version_for_user

    def found_then_deleted(*args, **kwargs):
        mv = real(*args, **kwargs)
        services.delete_version(version=mv, actor=maintainer)  # another request, meanwhile
        return mv

    monkeypatch.setattr(api.v1, "version_for_user", found_then_deleted)
    response = writer.patch("/models/fraud/churn/versions/1.0.0", {"description": "new"})
    error = assert_error(response, 404, "not_found")
    assert "deleted while this request ran" in error["message"]
