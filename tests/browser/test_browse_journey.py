"""A team lead's first visit: sign in, filter models, open one, open a version, download."""

from __future__ import annotations

import hashlib
import re

import pytest
from playwright.sync_api import Page, expect

from registry import services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def registry_data(make_model, make_version, maintainer, viewer, other_team, site_admin):
    viewer.set_password("journey-pw")
    viewer.save()
    churn = make_model(
        "churn",
        framework="xgboost",
        task_type="classification",
        description="Predicts **churn**.",
        tags={"owner": "fraud"},
    )
    for i in range(3):
        make_version(
            churn,
            f"1.{i}.0",
            metrics={"test": {"auc": 0.8 + i / 100}},
            files={"model.bin": f"weights-{i}".encode()},
        )
    services.apply_transition(
        version=churn.versions.get(version="1.2.0"), to_stage="production", actor=maintainer
    )
    make_model("ranker", framework="lightgbm", task_type="ranking")
    services.create_model(
        team=other_team,
        name="detector",
        actor=site_admin,
        framework="pytorch",
        visibility="internal",
    )
    services.create_model(team=other_team, name="hidden", actor=site_admin, framework="onnx")
    return churn


def test_it_browses_filters_and_downloads(page: Page, live_server, registry_data):
    page.goto(live_server.url + "/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.get_by_label("Username").fill("viewer")
    page.get_by_label("Password").fill("journey-pw")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.get_by_role("link", name="Browse models").click()
    expect(page.get_by_role("status")).to_contain_text("3 models")

    # Live filtering: htmx swaps the results and keeps the URL in step.
    page.get_by_label("Framework").select_option("xgboost")
    expect(page.get_by_role("status")).to_contain_text("1 model")
    expect(page).to_have_url(re.compile(r"framework=xgboost"))
    expect(page.get_by_role("link", name="ranker")).to_have_count(0)

    page.get_by_role("link", name="churn", exact=True).click()
    expect(page.get_by_role("heading", name="churn", level=1)).to_be_visible()
    expect(page.locator("#trend svg")).to_be_visible()
    history = page.locator("#history tbody tr")
    expect(history).to_have_count(3)
    expect(history.first).to_contain_text("1.2.0")
    expect(history.first).to_contain_text("Production")

    page.locator("#history").get_by_role("link", name="1.1.0").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("1.1.0")
    expect(page.locator("#metrics")).to_contain_text("auc")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download model.bin").click()
    download = download_info.value
    assert download.suggested_filename == "model.bin"
    with open(download.path(), "rb") as fh:
        body = fh.read()
    assert body == b"weights-1"
    shown = page.locator("#artifacts .sha").first.get_attribute("title")
    assert shown == hashlib.sha256(body).hexdigest()
