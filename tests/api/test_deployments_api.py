"""Deployments over the API: recording, replacing, ending, history and "what was
deployed in E at T", with permissions and bad input."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.models import AuditEvent
from lineage.models import Deployment, DeploymentStatus
from registry.models import ModelVersion
from tests.api.conftest import assert_error

pytestmark = pytest.mark.django_db
MODEL = "/models/fraud/churn"


@pytest.fixture
def versions(make_model, make_version):
    model = make_model()
    made = make_version(model, "1.0.0"), make_version(model, "1.1.0")
    ModelVersion.objects.update(created_at=timezone.now() - dt.timedelta(days=1))
    return made


def _deploy(api, version, **body):
    return api.post(f"{MODEL}/versions/{version}/deployments", {"environment": "prod-eu", **body})


def test_a_new_deployment_replaces_the_live_one_and_history_answers_what_ran_when(
    as_token, contributor, versions
):
    api = as_token(contributor, "read", "write")
    t0 = (timezone.now() - dt.timedelta(hours=2)).replace(microsecond=0)
    first = _deploy(api, "1.0.0", target="https://churn.internal/v1", deployed_at=t0.isoformat())
    assert first.status_code == 201, first.content
    assert first.json()["status"] == "active"
    again = _deploy(api, "1.0.0", target="https://churn.internal/v1")
    assert again.json()["id"] == first.json()["id"]  # recording the live one is idempotent

    t1 = (timezone.now() - dt.timedelta(hours=1)).replace(microsecond=0)
    second = _deploy(api, "1.1.0", target="https://churn.internal/v1", deployed_at=t1.isoformat())
    assert second.status_code == 201, second.content
    old = Deployment.objects.get(pk=first.json()["id"])
    assert (old.status, old.ended_at, old.replaced_by_id) == (
        DeploymentStatus.REPLACED, t1, second.json()["id"]
    )  # fmt: skip
    assert AuditEvent.objects.filter(action="deployment.record").count() == 2

    history = api.get(f"{MODEL}/deployments").json()["items"]
    assert [(d["version"], d["status"]) for d in history] == [
        ("1.1.0", "active"), ("1.0.0", "replaced")
    ]  # fmt: skip
    between = (t0 + dt.timedelta(minutes=30)).isoformat()
    at_t = api.get(f"{MODEL}/deployments", data={"environment": "prod-eu", "at": between})
    assert [d["version"] for d in at_t.json()["items"]] == ["1.0.0"]
    now = api.get("/deployments", data={"environment": "prod-eu", "at": timezone.now().isoformat()})
    assert [d["version"] for d in now.json()["items"]] == ["1.1.0"]
    before = api.get("/deployments", data={"environment": "prod-eu",
                                           "at": (t0 - dt.timedelta(1)).isoformat()})  # fmt: skip
    assert before.json()["items"] == []
    assert api.get("/deployments", data={"environment": "prod-us"}).json()["items"] == []

    ended = api.post(f"/deployments/{second.json()['id']}/end", {"status": "failed"})
    assert ended.status_code == 200, ended.content
    assert ended.json()["status"] == "failed" and ended.json()["ended_at"]
    assert_error(api.post(f"/deployments/{second.json()['id']}/end", {}), 409, "conflict",
                 "status")  # fmt: skip


def test_environments_and_targets_are_separate(as_user, contributor, versions):
    api = as_user(contributor)
    _deploy(api, "1.0.0")
    _deploy(api, "1.1.0", environment="prod-us")
    _deploy(api, "1.1.0", target="canary")
    assert Deployment.objects.filter(status="active").count() == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"environment": "Prod EU!"}, "environment"),
        ({"environment": ""}, "environment"),
        ({"deployed_at": "2999-01-01T00:00:00Z"}, "deployed_at"),
        ({"deployed_at": "2000-01-01T00:00:00Z"}, "deployed_at"),  # before the version
        ({"deployed_at": "2026-01-01T00:00:00"}, "deployed_at"),  # no time zone
        ({"target": "x" * 501}, "target"),
    ],
)
def test_bad_deployments_are_refused_naming_the_field(as_user, contributor, versions, body,
                                                      field):  # fmt: skip
    response = _deploy(as_user(contributor), "1.0.0", **body)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["field"] == field
    assert not Deployment.objects.exists()


def test_a_replacement_cannot_start_before_the_live_deployment(as_user, contributor, versions):
    api = as_user(contributor)
    _deploy(api, "1.0.0")
    earlier = (timezone.now() - dt.timedelta(minutes=1)).isoformat()
    assert_error(_deploy(api, "1.1.0", deployed_at=earlier), 409, "conflict", "deployed_at")
    assert Deployment.objects.count() == 1


def test_at_needs_an_environment_and_a_time_zone(as_user, viewer, versions):
    response = as_user(viewer).get(f"{MODEL}/deployments", data={"at": "2026-01-01T00:00:00Z"})
    assert_error(response, 400, "invalid", "environment")
    query = {"environment": "prod-eu", "at": "2026-01-01T00:00:00"}
    naive = as_user(viewer).get(f"{MODEL}/deployments", data=query)
    assert_error(naive, 400, "invalid", "at")


def test_viewers_read_but_may_not_deploy_and_outsiders_see_nothing(
    as_user, contributor, viewer, outsider, versions
):
    deployed = _deploy(as_user(contributor), "1.0.0").json()
    denied = _deploy(as_user(viewer), "1.0.0", environment="prod-us")
    assert denied.status_code == 403
    assert as_user(viewer).get(f"/deployments/{deployed['id']}").status_code == 200
    assert as_user(viewer).post(f"/deployments/{deployed['id']}/end", {}).status_code == 403
    assert as_user(outsider).get(f"/deployments/{deployed['id']}").status_code == 404
    assert as_user(outsider).get("/deployments").json()["items"] == []
    assert _deploy(as_user(outsider), "1.0.0").status_code == 404


def test_a_read_token_may_not_deploy(as_token, contributor, versions):
    response = _deploy(as_token(contributor, "read"), "1.0.0")
    assert response.status_code == 403
