"""A team lead follows lineage: the version page lists it, the graph appears once drawn,
a click on the dataset's node opens its page, which lists the Production version it feeds."""

from __future__ import annotations

import contextlib
import os

import pytest
from playwright.sync_api import Page, expect

from lineage import deployments
from lineage.models import Dataset, DatasetVersion, Edge, EdgeKind, NodeType
from registry import services
from tests.browser.test_compare_journey import shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def fed(make_model, make_version, maintainer, viewer, team):
    viewer.set_password("journey-pw")
    viewer.save()
    model = make_model("churn")
    base, tuned = make_version(model, "1.0.0"), make_version(model, "1.1.0")
    data = DatasetVersion.objects.create(
        dataset=Dataset.objects.create(team=team, name="transactions"), version="2025-01"
    )
    for src, dst, kind in ((data, base, EdgeKind.USED), (base, tuned, EdgeKind.DERIVED_FROM)):
        src_type = NodeType.DATASET if src is data else NodeType.VERSION
        Edge.objects.create(kind=kind, src_type=src_type, src_id=src.pk,
                            dst_type=NodeType.VERSION, dst_id=dst.pk)  # fmt: skip
    services.apply_transition(version=tuned, to_stage="production", actor=maintainer)
    deployments.record_deployment(maintainer, tuned, "prod-eu", "https://churn.internal")
    return base, tuned


def _workers():
    """A real Celery worker when there is a broker; otherwise the page renders in-process."""
    if not os.environ.get("REDIS_URL"):
        return contextlib.nullcontext()
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    return start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10)


def test_it_follows_lineage_from_a_version_to_the_impact_of_its_dataset(
    page: Page, live_server, fed
):
    base, tuned = fed
    page.goto(live_server.url + base.get_absolute_url())
    page.get_by_label("Username").fill("viewer")
    page.get_by_label("Password").fill("journey-pw")
    page.get_by_role("button", name="Sign in").click()
    lineage = page.locator("#lineage")
    expect(lineage).to_contain_text("transactions@2025-01")
    expect(lineage).to_contain_text("Child: churn 1.1.0")

    with _workers():
        page.get_by_role("link", name="Lineage graph").click()
        # The SVG is served on its own URL, in a sandboxed frame.
        svg = page.frame_locator("#lineage-graph iframe").locator("svg")
        expect(svg).to_be_visible(timeout=30_000)
    shot(page, "lineage-1-graph")
    svg.locator("a", has_text="transactions@2025-01").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("transactions")
    impact = page.locator("#impact")
    expect(impact).to_contain_text("2 dependent versions, 1 in Production, 1 deployed now")
    expect(impact.locator("tr.table-success")).to_contain_text("1.1.0")
    expect(impact.locator("tr.table-success")).to_contain_text("prod-eu")
    shot(page, "lineage-2-impact")

    # Lineage in the navigation: the deployments, and what served in prod-eu then.
    page.get_by_role("link", name="Lineage", exact=True).click()
    expect(page.locator("main")).to_contain_text("transactions")
    page.get_by_role("link", name="Deployments").click()
    page.get_by_label("Environment").select_option("prod-eu")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#deployment-results")).to_contain_text("1.1.0")
    expect(page.locator("#deployment-results")).to_contain_text("Active")
    shot(page, "lineage-3-deployments")
