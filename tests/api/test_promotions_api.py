"""Promotion requests, reviews, timeline and deprecation through the REST API."""

from __future__ import annotations

import pytest

from registry.models import ModelVersion, PromotionPolicy, PromotionRequest, Stage
from registry.services import apply_transition
from tests.api.conftest import assert_error

pytestmark = pytest.mark.django_db

M = "/models/fraud/churn"
V = M + "/versions/1.0.0"


@pytest.fixture
def staged(make_model, make_version):
    model = make_model("churn")
    version = make_version(model, "1.0.0", metrics={"test": {"auc": 0.91}},
                           files={"model.bin": b"weights"})  # fmt: skip
    apply_transition(version=version, to_stage=Stage.STAGING, actor=None)
    PromotionPolicy.objects.create(team=model.team, target_stage="production", required_approvals=1)
    return version


def open_it(client):
    return client.post(V + "/requests", {"to_stage": "production", "justification": "better"})


def test_a_contributor_opens_and_a_reviewer_approves(staged, as_user, contributor, reviewer):
    response = open_it(as_user(contributor))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "open" and body["required_approvals"] == 1 and body["approvals"] == 0

    listed = as_user(reviewer).get("/requests?to_review=true").json()
    assert [r["id"] for r in listed["items"]] == [body["id"]]

    approved = as_user(reviewer).post(f"/requests/{body['id']}/reviews", {"decision": "approve"})
    assert approved.status_code == 201, approved.content
    assert approved.json()["state"] == "applied"
    assert approved.json()["reviews"][0]["reviewer"] == "reviewer"
    assert ModelVersion.objects.get(pk=staged.pk).stage == Stage.PRODUCTION


def test_self_approval_is_refused(staged, as_user, maintainer):
    body = open_it(as_user(maintainer)).json()
    response = as_user(maintainer).post(f"/requests/{body['id']}/reviews", {"decision": "approve"})
    assert_error(response, 403, "permission_denied")
    assert ModelVersion.objects.get(pk=staged.pk).stage == Stage.STAGING


def test_reviewing_a_closed_request_is_a_conflict(staged, as_user, contributor, reviewer):
    body = open_it(as_user(contributor)).json()
    as_user(contributor).post(f"/requests/{body['id']}/cancel")
    response = as_user(reviewer).post(f"/requests/{body['id']}/reviews", {"decision": "approve"})
    assert_error(response, 409, "conflict")


def test_a_viewer_may_not_open_and_an_outsider_sees_nothing(
    staged, as_user, contributor, viewer, outsider
):
    assert_error(open_it(as_user(viewer)), 403, "permission_denied")
    body = open_it(as_user(contributor)).json()
    assert as_user(outsider).get(f"/requests/{body['id']}").status_code == 404
    assert as_user(outsider).get("/requests").json()["items"] == []
    assert PromotionRequest.objects.count() == 1


def test_a_read_token_may_not_review(staged, as_token, as_user, contributor, reviewer):
    body = open_it(as_user(contributor)).json()
    response = as_token(reviewer, "read").post(
        f"/requests/{body['id']}/reviews", {"decision": "approve"}
    )
    assert response.status_code == 403
    assert ModelVersion.objects.get(pk=staged.pk).stage == Stage.STAGING


@pytest.mark.parametrize(
    "payload",
    [
        {"to_stage": "heaven", "justification": "x"},
        {"to_stage": "production"},
        {"to_stage": "production", "justification": "x", "colour": "red"},
    ],
)
def test_bad_requests_are_refused_naming_the_field(staged, as_user, contributor, payload):
    response = as_user(contributor).post(V + "/requests", payload)
    assert response.status_code == 422
    assert response.json()["error"]["field"]
    assert not PromotionRequest.objects.exists()


def test_the_timeline_answers_what_was_in_production_when(staged, as_user, contributor, viewer):
    before = as_user(viewer).get(M + "/timeline").json()
    assert before["stages"]["production"] == []
    assert before["stages"]["staging"][0]["version"] == "1.0.0"
    body = open_it(as_user(contributor)).json()
    PromotionPolicy.objects.update(required_approvals=0)
    PromotionRequest.objects.filter(pk=body["id"]).update(state="cancelled")
    open_it(as_user(contributor))

    now = as_user(viewer).get(M + "/timeline").json()
    assert [h["version"] for h in now["stages"]["production"]] == ["1.0.0"]
    assert now["stages"]["production"][0]["request"] is not None
    assert [(e["version"], e["to_stage"]) for e in now["history"][:2]] == [
        ("1.0.0", "production"), ("1.0.0", "staging")
    ]  # fmt: skip
    past = as_user(viewer).get(M + "/timeline", data={"at": before["at"]}).json()
    assert past["stages"]["production"] == []
    assert all(e["to_stage"] != "production" for e in past["history"])
    assert_error(as_user(viewer).get(M + "/timeline?at=yesterday"), 400, "invalid", "at")


def test_deprecation_headers_on_resolve_and_download(staged, as_user, maintainer, contributor):
    client = as_user(maintainer)
    assert_error(
        as_user(contributor).client.put(
            "/api/v1" + V + "/deprecation", {"reason": "x"}, content_type="application/json"
        ),
        403,
        "permission_denied",
    )
    response = client.client.put(
        "/api/v1" + V + "/deprecation",
        {"reason": "replaced by 2.0", "sunset": "2099-01-31"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    resolved = client.get(M + "/resolve?stage=staging")
    assert resolved["Deprecation"].startswith("@")
    assert resolved["Sunset"] == "Sat, 31 Jan 2099 00:00:00 GMT"
    assert resolved.json()["deprecation"]["reason"] == "replaced by 2.0"
    download = client.client.get(resolved.json()["artifacts"][0]["download_url"])
    assert download["Deprecation"] == resolved["Deprecation"]

    client.client.delete("/api/v1" + V + "/deprecation")
    assert "Deprecation" not in client.get(M + "/resolve?stage=staging")


def test_reviewing_needs_the_review_scope_not_write(
    staged, as_token, as_user, contributor, reviewer
):
    body = open_it(as_user(contributor)).json()
    path = f"/requests/{body['id']}/reviews"
    refused = as_token(reviewer, "write").post(path, {"decision": "approve"})
    assert_error(refused, 403, "insufficient_scope")
    assert "'review' scope" in refused.json()["error"]["message"]
    assert as_token(reviewer, "review").post(path, {"decision": "approve"}).status_code == 201
    assert ModelVersion.objects.get(pk=staged.pk).stage == Stage.PRODUCTION
