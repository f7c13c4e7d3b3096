"""Bad input to the API: strict JSON types, unstorable text, the domain's limits, commit
ids, huge numbers and a version's `source`. Each rule answers a 4xx naming the field, and
changes nothing; the passing case beside it shows the rule is not wider than meant."""

from __future__ import annotations

import pytest

from accounts.models import AuditEvent
from registry.markdown import MAX_DESCRIPTION_LENGTH
from registry.metadata import MAX_TAGS
from registry.models import (
    ModelTag,
    ModelVersion,
    PromotionPolicy,
    RegisteredModel,
    StageTransition,
    UploadSession,
    VersionTag,
)
from registry.services import MAX_TRANSITION_COMMENT
from tests.api.conftest import API, assert_error

pytestmark = pytest.mark.django_db

M = "/models/fraud/churn"
V = M + "/versions/1.0.0"


@pytest.fixture
def world(make_model, make_version):
    model = make_model("churn", tags={"owner": "fraud"})
    make_version(model, "1.0.0", tags={"data": "v1"}, description="first")
    return model


def _versions() -> list[str]:
    return sorted(ModelVersion.objects.values_list("version", flat=True))


def _tags(n: int) -> dict[str, str]:
    return {f"k{i}": "v" for i in range(n)}


# --- strict types (no coercion) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"version": "2.0.0", "code_dirty": "true"}, "code_dirty"),
        ({"version": "2.0.0", "code_dirty": 1}, "code_dirty"),
        ({"version": "2.0.0", "description": 5}, "description"),
        ({"version": 2}, "version"),
        ({"version": "2.0.0", "retrain_request": "1"}, "retrain_request"),
        ({"version": "2.0.0", "retrain_request": 1.0}, "retrain_request"),
        ({"version": "2.0.0", "tags": {"k": 1}}, "tags.k"),
        ({"version": "2.0.0", "files": [{"path": 1, "sha256": "a" * 64}]}, "files.0.path"),
    ],
)
def test_it_refuses_a_value_of_the_wrong_json_type(world, as_user, contributor, body, field):
    response = as_user(contributor).post(M + "/versions", body)
    assert_error(response, 422, "invalid", field)
    assert _versions() == ["1.0.0"]


@pytest.mark.parametrize(
    ("body", "field"),
    [({"run": 5}, "run"), ({"datasets": ["s3://d", 5]}, "datasets.1"), ({"parents": [True]},
     "parents.0")],
)  # fmt: skip
def test_it_names_a_field_that_fits_none_of_its_types(world, as_user, contributor, body, field):
    response = as_user(contributor).post(M + "/versions", {"version": "2.0.0", **body})
    error = assert_error(response, 422, "invalid", field)
    assert [d["field"] for d in error["details"]] == [field]
    assert "a valid string or a valid dictionary" in error["message"]
    assert _versions() == ["1.0.0"]


def test_it_keeps_tag_keys_named_like_types_apart(world, as_user, contributor):
    response = as_user(contributor).post(M + "/versions", {"tags": {"str": 1, "int": 2}})
    error = assert_error(response, 422, "invalid", "tags.str")
    assert [d["field"] for d in error["details"]] == ["tags.str", "tags.int"]


def test_it_takes_values_of_the_right_json_type(world, as_user, contributor):
    body = {
        "version": "2.0.0",
        "code_dirty": True,
        "metrics": {"test": {"auc": 1}},  # an integer is a number where floats are taken
        "training_started_at": "2025-01-31T14:30:00Z",  # date-times are ISO strings
    }
    response = as_user(contributor).post(M + "/versions", body)
    assert response.status_code == 201, response.content
    assert response.json()["metrics"]["test"]["auc"]["value"] == 1.0
    assert response.json()["code"]["dirty"] is True


def test_it_refuses_a_string_upload_size(world, as_user, contributor):
    api = as_user(contributor)
    assert_error(api.post("/uploads", {"sha256": "a" * 64, "size": "10"}), 422, "invalid", "size")
    assert not UploadSession.objects.exists()
    assert api.post("/uploads", {"sha256": "a" * 64, "size": 10}).status_code == 201


def test_it_refuses_a_string_for_a_boolean(world, as_user, maintainer):
    api = as_user(maintainer)
    response = api.patch(M, {"allow_multiple_production": "yes"})
    assert_error(response, 422, "invalid", "allow_multiple_production")
    assert not RegisteredModel.objects.get().allow_multiple_production
    assert api.patch(M, {"allow_multiple_production": True}).status_code == 200
    assert RegisteredModel.objects.get().allow_multiple_production


def test_it_takes_an_iso_date_for_a_sunset(world, as_user, maintainer):
    response = as_user(maintainer).client.put(
        f"{API}{V}/deprecation",
        data={"reason": "replaced", "sunset": "2099-01-31"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["sunset"] == "2099-01-31"


def test_it_refuses_an_empty_version_string(world, as_user, contributor):
    api = as_user(contributor)
    for empty in ("", "   "):
        assert_error(api.post(M + "/versions", {"version": empty}), 400, "invalid", "version")
    assert _versions() == ["1.0.0"]
    # Left out, or null, the scheme picks one (semantic: the next patch).
    assert api.post(M + "/versions", {}).json()["version"] == "1.0.1"
    assert api.post(M + "/versions", {"version": None}).json()["version"] == "1.0.2"


# --- unstorable text: the field is where it is ------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/models", '{"team": "fraud", "name": "x", "description": "a\\u0000b"}', "description"),
        ("/models", '{"team": "fraud", "name": "x", "description": "\\ud800"}', "description"),
        (
            M + "/versions",
            '{"version": "2.0.0", "files": [{"path": "a\\u0000", "sha256": "' + "a" * 64 + '"}]}',
            "files.0.path",
        ),
        (M + "/versions", '{"version": "2.0.0", "metrics": {"test": {"\\ud800": 1}}}',
         "metrics.test"),
        (M + "/versions", '{"version": "2.0.0", "tags": {"k": "a\\u0000"}}', "tags.k"),
        (V + "/stage", '{"stage": "staging", "comment": "a\\u0000b"}', "comment"),
    ],
)  # fmt: skip
def test_it_names_the_field_holding_unstorable_text(world, as_user, maintainer, path, body, field):
    api = as_user(maintainer)
    before = AuditEvent.objects.count()
    response = api.client.post(f"{API}{path}", data=body, content_type="application/json")
    error = assert_error(response, 422, "invalid", field)
    assert "NUL characters or lone surrogates" in error["message"]
    assert error["details"][0]["field"] == field
    assert AuditEvent.objects.count() == before
    assert RegisteredModel.objects.count() == 1 and _versions() == ["1.0.0"]
    assert not StageTransition.objects.exclude(to_stage="development").exists()


# --- limits the domain applies on every path --------------------------------------------


def test_it_limits_a_version_description_on_update_as_on_create(world, as_user, contributor):
    api = as_user(contributor)
    too_long = "x" * (MAX_DESCRIPTION_LENGTH + 1)
    error = assert_error(api.patch(V, {"description": too_long}), 400, "invalid", "description")
    assert str(MAX_DESCRIPTION_LENGTH) in error["message"]
    assert ModelVersion.objects.get().description == "first"
    create = api.post(M + "/versions", {"version": "2.0.0", "description": too_long})
    assert_error(create, 400, "invalid", "description")

    longest = "x" * MAX_DESCRIPTION_LENGTH
    assert api.patch(V, {"description": longest}).status_code == 200
    assert ModelVersion.objects.get().description == longest


def test_it_limits_a_stage_change_comment(world, as_user, maintainer):
    PromotionPolicy.objects.create(team=world.team, target_stage="staging", required_approvals=0)
    api = as_user(maintainer)
    body = {"stage": "staging", "comment": "x" * (MAX_TRANSITION_COMMENT + 1)}
    assert_error(api.post(V + "/stage", body), 400, "invalid", "comment")
    assert ModelVersion.objects.get().stage == "development"
    assert StageTransition.objects.count() == 1  # the registration's

    body["comment"] = "x" * MAX_TRANSITION_COMMENT
    response = api.post(V + "/stage", body)
    assert response.status_code == 201, response.content
    assert ModelVersion.objects.get().stage == "staging"


def test_it_caps_the_number_of_a_versions_tags(world, as_user, contributor):
    api = as_user(contributor)
    create = api.post(M + "/versions", {"version": "2.0.0", "tags": _tags(MAX_TAGS + 1)})
    error = assert_error(create, 400, "invalid", "tags")
    assert f"at most {MAX_TAGS} tags" in error["message"]
    assert _versions() == ["1.0.0"]
    assert_error(api.patch(V, {"tags": _tags(MAX_TAGS + 1)}), 400, "invalid", "tags")
    assert dict(VersionTag.objects.values_list("key", "value")) == {"data": "v1"}

    assert api.patch(V, {"tags": _tags(MAX_TAGS)}).status_code == 200
    assert VersionTag.objects.count() == MAX_TAGS
    create = api.post(M + "/versions", {"version": "2.0.0", "tags": _tags(MAX_TAGS)})
    assert create.status_code == 201


def test_it_caps_the_number_of_a_models_tags(world, as_user, contributor):
    api = as_user(contributor)
    assert_error(api.patch(M, {"tags": _tags(MAX_TAGS + 1)}), 400, "invalid", "tags")
    assert dict(ModelTag.objects.values_list("key", "value")) == {"owner": "fraud"}
    body = {"team": "fraud", "name": "many", "tags": _tags(MAX_TAGS + 1)}
    assert_error(api.post("/models", body), 400, "invalid", "tags")
    assert RegisteredModel.objects.count() == 1

    assert api.patch(M, {"tags": _tags(MAX_TAGS)}).status_code == 200
    assert api.post("/models", {**body, "tags": _tags(MAX_TAGS)}).status_code == 201


# --- code_commit and numbers --------------------------------------------------------------


@pytest.mark.parametrize("commit", ["zzz", "abc123", "g" * 40, "a" * 41, "a" * 63, "abc 1234"])
def test_it_refuses_a_code_commit_that_is_no_git_object_id(world, as_user, contributor, commit):
    body = {"version": "2.0.0", "code_commit": commit}
    error = assert_error(as_user(contributor).post(M + "/versions", body), 400, "invalid",
                         "code_commit")  # fmt: skip
    assert "hexadecimal" in error["message"] or "64" in error["message"]
    assert _versions() == ["1.0.0"]


@pytest.mark.parametrize(
    ("commit", "stored"),
    [("abc1234", "abc1234"), ("ABCDEF1234", "abcdef1234"), ("a" * 40, "a" * 40),
     ("b" * 64, "b" * 64)],
)  # fmt: skip
def test_it_takes_short_full_and_sha256_commit_ids(world, as_user, contributor, commit, stored):
    body = {"version": "2.0.0", "code_commit": commit}
    response = as_user(contributor).post(M + "/versions", body)
    assert response.status_code == 201, response.content
    assert response.json()["code"]["commit"] == stored


@pytest.mark.parametrize("params", [{"n": 10**400}, {"n": -(10**309)}, {"grid": [1, 10**400]}])
def test_it_refuses_params_no_float_can_hold(world, as_user, contributor, params):
    body = {"version": "2.0.0", "params": params}
    error = assert_error(as_user(contributor).post(M + "/versions", body), 400, "invalid",
                         "params")  # fmt: skip
    assert "64-bit float" in error["message"]
    assert _versions() == ["1.0.0"]


def test_it_takes_large_params_a_float_can_hold(world, as_user, contributor):
    params = {"big": 10**300, "huge": 10**308, "seed": 2**63, "lr": 0.5}
    response = as_user(contributor).post(M + "/versions", {"version": "2.0.0", "params": params})
    assert response.status_code == 201, response.content
    assert response.json()["params"] == params
    found = as_user(contributor).get("/search/versions", data={"q": "params.big > 1e299"})
    assert [v["version"] for v in found.json()["items"]] == ["2.0.0"]


# --- source -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source", ["s3://bucket/model/", "runs:/0a1b2c/model", "https://example.com/m?x=1"]
)
def test_it_records_a_versions_source_as_text(world, as_user, contributor, source):
    api = as_user(contributor)
    response = api.post(M + "/versions", {"version": "2.0.0", "source": source})
    assert response.status_code == 201, response.content
    assert response.json()["source"] == source
    assert api.get(M + "/versions/2.0.0").json()["source"] == source
    assert api.get(V).json()["source"] == ""


@pytest.mark.parametrize(
    ("source", "status", "code"),
    [
        ("s3://bucket/\nmodel", 400, "invalid"),
        ("s3://bucket/\tmodel", 400, "invalid"),
        ("s3://bucket/\x7fmodel", 400, "invalid"),
        ("s3://bucket/\x85model", 400, "invalid"),
        ("s3://" + "a" * 2000, 400, "invalid"),
        (5, 422, "invalid"),
    ],
)
def test_it_refuses_a_bad_source(world, as_user, contributor, source, status, code):
    body = {"version": "2.0.0", "source": source}
    assert_error(as_user(contributor).post(M + "/versions", body), status, code, "source")
    assert _versions() == ["1.0.0"]
