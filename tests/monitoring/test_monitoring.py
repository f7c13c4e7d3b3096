"""Live metrics, monitors and retrain requests through the API and the domain."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone

from lineage import deployments
from lineage.models import Edge
from monitoring import evaluate, rules
from monitoring.models import Breach, MetricPoint, MetricRollup, RetrainRequest
from registry import services
from registry.models import ModelVersion, Notification
from registry.search import SearchError
from tests.api.conftest import assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployed(make_model, make_version, contributor):
    model = make_model()
    v = make_version(model, "1.0.0", metrics={"test": {"auc": 0.93}})
    ModelVersion.objects.filter(pk=v.pk).update(created_at=timezone.now() - dt.timedelta(days=3))
    v.refresh_from_db()
    d = deployments.record_deployment(contributor, v, "prod-eu",
                                      at=timezone.now() - dt.timedelta(days=2))  # fmt: skip
    return d


def _url(d):
    return f"/deployments/{d.pk}/metrics"


def test_single_and_batched_reports_are_stored_with_hourly_rollups(as_token, contributor, deployed):
    api = as_token(contributor, "read", "write")
    one = api.post(_url(deployed), {"metrics": {"auc": 0.91, "p95_latency_ms": 40}})
    assert one.status_code == 201, one.content
    assert one.json() == {"stored": 2}
    hour = (timezone.now() - dt.timedelta(hours=3)).replace(minute=10)
    batch = [
        {"name": "auc", "value": 0.80 + i / 100, "at": (hour + dt.timedelta(minutes=i)).isoformat()}
        for i in range(5)
    ]
    assert api.post(_url(deployed), {"points": batch}).json() == {"stored": 5}
    assert api.post(_url(deployed), {"points": batch[:2]}).json() == {"stored": 2}
    rollup = MetricRollup.objects.get(
        name="auc", hour=hour.replace(minute=0, second=0, microsecond=0)
    )
    assert rollup.count == 7 and rollup.low == 0.80 and rollup.high == pytest.approx(0.84)
    assert rollup.total == pytest.approx(sum(0.80 + i / 100 for i in range(5)) + 0.80 + 0.81)

    found = api.get(_url(deployed), data={"name": "auc", "days": 1}).json()
    assert len(found["buckets"]) == 8  # raw points for a day
    long = api.get(_url(deployed), data={"name": "auc", "days": 90}).json()
    assert [b["count"] for b in long["buckets"]] == [7, 1]  # hourly buckets


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"points": [{"name": "auc", "value": "high"}]}, "points.0.value"),
        ({"points": [{"name": "auc", "value": True}]}, "points.0.value"),
        ({"points": [{"name": "bad name!", "value": 1}]}, "points.0.name"),
        ({"points": [{"name": "auc", "value": 1, "at": "2999-01-01T00:00:00Z"}]}, "points.0.at"),
        ({"points": [{"name": "auc", "value": 1, "at": "2001-01-01T00:00:00Z"}]}, "points.0.at"),
        ({"points": [{"name": "auc", "value": 1, "at": "2026-01-01T00:00:00"}]}, "points.0.at"),
        ({"points": [{"name": "auc", "value": 1}, "x"]}, "points.1"),
        ({"points": []}, "points"),
        ({"metrics": {}}, "metrics"),
        ({}, "body"),
        ({"metrics": {"auc": 1}, "points": []}, "body"),
    ],
)
def test_bad_reports_are_refused_whole_naming_the_field(as_user, contributor, deployed, body,
                                                        field):  # fmt: skip
    response = as_user(contributor).post(_url(deployed), body)
    assert_error(response, 400, "invalid", field)
    assert not MetricPoint.objects.exists() and not MetricRollup.objects.exists()


def test_non_finite_values_are_refused(as_user, contributor, deployed):
    body = json.dumps(
        {"points": [{"name": "auc", "value": 0.9}, {"name": "auc", "value": float("nan")}]}
    )
    response = as_user(contributor).client.post(
        f"/api/v1{_url(deployed)}", body, content_type="application/json"
    )
    assert_error(response, 400, "invalid", "points.1.value")
    assert not MetricPoint.objects.exists()


def test_who_may_report_and_read(as_user, viewer, outsider, contributor, deployed):
    assert as_user(viewer).post(_url(deployed), {"metrics": {"auc": 1}}).status_code == 403
    assert as_user(outsider).post(_url(deployed), {"metrics": {"auc": 1}}).status_code == 404
    assert as_user(contributor).post("/deployments/999999/metrics", {"metrics": {"auc": 1}}
                                     ).status_code == 404  # fmt: skip
    assert as_user(viewer).get(_url(deployed), data={"name": "auc"}).status_code == 200
    assert as_user(outsider).get(_url(deployed), data={"name": "auc"}).status_code == 404


@pytest.mark.parametrize(
    ("rule", "position"),
    [
        ("auc < 0.9 over 1h", 0),
        ("live.auc = 0.9 over 1h", 9),
        ("live.auc < metrics.nope.auc over 1h", 11),
        ("live.auc < 0.9", 14),
        ("live.auc < 0.9 over 1y", 20),
        ("live.auc < 0.9 over 1m", 20),  # under 5 minutes
        ("live.auc < 0.9 over 1h and", 23),
        ("live.auc < metrics.test.auc - x over 1h", 30),
    ],
)
def test_rules_that_do_not_parse_point_at_the_position(rule, position):
    with pytest.raises(SearchError) as raised:
        rules.parse(rule)
    assert raised.value.position == position, str(raised.value)


def test_rules_parse_constants_and_offline_bounds():
    rule = rules.parse("live.auc < metrics.test.auc - 0.05 over 1h")
    assert (rule.metric, rule.op, rule.offline, rule.window) == (
        "auc", "<", ("test", "auc"), dt.timedelta(hours=1)
    )  # fmt: skip
    assert rule.threshold(0.93) == pytest.approx(0.88) and rule.threshold(None) is None
    drift = rules.parse("live.drift_psi > 0.2 over 24h")
    assert drift.threshold(None) == 0.2 and drift.breached(0.3, 0.2)


def test_a_monitor_rule_that_does_not_parse_is_a_400_with_the_position(as_user, contributor,
                                                                      deployed):  # fmt: skip
    response = as_user(contributor).post(
        "/models/fraud/churn/monitors", {"name": "auc drop", "rule": "live.auc < 0.9 over 1y"}
    )
    error = assert_error(response, 400, "invalid", "rule")
    assert "at 20" in error["message"]


def test_a_breach_alerts_opens_a_retrain_request_and_the_retrained_version_closes_it(
    as_user, contributor, maintainer, reviewer, deployed
):
    api = as_user(contributor)
    created = api.post("/models/fraud/churn/monitors", {
        "name": "auc drop", "rule": "live.auc < metrics.test.auc - 0.05 over 1h"})  # fmt: skip
    assert created.status_code == 201, created.content
    api.post(_url(deployed), {"points": [{"name": "auc", "value": 0.95}]})
    outcome = evaluate.evaluate_all()
    assert (outcome.judged, outcome.breached) == (1, [])  # 0.95 is fine

    assert api.post("/models/fraud/churn/monitors/evaluate").json()["breached"] == 0
    now = timezone.now()
    api.post(_url(deployed), {"points": [
        {"name": "auc", "value": 0.70, "at": (now - dt.timedelta(minutes=m)).isoformat()}
        for m in range(1, 20)]})  # fmt: skip
    evaluated = api.post("/models/fraud/churn/monitors/evaluate").json()
    assert evaluated["breached"] == 1 and len(evaluated["retrain_requests"]) == 1
    breach = Breach.objects.get()
    assert breach.threshold == pytest.approx(0.88) and breach.observed < 0.88
    request = RetrainRequest.objects.get()
    assert (request.metric, request.state, request.version_id) == (
        "auc",
        "open",
        deployed.version_id,
    )
    assert Notification.objects.filter(user=maintainer, url=request.get_absolute_url()).exists()
    assert Notification.objects.filter(user=reviewer).exists()
    assert len(evaluate.evaluate_all().breached) == 0  # still breached: nothing new
    assert RetrainRequest.objects.count() == 1

    listed = api.get("/retrain-requests", data={"state": "open"}).json()["items"]
    assert [r["id"] for r in listed] == [request.pk] and "auc drop" in listed[0]["reason"]
    new = api.post("/models/fraud/churn/versions", {"version": "1.1.0",
                                                     "retrain_request": request.pk})  # fmt: skip
    assert new.status_code == 201, new.content
    assert new.json()["lineage"]["parents"] == ["fraud/churn@1.0.0"]
    request.refresh_from_db()
    assert request.state == "in_progress" and request.new_version.version == "1.1.0"
    assert Edge.objects.filter(src_id=deployed.version_id, dst_id=request.new_version_id,
                               kind="derived_from").exists()  # fmt: skip
    services.apply_transition(version=request.new_version, to_stage="production", actor=maintainer)
    request.refresh_from_db()
    assert request.state == "done" and request.closed_at


def test_registering_for_a_closed_or_foreign_request_is_refused(as_user, contributor, deployed,
                                                                make_model):  # fmt: skip
    request = RetrainRequest.objects.create(
        model=deployed.model, version=deployed.version, metric="auc", reason="x",
        since=timezone.now(), state="dismissed")  # fmt: skip
    api = as_user(contributor)
    body = {"version": "2.0.0", "retrain_request": request.pk}
    refused = api.post("/models/fraud/churn/versions", body)
    assert_error(refused, 400, "invalid", "retrain_request")
    make_model("other")
    foreign = api.post("/models/fraud/other/versions", body)
    assert_error(foreign, 400, "invalid", "retrain_request")
    assert ModelVersion.objects.count() == 1
