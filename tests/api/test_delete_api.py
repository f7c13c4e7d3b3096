"""DELETE /api/v1/models/{team}/{name} and …/versions/{version}: maintainers delete a model
with no versions, or a version registered by mistake; everything else is refused."""

from __future__ import annotations

import pytest

from accounts.models import AuditEvent
from registry import aliases
from registry.models import ModelVersion, RegisteredModel
from tests.api.conftest import API, assert_error

pytestmark = pytest.mark.django_db

EMPTY = "/models/fraud/empty"
M = "/models/fraud/churn"
V = M + "/versions/1.1.0"


@pytest.fixture
def world(make_model, make_version):
    """fraud/empty (no versions) and fraud/churn with 1.0.0 and 1.1.0."""
    make_model("empty")
    churn = make_model("churn")
    make_version(churn, "1.0.0", files={"model.bin": b"weights"})
    make_version(churn, "1.1.0", files={"model.bin": b"weights"})
    return churn


def _delete(client, path):
    return client.client.delete(f"{API}{path}", headers=client.headers)


def _state():
    return (
        list(RegisteredModel.objects.order_by("name").values_list("name", "version_count")),
        list(ModelVersion.objects.order_by("sequence").values_list("version", flat=True)),
        AuditEvent.objects.filter(action__endswith=".delete").count(),
    )


# --- models --------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["maintainer", "site_admin"])
def test_a_maintainer_deletes_a_model_with_no_versions(world, as_token, request, persona):
    response = _delete(as_token(request.getfixturevalue(persona), "read", "write"), EMPTY)
    assert response.status_code == 204
    assert response.content == b""
    assert not RegisteredModel.objects.filter(name="empty").exists()
    assert AuditEvent.objects.filter(action="model.delete", object_repr="fraud/empty").exists()


def test_a_model_with_versions_answers_409_saying_to_archive(world, as_user, maintainer):
    before = _state()
    error = assert_error(_delete(as_user(maintainer), M), 409, "conflict")
    assert "archive" in error["message"]
    assert _state() == before


@pytest.mark.parametrize("path", [EMPTY, V])
@pytest.mark.parametrize(
    ("persona", "status", "code"),
    [
        ("viewer", 403, "permission_denied"),
        ("contributor", 403, "permission_denied"),
        ("reviewer", 403, "permission_denied"),
        ("outsider", 404, "not_found"),
    ],
)
def test_others_may_not_delete_a_model_or_a_version(
    world, as_user, request, persona, status, code, path
):
    before = _state()
    assert_error(_delete(as_user(request.getfixturevalue(persona)), path), status, code)
    assert _state() == before


def test_an_outsider_may_read_an_internal_model_but_not_delete_it(world, as_user, outsider):
    RegisteredModel.objects.filter(name="empty").update(visibility="internal")
    assert as_user(outsider).get(EMPTY).status_code == 200
    assert_error(_delete(as_user(outsider), EMPTY), 403, "permission_denied")
    assert RegisteredModel.objects.filter(name="empty").exists()


def test_a_read_only_token_may_not_delete_a_model(world, as_token, maintainer):
    before = _state()
    assert_error(_delete(as_token(maintainer, "read"), EMPTY), 403, "insufficient_scope")
    assert _state() == before


def test_anonymous_callers_get_401(world, as_user):
    assert_error(_delete(as_user(None), EMPTY), 401, "unauthenticated")
    assert_error(_delete(as_user(None), V), 401, "unauthenticated")


def test_a_session_needs_the_csrf_token_to_delete(world, maintainer):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(maintainer)
    assert client.delete(f"{API}{EMPTY}").status_code == 403
    assert client.delete(f"{API}{V}").status_code == 403
    assert RegisteredModel.objects.filter(name="empty").exists()
    assert ModelVersion.objects.filter(version="1.1.0").exists()


def test_an_unknown_model_answers_404(world, as_user, maintainer):
    assert_error(_delete(as_user(maintainer), "/models/fraud/nope"), 404, "not_found")
    assert_error(_delete(as_user(maintainer), M + "/versions/9.9.9"), 404, "not_found")


# --- versions ------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["maintainer", "site_admin"])
def test_a_maintainer_deletes_a_version_registered_by_mistake(world, as_token, request, persona):
    client = as_token(request.getfixturevalue(persona), "read", "write")
    response = _delete(client, V)
    assert response.status_code == 204
    assert_error(client.get(V), 404, "not_found")
    model = client.get(M).json()
    assert model["version_count"] == 1
    assert model["latest_version"] == {"version": "1.0.0", "stage": "development"}
    assert [v["version"] for v in client.get(M + "/versions").json()["items"]] == ["1.0.0"]
    event = AuditEvent.objects.get(action="version.delete")
    assert event.changes["version"] == ["1.1.0", None]


def test_a_registration_after_a_delete_gets_a_fresh_sequence(world, as_token, maintainer):
    client = as_token(maintainer, "read", "write")
    assert _delete(client, V).status_code == 204
    again = client.post(M + "/versions", {"version": "1.1.0"})
    assert again.status_code == 201, again.content
    assert again.json()["sequence"] == 3
    assert client.post(M + "/versions", {"version": "1.2.0"}).json()["sequence"] == 4
    assert client.get(M).json()["version_count"] == 3


def test_a_read_only_token_may_not_delete_a_version(world, as_token, maintainer):
    before = _state()
    assert_error(_delete(as_token(maintainer, "read"), V), 403, "insufficient_scope")
    assert _state() == before


def test_a_version_with_history_answers_409_naming_the_reasons(world, as_user, maintainer):
    client = as_user(maintainer)
    aliases.set_alias(world, "champion", "1.1.0", maintainer)
    assert client.post(V + "/stage", {"stage": "archived"}).status_code == 201
    before = _state()
    error = assert_error(_delete(client, V), 409, "conflict")
    assert "left Development" in error["message"]
    assert "an alias points at it" in error["message"]
    assert "archive it instead" in error["message"]
    assert _state() == before


def test_the_schema_offers_delete_on_models_and_versions(as_user):
    paths = as_user(None).get("/openapi.json").json()["paths"]
    assert "delete" in paths["/api/v1/models/{team}/{name}"]
    assert "delete" in paths["/api/v1/models/{team}/{name}/versions/{version}"]
    assert "204" in paths["/api/v1/models/{team}/{name}/versions/{version}"]["delete"]["responses"]
