"""A reviewer compares versions: pick three from the history, narrow to the differences,
drop one, share the URL (a reload keeps the view) and export it as Markdown."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from registry import services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Set MODELGATE_SCREENSHOTS=/some/dir to keep a screenshot of each state for a look by eye.
SHOTS = os.environ.get("MODELGATE_SCREENSHOTS")


def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


@pytest.fixture
def churn(make_model, make_version, maintainer, viewer):
    viewer.set_password("journey-pw")
    viewer.save()
    model = make_model("churn", framework="xgboost", task_type="classification")
    signature = {"inputs": [{"name": "age", "type": "long"}], "outputs": [{"type": "double"}]}
    for i in range(4):
        make_version(
            model,
            f"1.{i}.0",
            metrics={
                "test": {"auc": 0.80 + i / 100, "logloss": 0.5 - i / 50, "f1": 0.7},
                "validation": {"auc": 0.82 + i / 200},
            },
            params={"learning_rate": 0.1 / (i + 1), "max_depth": 6 + i % 2, "n_estimators": 300},
            signature=signature
            if i < 3
            else {**signature, "inputs": [{"name": "age", "type": "double"}]},
            environment={
                "python": "3.12.4" if i else "3.11.9",
                "packages": [f"xgboost==2.0.{i}", "numpy==1.26.4", f"pandas==2.{2 - i % 2}.0"],
            },
            framework_version=f"2.0.{i}",
            tags={"dataset": f"events-2024-0{i + 1}"},
            files={"model.bin": f"weights-{i}".encode(), "config.json": b"{}"},
        )
    services.apply_transition(
        version=model.versions.get(version="1.1.0"), to_stage="production", actor=maintainer
    )
    return model


def test_it_compares_narrows_shares_and_exports(page: Page, live_server, churn):
    page.goto(live_server.url + churn.get_absolute_url())
    page.get_by_label("Username").fill("viewer")
    page.get_by_label("Password").fill("journey-pw")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="churn", level=1)).to_be_visible()

    for version in ("1.0.0", "1.1.0", "1.3.0"):
        page.get_by_label(f"Compare {version}", exact=True).check()
    page.get_by_role("button", name="Compare selected").click()
    expect(page.get_by_role("heading", name="Compare versions")).to_be_visible()
    status = page.get_by_role("status")
    expect(status).to_contain_text("3 versions of churn against 1.1.0")  # Production
    ids = {v.version: v.pk for v in churn.versions.all()}
    for version in ("1.0.0", "1.1.0", "1.3.0"):
        expect(page).to_have_url(re.compile(rf"[?&]v={ids[version]}(&|$)"))
    expect(page.locator("#versions thead th")).to_have_count(4)
    expect(page.locator("#comparison")).to_contain_text("major")  # 1.3.0 changed a type
    shot(page, "1-three-versions")

    page.get_by_role("link", name="Differences only").click()
    expect(status).to_contain_text("showing differences only")
    expect(page).to_have_url(re.compile(r"diff=1"))
    metric_rows = page.locator("#section-metrics tbody tr:not(.group-row)")
    expect(metric_rows.filter(has_text="f1")).to_have_count(0)  # same everywhere
    expect(metric_rows.filter(has_text="logloss")).to_have_count(1)
    shot(page, "2-differences-only")

    page.get_by_role("link", name="Remove 1.0.0").click()
    expect(status).to_contain_text("2 versions of churn")
    expect(page).not_to_have_url(re.compile(rf"[?&]v={ids['1.0.0']}(&|$)"))
    expect(page).to_have_url(re.compile(rf"[?&]v={ids['1.3.0']}&v={ids['1.1.0']}&diff=1"))
    expect(page.locator("#versions thead th")).to_have_count(3)

    page.locator("#section-params h2 a").click()  # collapse a section
    expect(page).to_have_url(re.compile(r"hide=params"))
    expect(page.locator("#section-params table")).to_have_count(0)
    shot(page, "3-removed-and-collapsed")

    page.reload()  # the URL is the whole view
    expect(page.get_by_role("status")).to_contain_text("2 versions of churn")
    expect(page.get_by_role("status")).to_contain_text("showing differences only")
    expect(page.locator("#versions thead th")).to_have_count(3)
    expect(page.locator("#section-params table")).to_have_count(0)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export Markdown").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".md")
    text = Path(download.path()).read_text()
    assert text.startswith("# Comparison of fraud/churn")
    assert "1.1.0 (baseline)" in text and "1.0.0" not in text.split("\n", 3)[2]
    assert "| Test | logloss (lower is better) |" in text
