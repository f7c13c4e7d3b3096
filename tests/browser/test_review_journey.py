"""The review journey: a contributor asks for Production, two reviewers approve in the
browser, the version goes live and the previous one is archived, with HTMX swaps."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from accounts.models import Membership, User
from registry.models import ModelVersion, Stage
from registry.services import apply_transition

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "journey-pw"


@pytest.fixture
def candidate(make_model, make_version, contributor, reviewer, team):
    model = make_model("churn", description="Predicts churn.")
    live = make_version(model, "1.0.0", metrics={"test": {"auc": 0.90}})
    apply_transition(version=live, to_stage=Stage.PRODUCTION, actor=None)
    new = make_version(model, "1.1.0", metrics={"test": {"auc": 0.93}})
    apply_transition(version=new, to_stage=Stage.STAGING, actor=None)
    second = User.objects.create_user("reviewer2", "r2@example.com", PASSWORD)
    Membership.objects.create(user=second, team=team, role=Membership.Role.REVIEWER)
    for user in (contributor, reviewer):
        user.set_password(PASSWORD)
        user.save()
    return new


def signed_in(browser: Browser, live_server, username: str) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    return page


def approve_without_reload(page: Page, expected: str) -> None:
    """Click Approve on the request page; htmx swaps the panel, the page stays."""
    page.evaluate("window.__stillHere = true")
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("#approval-count")).to_contain_text(expected)
    assert page.evaluate("window.__stillHere") is True


def test_two_reviewers_promote_a_version_to_production(browser, live_server, candidate):
    # The contributor asks for Production from the version page.
    asker = signed_in(browser, live_server, "contributor")
    asker.goto(live_server.url + candidate.get_absolute_url())
    asker.get_by_role("link", name="Request Production").click()
    expect(asker.get_by_text("2 approvals from: reviewer, maintainer")).to_be_visible()
    asker.get_by_label("Justification").fill("AUC 0.93 vs 0.90 in production.")
    asker.get_by_role("button", name="Open the request").click()
    expect(asker).to_have_url(re.compile(r"/reviews/\d+/$"))
    expect(asker.locator("#approval-count")).to_contain_text("0 of 2")
    request_url = asker.url

    # Reviewer A: the inbox count, the inbox, the request, Approve.
    first = signed_in(browser, live_server, "reviewer")
    expect(first.locator("#nav-review-count")).to_contain_text("1")
    first.get_by_role("link", name=re.compile("^Reviews")).click()
    first.locator("#review-results").get_by_role("link", name=re.compile("churn")).click()
    expect(first.locator("#request-panel")).to_contain_text("Open")
    approve_without_reload(first, "1 of 2")
    expect(first.locator("#nav-review-count")).not_to_contain_text("1")  # out-of-band swap
    expect(first.get_by_role("button", name="Approve")).to_be_disabled()
    assert ModelVersion.objects.get(pk=candidate.pk).stage == Stage.STAGING

    # Reviewer B approves: the transition is applied.
    second = signed_in(browser, live_server, "reviewer2")
    second.goto(request_url)
    approve_without_reload(second, "2 of 2")
    expect(second.locator("#request-state")).to_contain_text("Applied")
    expect(second.locator("#request-panel")).to_contain_text("is now in Production")

    # The model page shows 1.1.0 in Production and 1.0.0 archived.
    second.goto(live_server.url + candidate.model.get_absolute_url())
    rows = second.locator("#history tbody tr")
    expect(rows.filter(has_text="1.1.0")).to_contain_text("Production")
    expect(rows.filter(has_text="1.0.0")).to_contain_text("Archived")

    # The requester's inbox tab shows it applied; a notification told them.
    asker.goto(live_server.url + "/reviews/?tab=mine")
    expect(asker.locator("#review-results")).to_contain_text("Applied")
    asker.goto(live_server.url + "/notifications/")
    expect(asker.get_by_role("main")).to_contain_text("was approved and applied")
