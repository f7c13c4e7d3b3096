"""The REST API at /api/v1/: auth, the error body, pagination and every endpoint with
allowed and denied callers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts import tokens
from lineage.models import Edge, NodeType
from registry import services
from registry.models import ModelVersion, PromotionPolicy, RegisteredModel, StageTransition
from registry.services import apply_transition
from tests.api.conftest import API, assert_error

pytestmark = pytest.mark.django_db

M = "/models/fraud/churn"
V = M + "/versions/1.0.0"


@pytest.fixture
def world(make_model, make_version):
    model = make_model("churn", tags={"owner": "fraud"})
    make_version(
        model,
        "1.0.0",
        metrics={"test": {"auc": 0.91, "loss": 0.3}},
        params={"lr": 0.1},
        code_commit="abc1234",
        tags={"data": "v1"},
        files={"model.bin": b"weights"},
    )
    return model


# --- authentication ----------------------------------------------------------------------


def test_it_answers_401_json_to_anonymous_callers_not_a_login_redirect(world, as_user):
    response = as_user(None).get("/models")
    assert_error(response, 401, "unauthenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_it_answers_401_to_a_bad_token(world):
    client = Client()
    response = client.get(f"{API}/models", headers={"Authorization": "Bearer mg_nope"})
    error = assert_error(response, 401, "unauthenticated")
    assert "malformed" in error["message"]


def test_it_answers_401_to_a_revoked_token_even_with_a_session(world, viewer):
    token, secret = tokens.create(viewer, name="ci", scopes=["read"])
    tokens.revoke(token, viewer)
    client = Client()
    client.force_login(viewer)
    response = client.get(f"{API}/models", headers={"Authorization": f"Bearer {secret}"})
    assert_error(response, 401, "unauthenticated")


def test_it_accepts_a_read_token_for_reading(world, as_token, viewer):
    response = as_token(viewer, "read").get(M)
    assert response.status_code == 200
    assert response.json()["name"] == "churn"


def test_it_refuses_a_read_token_for_writing(world, as_token, contributor):
    response = as_token(contributor, "read").patch(M, {"description": "x"})
    assert_error(response, 403, "insufficient_scope")
    assert RegisteredModel.objects.get().description == ""


def test_it_refuses_a_review_token_for_reading(world, as_token, viewer):
    assert_error(as_token(viewer, "review").get(M), 403, "insufficient_scope")


def test_it_accepts_a_write_token_for_writing_and_reading(world, as_token, contributor):
    client = as_token(contributor, "write")
    assert client.patch(M, {"description": "new"}).status_code == 200
    assert client.get(M).json()["description"] == "new"


def test_it_needs_the_csrf_token_for_session_writes(world, contributor):
    client = Client(enforce_csrf_checks=True)
    client.force_login(contributor)
    response = client.patch(f"{API}{M}", data={"description": "x"}, content_type="application/json")
    assert_error(response, 403, "csrf_failed")
    assert RegisteredModel.objects.get().description == ""
    assert client.get(f"{API}{M}").status_code == 200  # reading needs none


def test_it_accepts_session_writes_with_the_csrf_token(world, contributor):
    client = Client(enforce_csrf_checks=True)
    client.force_login(contributor)
    client.get("/")  # sets the csrftoken cookie
    csrf = client.cookies["csrftoken"].value
    response = client.patch(
        f"{API}{M}",
        data={"description": "x"},
        content_type="application/json",
        headers={"X-CSRFToken": csrf},
    )
    assert response.status_code == 200


def test_it_does_not_need_csrf_with_a_token(world, as_token, contributor):
    client = as_token(contributor, "write")
    client.client = Client(enforce_csrf_checks=True)
    assert client.patch(M, {"description": "x"}).status_code == 200


# --- error bodies ------------------------------------------------------------------------


def test_it_answers_422_naming_an_unknown_field(world, as_user, contributor):
    response = as_user(contributor).patch(M, {"descripton": "typo"})
    error = assert_error(response, 422, "unknown_field", "descripton")
    assert error["details"][0]["field"] == "descripton"


def test_it_answers_422_naming_a_mistyped_field(world, as_user, contributor):
    response = as_user(contributor).post(M + "/versions", {"code_dirty": "maybe"})
    assert_error(response, 422, "invalid", "code_dirty")


def test_it_answers_400_naming_the_field_the_domain_refused(world, as_user, contributor):
    body = {"version": "2.0.0", "metrics": {"nonsplit": {"auc": 1}}}
    response = as_user(contributor).post(M + "/versions", body)
    assert_error(response, 400, "invalid", "metrics")
    assert ModelVersion.objects.count() == 1


def test_it_lists_every_refused_field(world, as_user, contributor):
    body = {"version": "2.0.0", "task_type": "nope", "environment": {"python": "x.y"}}
    error = as_user(contributor).post(M + "/versions", body).json()["error"]
    assert {d["field"] for d in error["details"]} == {"task_type", "environment"}
    assert "task_type" in error["message"] and "environment" in error["message"]


def test_it_answers_400_to_malformed_json(world, as_user, contributor):
    response = as_user(contributor).client.post(
        f"{API}{M}/versions", data="{nope", content_type="application/json"
    )
    assert_error(response, 400, "bad_request")


def test_it_answers_422_to_nul_characters(world, as_user, contributor):
    response = as_user(contributor).patch(M, {"tags": {"k": "a\x00b"}})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid"


def test_it_answers_404_to_path_segments_no_object_can_have(world, as_user, contributor):
    assert_error(as_user(contributor).get("/models/fraud/bad%00name"), 404, "not_found")
    assert_error(as_user(contributor).get("/models/fr%20aud/churn"), 404, "not_found")


def test_it_answers_413_to_metadata_over_the_limit(world, as_user, contributor, settings):
    settings.MODELGATE_MAX_METADATA_BYTES = 100
    body = {"version": "2.0.0", "params": {"blob": "x" * 200}}
    assert_error(as_user(contributor).post(M + "/versions", body), 413, "too_large", "params")


def test_it_answers_413_to_a_body_over_the_upload_limit(world, as_user, contributor, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = {"version": "2.0.0", "description": "x" * 2000}
    response = as_user(contributor).post(M + "/versions", body)
    assert_error(response, 413, "too_large")
    assert "1,000-byte limit" in response.json()["error"]["message"]
    assert ModelVersion.objects.count() == 1


# --- teams -------------------------------------------------------------------------------


def test_it_lists_the_users_teams_with_role(world, as_user, viewer, outsider):
    items = as_user(viewer).get("/teams").json()["items"]
    assert items == [{"slug": "fraud", "name": "Fraud", "role": "viewer"}]
    assert [t["slug"] for t in as_user(outsider).get("/teams").json()["items"]] == ["growth"]


def test_it_lists_every_team_to_a_site_admin(world, as_user, site_admin, outsider):
    items = as_user(site_admin).get("/teams").json()["items"]
    assert {t["slug"] for t in items} == {"fraud", "growth"}
    assert {t["role"] for t in items} == {None}


# --- models ------------------------------------------------------------------------------


def test_it_lists_only_readable_models(world, as_user, viewer, outsider, make_model, other_team):
    make_model("growthy", team=other_team, actor=outsider)
    names = [m["name"] for m in as_user(viewer).get("/models").json()["items"]]
    assert names == ["churn"]
    names = [m["name"] for m in as_user(outsider).get("/models").json()["items"]]
    assert names == ["growthy"]


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("team=fraud", True),
        ("team=growth", False),
        ("tag=owner", True),
        ("tag=owner=fraud", True),
        ("tag=owner=nobody", False),
        ("stage=development", True),
        ("stage=production", False),
        ("q=chu", True),
        ("task=other", True),
        ("framework=torch", False),
    ],
)
def test_it_filters_models(world, as_user, viewer, query, found):
    items = as_user(viewer).get(f"/models?{query}").json()["items"]
    assert bool(items) is found


def test_it_answers_400_to_an_unknown_stage_filter(world, as_user, viewer):
    assert_error(as_user(viewer).get("/models?stage=limbo"), 400, "invalid", "stage")


def test_it_pages_models_with_a_cursor(world, as_user, contributor, make_model):
    for i in range(4):
        make_model(f"m{i}")
    client = as_user(contributor)
    first = client.get("/models?limit=2").json()
    second = client.get(f"/models?limit=2&cursor={first['next']}").json()
    third = client.get(f"/models?limit=2&cursor={second['next']}").json()
    names = [m["name"] for page in (first, second, third) for m in page["items"]]
    assert names == ["m3", "m2", "m1", "m0", "churn"]
    assert third["next"] is None


def test_it_refuses_a_cursor_it_did_not_hand_out(world, as_user, viewer):
    assert_error(as_user(viewer).get("/models?cursor=!!"), 400, "invalid", "cursor")
    assert_error(as_user(viewer).get("/models?cursor=YWJj"), 400, "invalid", "cursor")


@pytest.mark.parametrize("limit", [0, 201, "x"])
def test_it_bounds_the_limit(world, as_user, viewer, limit):
    assert_error(as_user(viewer).get(f"/models?limit={limit}"), 422, "invalid", "limit")


def test_it_lists_models_in_bounded_queries(
    world, as_user, contributor, make_model, make_version, django_assert_max_num_queries
):
    for i in range(10):
        make_version(make_model(f"m{i}", tags={"k": "v"}), "1.0.0")
    client = as_user(contributor)
    client.get("/models")  # warm the session
    # session + user, memberships, the page (models, team, latest version), their tags
    with django_assert_max_num_queries(5):
        assert len(client.get("/models").json()["items"]) == 11


def test_it_creates_a_model(world, as_token, contributor):
    body = {"team": "fraud", "name": "fresh", "framework": "Torch", "tags": {"a": "b"}}
    response = as_token(contributor, "write").post("/models", body)
    assert response.status_code == 201, response.content
    assert response.json()["framework"] == "torch"
    assert response.json()["tags"] == {"a": "b"}
    assert RegisteredModel.objects.filter(name="fresh").exists()


def test_it_refuses_creating_a_model_as_viewer(world, as_user, viewer):
    response = as_user(viewer).post("/models", {"team": "fraud", "name": "fresh"})
    assert_error(response, 403, "permission_denied")


def test_it_hides_other_teams_when_creating(world, as_user, outsider):
    response = as_user(outsider).post("/models", {"team": "fraud", "name": "fresh"})
    assert_error(response, 400, "invalid", "team")
    response = as_user(outsider).post("/models", {"team": "nowhere", "name": "fresh"})
    assert_error(response, 400, "invalid", "team")
    assert not RegisteredModel.objects.filter(name="fresh").exists()


def test_it_refuses_a_taken_or_bad_model_name(world, as_user, contributor):
    client = as_user(contributor)
    assert_error(client.post("/models", {"team": "fraud", "name": "Churn"}), 400, "invalid", "name")
    assert_error(client.post("/models", {"team": "fraud", "name": "a b"}), 400, "invalid", "name")


def test_it_refuses_internal_visibility_to_a_contributor(world, as_user, contributor):
    body = {"team": "fraud", "name": "fresh", "visibility": "internal"}
    assert_error(as_user(contributor).post("/models", body), 403, "permission_denied")


@pytest.mark.parametrize(
    ("persona", "status"),
    [("site_admin", 200), ("viewer", 200), ("contributor", 200), ("outsider", 404)],
)
def test_it_shows_a_model_to_readers_only(world, as_user, request, persona, status):
    response = as_user(request.getfixturevalue(persona)).get(M)
    assert response.status_code == status
    if status == 404:
        assert_error(response, 404, "not_found")
    else:
        assert response.json()["tags"] == {"owner": "fraud"}
        assert response.json()["latest_version"] == {"version": "1.0.0", "stage": "development"}


@pytest.mark.parametrize(
    ("persona", "status"),
    [("site_admin", 200), ("contributor", 200), ("viewer", 403), ("outsider", 404)],
)
def test_it_lets_contributors_update_a_model(world, as_user, request, persona, status):
    response = as_user(request.getfixturevalue(persona)).patch(
        M, {"description": "better", "tags": {"x": "y"}}
    )
    assert response.status_code == status
    model = RegisteredModel.objects.get()
    assert (model.description == "better") is (status == 200)
    if status == 200:
        assert response.json()["tags"] == {"x": "y"}


def test_it_needs_a_maintainer_to_change_visibility(world, as_user, contributor, maintainer):
    assert_error(
        as_user(contributor).patch(M, {"visibility": "internal"}), 403, "permission_denied"
    )
    assert as_user(maintainer).patch(M, {"visibility": "internal"}).status_code == 200


def test_it_refuses_null_in_a_patch(world, as_user, contributor):
    assert_error(
        as_user(contributor).patch(M, {"description": None}), 400, "invalid", "description"
    )


def test_it_shows_an_internal_model_to_outsiders_but_not_for_changes(world, as_user, outsider):
    RegisteredModel.objects.update(visibility="internal")
    client = as_user(outsider)
    assert client.get(M).status_code == 200
    assert_error(client.patch(M, {"description": "x"}), 403, "permission_denied")


def test_it_does_not_offer_405_methods_as_500(world, as_user, contributor):
    assert as_user(contributor).client.put(f"{API}{M}").status_code == 405


# --- versions ----------------------------------------------------------------------------


def test_it_lists_versions_newest_first_with_a_cursor(world, as_user, contributor, make_version):
    for v in ("1.2.0", "1.10.0", "0.9.0"):
        make_version(world, v)
    client = as_user(contributor)
    first = client.get(M + "/versions?limit=3").json()
    second = client.get(f"{M}/versions?limit=3&cursor={first['next']}").json()
    versions = [v["version"] for v in first["items"] + second["items"]]
    assert versions == ["1.10.0", "1.2.0", "1.0.0", "0.9.0"]
    assert second["next"] is None


def test_it_filters_versions_by_stage(world, as_user, contributor, make_version):
    make_version(world, "2.0.0")
    ModelVersion.objects.filter(version="2.0.0").update(stage="staging")
    items = as_user(contributor).get(M + "/versions?stage=staging").json()["items"]
    assert [v["version"] for v in items] == ["2.0.0"]


def test_it_lists_versions_in_bounded_queries(
    world, as_user, contributor, make_version, django_assert_max_num_queries
):
    for i in range(10):
        make_version(world, f"2.0.{i}")
    client = as_user(contributor)
    client.get(M + "/versions")
    # session + user, memberships, the model, the page (with creators)
    with django_assert_max_num_queries(5):
        assert len(client.get(M + "/versions").json()["items"]) == 11


def test_it_hides_versions_from_outsiders(world, as_user, outsider, viewer):
    hidden = assert_error(as_user(outsider).get(M + "/versions"), 404, "not_found")
    missing = assert_error(as_user(viewer).get("/models/fraud/nope/versions"), 404, "not_found")
    # The message names what was asked for, the same whether it is missing or unreadable.
    assert hidden["message"] == "No model fraud/churn that you may read."
    assert missing["message"] == "No model fraud/nope that you may read."
    hidden = assert_error(as_user(outsider).get(V), 404, "not_found")
    missing = assert_error(as_user(viewer).get(M + "/versions/9.9.9"), 404, "not_found")
    assert hidden["message"] == "No version 1.0.0 of fraud/churn that you may read."
    assert missing["message"] == "No version 9.9.9 of fraud/churn that you may read."


def test_it_shows_everything_a_version_carries(world, as_user, viewer):
    body = as_user(viewer).get(V).json()
    assert body["metrics"] == {
        "test": {
            "auc": {"value": 0.91, "direction": "higher"},
            "loss": {"value": 0.3, "direction": "lower"},
        }
    }
    assert body["params"] == {"lr": 0.1}
    assert body["code"]["commit"] == "abc1234"
    assert body["tags"] == {"data": "v1"}
    assert body["stage"] == "development"
    [artifact] = body["artifacts"]
    assert artifact["path"] == "model.bin" and artifact["size"] == 7
    assert artifact["download_url"] == f"http://testserver{API}{V}/artifacts/model.bin"
    download = Client()
    download.force_login(viewer)
    assert b"".join(download.get(artifact["download_url"]).streaming_content) == b"weights"


FULL_METADATA: dict[str, Any] = {
    "version": "2.0.0",
    "description": "retrained",
    "task_type": "classification",
    "framework": "XGBoost",
    "framework_version": "2.0.3",
    "metrics": {"test": {"auc": 0.93, "rmse": {"value": 1.5, "direction": "lower"}}},
    "params": {"max_depth": 6},
    "environment": {"python": "3.13.1", "packages": ["numpy==2.1.0"]},
    "signature": {"inputs": [{"name": "age", "type": "int"}], "outputs": []},
    "code_repository": "https://git.example.com/fraud",
    "code_commit": "deadbeef",
    "code_branch": "main",
    "code_entry_point": "train.py",
    "code_dirty": False,
    "training_started_at": "2025-01-01T10:00:00Z",
    "training_ended_at": "2025-01-01T11:30:00Z",
    "tags": {"dataset": "2025-01"},
}


def test_it_registers_a_version_with_every_metadata_group(world, as_token, contributor):
    response = as_token(contributor, "write").post(M + "/versions", FULL_METADATA)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["version"] == "2.0.0" and body["sequence"] == 2
    assert body["framework"] == "xgboost"
    assert body["metrics"]["test"]["rmse"] == {"value": 1.5, "direction": "lower"}
    assert body["environment"]["packages"][0]["name"] == "numpy"
    assert body["training"]["duration_seconds"] == 5400
    assert body["code"]["dirty"] is False
    assert body["tags"] == {"dataset": "2025-01"}
    assert body["artifacts"] == []


@pytest.mark.parametrize("code_point_order", [True, False], ids=["c-collation", "any-collation"])
def test_it_answers_a_registration_byte_for_byte_as_a_read_of_the_version(
    world, as_token, contributor, monkeypatch, code_point_order
):
    """The answer is built from what was written, not read back; it must still be what
    GET answers: jsonb's key order and numbers, datetimes in UTC, the database's order of
    metrics and tags (its collation: Python's order only where the two agree, else the
    database is asked)."""
    monkeypatch.setattr(services, "_orders_by_code_point", lambda: code_point_order)
    api = as_token(contributor, "write")
    payload = {
        **FULL_METADATA,
        "version": "2.1.0",
        "params": {"zeta": 1, "alpha": {"b": [1.5, {"y": 1, "x": 2}], "a": None}, "big": 1e20,
                   "negative_zero": -0.0, "tiny": 1e-7, "text": "\u00e9t\u00e9"},
        "training_started_at": "2025-01-01T10:00:00+02:00",
        "training_ended_at": "2025-01-01T11:30:00.123456+02:00",
        "metrics": {
            "validation": {"loss": 0.2, "Accuracy": 0.8},
            "test": {"rmse": 1.5, "auc": 0.93, "f1_score": 0.7, "F1": 0.71},
        },
        "tags": {"zz": "1", "aa": "2", "Mixed-Case": "3", "a.b": ""},
    }  # fmt: skip

    posted = api.post(M + "/versions", payload)
    fetched = api.get(M + "/versions/2.1.0")

    assert posted.status_code == 201, posted.content
    assert fetched.status_code == 200
    assert posted.content == fetched.content
    assert posted.json()["params"]["big"] == 10**20  # as the database stores it


def test_it_registers_a_version_in_bounded_queries(
    world, as_token, contributor, django_assert_max_num_queries
):
    api = as_token(contributor, "write")
    api.post(M + "/versions", {"version": "1.9.0"})  # the token's last use is recorded once
    payload = {**FULL_METADATA, "metrics": {"test": {f"m{i}": i for i in range(20)}},
               "tags": {f"t{i}": "x" for i in range(20)}}  # fmt: skip

    # The token and its user, the roles, the model, the team's webhooks; savepoint (the
    # test's transaction), a version id, metrics, tags, the first transition, (unless the
    # database orders text by code point) the order of metrics and tags, and with them,
    # still before any lock, the lineage of the captured commit (issue 7) in bulk and
    # without savepoints: store-or-keep the code version, read its id, its edge (3); the
    # model row lock, the version, the model row; the audit chain's head lock, the event,
    # the head; release. The lineage is written inside register_version's transaction, so
    # no savepoint around it is needed any more (it was 2 queries), and a version sent
    # without datasets or parents has no lineage references to read back for the answer
    # (it was 1 query). Nothing else is read back to answer.
    with django_assert_max_num_queries(19):
        response = api.post(M + "/versions", payload)

    assert response.status_code == 201, response.content
    assert len(response.json()["metrics"]["test"]) == 20


def test_a_versions_lineage_is_written_before_the_locks(world, as_token, contributor):
    if connection.vendor != "postgresql":
        pytest.skip("the version id is reserved up front on PostgreSQL only")
    api = as_token(contributor, "write")
    with CaptureQueriesContext(connection) as queries:
        response = api.post(M + "/versions", {**FULL_METADATA, "version": "3.0.0"})
    assert response.status_code == 201, response.content
    sql = [q["sql"] for q in queries.captured_queries]
    edge = next(i for i, q in enumerate(sql) if 'INSERT INTO "lineage_edge"' in q)
    model_lock = next(i for i, q in enumerate(sql) if "m.last_sequence" in q)
    head_lock = next(i for i, q in enumerate(sql) if "accounts_audithead" in q)
    assert edge < model_lock < head_lock
    version = ModelVersion.objects.get(version="3.0.0")
    assert Edge.objects.filter(dst_type=NodeType.VERSION, dst_id=version.pk).exists()


def test_it_picks_the_version_for_automatic_schemes(world, as_user, contributor, make_model):
    make_model("seq", scheme="timestamp")
    response = as_user(contributor).post("/models/fraud/seq/versions", {})
    assert response.status_code == 201, response.content


def test_it_bumps_a_semantic_version_by_the_signature_change(
    world, as_user, contributor, make_model
):
    make_model("ranker")
    client = as_user(contributor)
    age = {"name": "age", "type": "long"}
    first = client.post("/models/fraud/ranker/versions", {"signature": {"inputs": [age]}})
    assert first.status_code == 201, first.content
    assert first.json()["version"] == "1.0.0"
    retrain = client.post("/models/fraud/ranker/versions", {"signature": {"inputs": [age]}})
    assert retrain.json()["version"] == "1.0.1"  # same signature: patch
    more = {"inputs": [age], "outputs": [{"name": "p", "type": "double"}]}
    assert (
        client.post("/models/fraud/ranker/versions", {"signature": more}).json()["version"]
        == "1.1.0"
    )  # an output added: minor
    broken = {"inputs": [{"name": "age", "type": "string"}]}
    assert (
        client.post("/models/fraud/ranker/versions", {"signature": broken}).json()["version"]
        == "2.0.0"
    )  # a type changed: major


def test_it_refuses_a_duplicate_version(world, as_user, contributor):
    response = as_user(contributor).post(M + "/versions", {"version": "1.0.0"})
    assert_error(response, 400, "invalid", "version")


@pytest.mark.parametrize(
    ("persona", "status"),
    [("site_admin", 201), ("contributor", 201), ("viewer", 403), ("outsider", 404)],
)
def test_it_lets_contributors_register(world, as_user, request, persona, status):
    response = as_user(request.getfixturevalue(persona)).post(M + "/versions", {"version": "3.0.0"})
    assert response.status_code == status
    assert ModelVersion.objects.filter(version="3.0.0").exists() is (status == 201)


@pytest.mark.parametrize(
    ("persona", "status"),
    [("contributor", 200), ("viewer", 403), ("outsider", 404)],
)
def test_it_lets_contributors_update_a_version(world, as_user, request, persona, status):
    response = as_user(request.getfixturevalue(persona)).patch(
        V, {"description": "notes", "tags": {"k": "v"}}
    )
    assert response.status_code == status
    if status == 200:
        assert response.json()["description"] == "notes"
        assert response.json()["tags"] == {"k": "v"}


def test_it_refuses_changing_what_was_registered(world, as_user, contributor):
    assert_error(as_user(contributor).patch(V, {"params": {}}), 422, "unknown_field", "params")


# --- stage changes and resolve -----------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "stage", "status"),
    [
        ("contributor", "staging", 201),
        ("viewer", "staging", 403),
        ("outsider", "staging", 404),
        ("contributor", "production", 403),
        ("maintainer", "production", 201),
        ("site_admin", "production", 201),
    ],
)
def test_it_changes_stages_through_the_policy(world, as_user, request, persona, stage, status):
    allow_direct_changes(world)
    before = "staging" if stage == "production" else "development"
    if before == "staging":
        apply_transition(
            version=ModelVersion.objects.get(version="1.0.0"), to_stage=before, actor=None
        )
    response = as_user(request.getfixturevalue(persona)).post(
        V + "/stage", {"stage": stage, "comment": "ship it"}
    )
    assert response.status_code == status, response.content
    current = ModelVersion.objects.get(version="1.0.0").stage
    assert current == (stage if status == 201 else before)
    if status == 201:
        assert response.json()["from_stage"] == before
        assert StageTransition.objects.filter(comment="ship it").exists()


def allow_direct_changes(model):
    for stage in ("staging", "production"):
        PromotionPolicy.objects.create(team=model.team, target_stage=stage, required_approvals=0)


@pytest.mark.parametrize("stage", ["staging", "production"])
def test_it_refuses_a_direct_change_the_policy_gates(world, as_user, maintainer, stage):
    version = ModelVersion.objects.get(version="1.0.0")
    if stage == "production":
        apply_transition(version=version, to_stage="staging", actor=None)
    response = as_user(maintainer).post(V + "/stage", {"stage": stage})
    assert_error(response, 409, "conflict", "stage")
    assert "promotion request" in response.json()["error"]["message"]
    assert ModelVersion.objects.get(version="1.0.0").stage == version.stage


def test_it_refuses_a_transition_the_lifecycle_does_not_allow(world, as_user, maintainer):
    allow_direct_changes(world)
    response = as_user(maintainer).post(V + "/stage", {"stage": "production"})
    assert_error(response, 409, "conflict", "stage")
    assert "Development version cannot move to Production" in response.json()["error"]["message"]


def test_it_names_the_stage_field_on_a_bad_stage(world, as_user, contributor):
    client = as_user(contributor)
    assert_error(client.post(V + "/stage", {"stage": "limbo"}), 400, "invalid", "stage")
    assert_error(client.post(V + "/stage", {"stage": "development"}), 409, "conflict", "stage")


def test_it_resolves_the_version_in_a_stage(world, as_user, maintainer, make_version, viewer):
    make_version(world, "2.0.0")
    allow_direct_changes(world)
    apply_transition(
        version=ModelVersion.objects.get(version="1.0.0"), to_stage="staging", actor=None
    )
    client = as_user(maintainer)
    assert client.post(V + "/stage", {"stage": "production"}).status_code == 201
    body = as_user(viewer).get(M + "/resolve?stage=Production").json()
    assert body["version"] == "1.0.0" and body["stage"] == "production"


def test_it_resolves_the_highest_version_when_several(world, as_user, viewer, make_version):
    make_version(world, "1.5.0")
    make_version(world, "1.2.0")
    ModelVersion.objects.update(stage="staging")
    assert as_user(viewer).get(M + "/resolve?stage=staging").json()["version"] == "1.5.0"


def test_it_answers_404_when_no_version_is_in_the_stage(world, as_user, viewer):
    error = assert_error(as_user(viewer).get(M + "/resolve?stage=production"), 404, "not_found")
    assert "Production" in error["message"]


def test_it_answers_400_to_an_unknown_stage_to_resolve(world, as_user, viewer, outsider):
    assert_error(as_user(viewer).get(M + "/resolve?stage=limbo"), 400, "invalid", "stage")
    assert_error(as_user(outsider).get(M + "/resolve?stage=staging"), 404, "not_found")
    # Exactly one of ?stage= and ?alias= (registry aliases): neither is a 400.
    assert_error(as_user(viewer).get(M + "/resolve"), 400, "invalid", "stage")


# --- schema and docs ---------------------------------------------------------------------


def test_it_serves_a_valid_openapi_schema_with_every_path(as_user):
    response = as_user(None).get("/openapi.json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) == {
        "/api/v1/teams",
        "/api/v1/models",
        "/api/v1/models/{team}/{name}",
        "/api/v1/models/{team}/{name}/versions",
        "/api/v1/models/{team}/{name}/versions/{version}",
        "/api/v1/models/{team}/{name}/versions/{version}/stage",
        "/api/v1/models/{team}/{name}/resolve",
        "/api/v1/models/{team}/{name}/aliases",
        "/api/v1/models/{team}/{name}/aliases/{alias}",
        "/api/v1/uploads",
        "/api/v1/uploads/{upload_id}",
        "/api/v1/uploads/{upload_id}/complete",
        "/api/v1/blobs/known",
        "/api/v1/search/versions",
        "/api/v1/search/models",
        "/api/v1/models/{team}/{name}/versions/{version}/requests",
        "/api/v1/requests",
        "/api/v1/requests/{pk}",
        "/api/v1/requests/{pk}/reviews",
        "/api/v1/requests/{pk}/override",
        "/api/v1/requests/{pk}/cancel",
        "/api/v1/models/{team}/{name}/timeline",
        "/api/v1/models/{team}/{name}/versions/{version}/deprecation",
        "/api/v1/models/{team}/{name}/versions/{version}/lineage",
        "/api/v1/models/{team}/{name}/versions/{version}/parents",
        "/api/v1/lineage/{kind}/{team}/{node_id}/impact",
        "/api/v1/models/{team}/{name}/versions/{version}/impact",
        "/api/v1/lineage/openlineage",
        "/api/v1/models/{team}/{name}/versions/{version}/deployments",
        "/api/v1/models/{team}/{name}/deployments",
        "/api/v1/deployments",
        "/api/v1/deployments/{deployment_id}",
        "/api/v1/deployments/{deployment_id}/end",
        "/api/v1/deployments/{deployment_id}/metrics",
        "/api/v1/models/{team}/{name}/monitors",
        "/api/v1/models/{team}/{name}/monitors/{monitor_id}",
        "/api/v1/models/{team}/{name}/monitors/evaluate",
        "/api/v1/retrain-requests",
        "/api/v1/retrain-requests/{request_id}",
        "/api/v1/retrain-requests/{request_id}/dismiss",
        "/api/v1/models/{team}/{name}/versions/{version}/card",
        "/api/v1/models/{team}/{name}/versions/{version}/restore",
        "/api/v1/jobs/{job_id}",
        "/api/v1/models/{team}/{name}/versions/{version}/artifacts/{path}",
    }
    schemes = schema["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http", "apiKey"}


def test_it_serves_the_docs_page(as_user):
    assert as_user(None).get("/docs").status_code == 200


def test_it_serves_the_docs_page_without_a_cdn(client):
    response = client.get("/api/v1/docs")
    html = response.content.decode()
    assert response.status_code == 200
    assert "swagger-ui" in html
    assert "cdn." not in html and "unpkg" not in html and "jsdelivr" not in html


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/models", '{"team": "fraud", "name": "m", "description": "\\ud800"}'),
        ("/models/fraud/churn/versions", '{"version": "9.0.0", "code_commit": "\\udfff"}'),
        (
            "/models/fraud/churn/versions",
            '{"version": "9.0.0", "metrics": {"test": {"\\ud800": 1}}}',
        ),
    ],
)
def test_it_answers_422_for_lone_surrogates(maintainer, make_model, path, body):
    from django.test import Client

    make_model("churn")
    client = Client()
    client.force_login(maintainer)
    response = client.post(
        f"/api/v1{path}",
        body,
        content_type="application/json",
        HTTP_X_CSRFTOKEN="x",
        enforce_csrf_checks=False,
    )
    assert response.status_code == 422, response.content
    assert "lone surrogates" in response.json()["error"]["message"]
