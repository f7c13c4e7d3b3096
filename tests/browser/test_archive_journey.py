"""A maintainer finds an archived version: its download explains it is archived, the
version page's restore button starts a job whose progress the panel follows (HTMX
polling) until the files are back, and the jobs page lists the restore."""

from __future__ import annotations

import contextlib
import os

import pytest
from playwright.sync_api import Page, expect

from registry import archiving, services
from registry.models import Job, JobKind
from tests.browser.test_compare_journey import shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def archived(make_model, make_version, maintainer):
    maintainer.set_password("journey-pw")
    maintainer.save()
    model = make_model("churn")
    old = make_version(model, "1.0.0", files={"model.bin": b"weights" * 50_000})
    services.apply_transition(version=old, to_stage="archived", actor=maintainer)
    archiving.run(Job.objects.get(version=old, kind=JobKind.ARCHIVE).pk)
    return old


def _workers():
    """A real Celery worker when there is a broker; otherwise jobs run in-process."""
    if not os.environ.get("REDIS_URL"):
        return contextlib.nullcontext()
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    return start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10)


def test_a_maintainer_restores_an_archived_version(page: Page, live_server, archived):
    download = live_server.url + archived.get_absolute_url() + "files/model.bin"
    page.goto(live_server.url + archived.get_absolute_url())
    page.get_by_label("Username").fill("maintainer")
    page.get_by_label("Password").fill("journey-pw")
    page.get_by_role("button", name="Sign in").click()
    panel = page.locator("#version-storage")
    expect(panel).to_contain_text("Archived — 1 file in archive storage")
    expect(page.locator("#artifacts")).to_contain_text("Archived")
    shot(page, "archive-1-archived")

    page.goto(download)
    expect(page.get_by_role("alert")).to_contain_text("archived — request a restore")
    page.get_by_role("link", name="Go to churn 1.0.0").click()

    with _workers():
        page.get_by_role("button", name="Restore files").click()
        expect(panel).to_contain_text("Restore job")
        expect(panel).to_contain_text("All files are in hot storage", timeout=30_000)
        expect(panel.locator(".job-state")).to_have_text("Done")
    shot(page, "archive-2-restored")
    page.reload()
    expect(
        page.locator("#artifacts").get_by_role("link", name="Download model.bin")
    ).to_be_visible()

    page.get_by_role("link", name="Jobs").click()
    table = page.locator("#jobs-table")
    expect(table).to_contain_text("Restore · churn 1.0.0")
    expect(table).to_contain_text("Archive · churn 1.0.0")
    page.get_by_label("Kind").select_option("restore")
    page.get_by_role("button", name="Filter").click()
    expect(table).not_to_contain_text("Archive · churn")
    page.get_by_label("State").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#jobs-empty")).to_contain_text("No jobs match these filters")
    shot(page, "archive-3-jobs")
