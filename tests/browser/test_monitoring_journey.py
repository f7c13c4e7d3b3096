"""A team lead follows a deployment's live metrics to a breached monitor and its retrain
request; a contributor writes the version's model card and exports it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from lineage import deployments
from monitoring import evaluate, ingest
from monitoring.models import Monitor
from registry.models import ModelVersion
from tests.browser.test_compare_journey import shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def watched(make_model, make_version, contributor, viewer):
    for user in (viewer, contributor):
        user.set_password("journey-pw")
        user.save()
    model = make_model("churn")
    v = make_version(model, "1.0.0", metrics={"test": {"auc": 0.93}})
    ModelVersion.objects.filter(pk=v.pk).update(created_at=timezone.now() - dt.timedelta(days=40))
    v.refresh_from_db()
    d = deployments.record_deployment(contributor, v, "prod-eu",
                                      at=timezone.now() - dt.timedelta(days=35))  # fmt: skip
    now = timezone.now()
    points = []
    for hour in range(30 * 24):
        at = (now - dt.timedelta(hours=hour, minutes=1)).isoformat()
        auc = 0.85 if hour < 2 else 0.925 - (hour % 24) / 2000
        points += [{"name": "auc", "value": auc, "at": at},
                   {"name": "p95_latency_ms", "value": 40 + hour % 17, "at": at}]  # fmt: skip
    ingest.report(contributor, d, points)
    Monitor.objects.create(model=model, name="auc drop",
                           rule="live.auc < metrics.test.auc - 0.05 over 1h")  # fmt: skip
    assert len(evaluate.evaluate_all().breached) == 1
    return v, d


def _sign_in(page: Page, url: str, username: str) -> None:
    page.goto(url)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("journey-pw")
    page.locator("main button[type=submit]").click()


def test_live_metrics_lead_to_the_breach_and_its_retrain_request(page: Page, live_server,
                                                                  watched):  # fmt: skip
    version, deployment = watched
    _sign_in(page, live_server.url + version.get_absolute_url(), "viewer")
    live = page.locator("#live-metrics")
    expect(live.locator("svg.chart")).to_have_count(2)
    expect(live).to_contain_text("offline 0.93")
    shot(page, "monitoring-1-version")
    live.get_by_role("link", name="prod-eu").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("in prod-eu")
    expect(page.locator("main")).to_contain_text("ongoing")  # the monitor's breach
    page.get_by_role("link", name="30 days").click()  # HTMX swaps the charts
    expect(page).to_have_url(f"{live_server.url}{deployment.get_absolute_url()}?days=30")
    expect(page.locator("#live-metrics svg.chart")).to_have_count(2)
    expect(page.locator("#live-metrics a.active")).to_have_text("30 days")
    shot(page, "monitoring-2-deployment")

    page.goto(live_server.url + version.model.get_absolute_url())
    page.get_by_role("link", name="Monitors").click()
    expect(page.locator("#breaches-title + div")).to_contain_text("ongoing")
    page.get_by_role("link", name="Retrain from 1.0.0: auc").click()
    expect(page.locator("main")).to_contain_text("live.auc averaged")
    expect(page.locator("main")).to_contain_text("retrain_request=")
    shot(page, "monitoring-3-retrain")


def test_a_contributor_writes_and_exports_the_model_card(page: Page, live_server, watched):
    version, _deployment = watched
    _sign_in(page, live_server.url + version.get_absolute_url(), "contributor")
    page.get_by_role("link", name="Model card").click()
    expect(page.locator(".alert-warning")).to_contain_text("Not written yet: Intended use")
    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Intended use").fill("Score churn risk for **EU** subscribers.")
    page.get_by_label("Limitations").fill("Weak on accounts younger than 30 days.")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#card-intended_use + div strong")).to_have_text("EU")
    expect(page.locator("main")).to_contain_text("Weak on accounts younger than 30 days.")
    expect(page.locator("main")).to_contain_text("Test")  # evaluation by split
    shot(page, "monitoring-4-card")
    with page.expect_download() as info:
        page.get_by_role("link", name="Markdown").click()
    text = Path(info.value.path()).read_text(encoding="utf-8")
    assert text.startswith("# Model card: fraud/churn 1.0.0")
    assert "Score churn risk for **EU** subscribers." in text
