"""Monitoring in the browser's pages: live charts on the deployment and version pages,
the monitors page and its forms, a retrain request's page."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from lineage import deployments
from monitoring import evaluate, ingest
from monitoring.models import Monitor, RetrainRequest
from registry.models import ModelVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployed(make_model, make_version, contributor):
    model = make_model()
    v = make_version(model, "1.0.0", metrics={"test": {"auc": 0.93}})
    ModelVersion.objects.filter(pk=v.pk).update(created_at=timezone.now() - dt.timedelta(days=100))
    v.refresh_from_db()
    return deployments.record_deployment(contributor, v, "prod-eu",
                                         at=timezone.now() - dt.timedelta(days=95))  # fmt: skip


def _fill(contributor, d, days, every_minutes=60, names=("auc", "p95_latency_ms")):
    now = timezone.now()
    points = []
    for i in range(int(days * 24 * 60 / every_minutes)):
        at = now - dt.timedelta(minutes=i * every_minutes + 1)
        points += [{"name": n, "value": 0.9 - (i % 7) / 100 if n == "auc" else 40 + i % 9,
                    "at": at.isoformat()} for n in names]  # fmt: skip
    for start in range(0, len(points), 10_000):
        ingest.report(contributor, d, points[start : start + 10_000])


def test_the_deployment_page_draws_90_days_in_constant_queries(
    client, viewer, contributor, deployed, django_assert_max_num_queries
):
    _fill(contributor, deployed, days=90)
    client.force_login(viewer)
    # session, user, memberships, the deployment, what it replaced, the metric names, the
    # version's offline metrics, one series per metric (2), its breaches, the nav counts
    with django_assert_max_num_queries(12):
        response = client.get(deployed.get_absolute_url(), {"days": 90})
    body = response.content.decode()
    assert body.count('class="chart"') == 2
    assert "offline 0.93" in body and 'class="reference"' in body  # auc's reference line
    assert "live p95_latency_ms" in body
    partial = client.get(deployed.get_absolute_url(), {"days": 1}, headers={"HX-Request": "true"})
    assert "<html" not in partial.content.decode() and "live auc" in partial.content.decode()
    assert 'active" aria-current="true" href="?days=1#' in partial.content.decode()


def test_the_version_page_shows_its_live_metrics_next_to_the_offline_ones(
    client, viewer, contributor, deployed
):
    _fill(contributor, deployed, days=2, names=("auc",))
    client.force_login(viewer)
    body = client.get(deployed.version.get_absolute_url()).content.decode()
    assert 'id="live-metrics"' in body and "offline 0.93" in body
    assert deployed.get_absolute_url() in body


def test_an_empty_deployment_explains_how_to_report(client, viewer, deployed):
    client.force_login(viewer)
    body = client.get(deployed.get_absolute_url()).content.decode()
    assert "No live metrics reported" in body and "report_metrics" in body


def test_monitors_page_adds_pauses_and_deletes_monitors(client, contributor, viewer, deployed):
    url = reverse("model-monitors", args=["fraud", "churn"])
    client.force_login(contributor)
    add = reverse("monitor-create", args=["fraud", "churn"])
    bad = client.post(add, {"name": "drop", "rule": "live.auc < 0.9 over 1y"}, follow=True)
    assert "Not added: rule: " in bad.content.decode() and "at 20" in bad.content.decode()
    client.post(add, {"name": "drop", "rule": "live.auc < metrics.test.auc - 0.05 over 1h",
                      "open_retrain": "on"})  # fmt: skip
    monitor = Monitor.objects.get()
    assert monitor.open_retrain and monitor.enabled
    again = client.post(add, {"name": "drop", "rule": "live.auc < 0.5 over 1h"}, follow=True)
    assert "already has a monitor named" in again.content.decode()
    client.post(reverse("monitor-toggle", args=["fraud", "churn", monitor.pk]))
    monitor.refresh_from_db()
    assert not monitor.enabled
    client.force_login(viewer)
    page = client.get(url).content.decode()
    assert "paused" in page and "Add</button>" not in page
    client.force_login(contributor)
    client.post(reverse("monitor-delete", args=["fraud", "churn", monitor.pk]))
    assert not Monitor.objects.exists()


def test_a_breach_shows_on_the_monitors_page_and_its_request_can_be_dismissed(
    client, contributor, maintainer, deployed
):
    Monitor.objects.create(model=deployed.model, name="latency",
                           rule="live.p95_latency_ms > 30 over 1h")  # fmt: skip
    _fill(contributor, deployed, days=0.5, every_minutes=5, names=("p95_latency_ms",))
    assert len(evaluate.evaluate_all().breached) == 1
    request = RetrainRequest.objects.get()
    client.force_login(contributor)
    page = client.get(reverse("model-monitors", args=["fraud", "churn"])).content.decode()
    assert "ongoing" in page and request.get_absolute_url() in page
    detail = client.get(request.get_absolute_url()).content.decode()
    assert "retrain_request=" in detail and "Dismiss" not in detail  # contributors cannot
    assert deployed.get_absolute_url() in detail
    client.force_login(maintainer)
    empty = client.post(reverse("retrain-dismiss", args=["fraud", request.pk]), {"reason": " "},
                        follow=True)  # fmt: skip
    assert "say why" in empty.content.decode()
    client.post(reverse("retrain-dismiss", args=["fraud", request.pk]), {"reason": "known outage"})
    request.refresh_from_db()
    assert request.state == "dismissed"
