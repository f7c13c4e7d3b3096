"""The reviewer's pages: inbox, request page with HTMX actions, request form, timeline,
policies page, deprecation banner."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from accounts.models import Membership, User
from registry import promotions
from registry.models import (
    ModelVersion,
    PromotionGate,
    PromotionPolicy,
    PromotionRequest,
    Stage,
)
from registry.services import apply_transition

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


@pytest.fixture
def staged(make_model: Any, make_version: Any) -> ModelVersion:
    model = make_model("churn")
    old = make_version(model, "0.9.0", metrics={"test": {"auc": 0.90}},
                       environment={"packages": ["numpy==1.26.0", "pandas==2.0.0"]})  # fmt: skip
    apply_transition(version=old, to_stage=Stage.PRODUCTION, actor=None)
    version = make_version(model, "1.0.0", metrics={"test": {"auc": 0.93}},
                           environment={"packages": ["numpy==2.0.0", "scipy==1.13"]})  # fmt: skip
    apply_transition(version=version, to_stage=Stage.STAGING, actor=None)
    return version


@pytest.fixture
def opened(staged: ModelVersion, contributor: User) -> PromotionRequest:
    return promotions.request_promotion(
        version=staged, to_stage="production", actor=contributor, justification="**better** auc"
    )


def test_the_inbox_lists_requests_to_review_with_few_queries(
    client: Any, opened: PromotionRequest, reviewer: User, django_assert_max_num_queries: Any
) -> None:
    client.force_login(reviewer)
    # session, user, memberships, count, page, approval counts, the navigation's counts
    with django_assert_max_num_queries(7):
        response = client.get(reverse("review-inbox"))
    assert response.status_code == 200
    assert f"#{opened.pk}" in response.content.decode()
    assert response.context["rows"] == [opened]


def test_the_inbox_tabs_swap_only_the_results_for_htmx(
    client: Any, opened: PromotionRequest, contributor: User
) -> None:
    client.force_login(contributor)
    partial = client.get(reverse("review-inbox") + "?tab=mine", headers=HTMX).content.decode()
    assert (
        "<html" not in partial and 'id="review-results"' in partial and f"#{opened.pk}" in partial
    )
    full = client.get(reverse("review-inbox") + "?tab=mine").content.decode()
    assert "<html" in full


def test_the_request_page_shows_evidence_gates_and_actions(
    client: Any, opened: PromotionRequest, reviewer: User
) -> None:
    client.force_login(reviewer)
    page = client.get(opened.get_absolute_url()).content.decode()
    assert "<strong>better</strong> auc" in page  # sanitised Markdown justification
    assert "0 of 2" in page and 'value="approve"' in page
    evidence = client.get(opened.get_absolute_url()).context["evidence"]
    assert [(m.split, m.name, m.change) for m in evidence["metrics"]] == [("test", "auc", "better")]
    kinds = {p.name: p.change for p in evidence["environment"].packages}
    assert kinds == {"numpy": "upgraded", "pandas": "removed", "scipy": "added"}
    assert 'class="chg-better">+0.03<' in page


def test_approving_with_htmx_swaps_the_panel_and_updates_counts(
    client: Any, opened: PromotionRequest, reviewer: User, team: Any
) -> None:
    client.force_login(reviewer)
    url = reverse("request-review", args=[opened.pk])
    response = client.post(url, {"decision": "approve"}, headers=HTMX)
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert 'id="request-panel"' in body and "1 of 2" in body
    assert 'id="nav-review-count" hx-swap-oob="true"' in body
    assert "reviews-changed" in response["HX-Trigger"]


def test_the_final_approval_without_htmx_redirects_and_applies(
    client: Any, opened: PromotionRequest, reviewer: User, team: Any, staged: ModelVersion
) -> None:
    second = User.objects.create_user("reviewer2", "r2@example.com", "pw")
    Membership.objects.create(user=second, team=team, role="reviewer")
    promotions.review(request=opened, actor=reviewer, decision="approve")
    client.force_login(second)
    response = client.post(reverse("request-review", args=[opened.pk]), {"decision": "approve"})
    assert response.status_code == 302 and response["Location"] == opened.get_absolute_url()
    assert ModelVersion.objects.get(pk=staged.pk).stage == Stage.PRODUCTION


def test_self_approval_is_refused_in_the_ui(
    client: Any, opened: PromotionRequest, contributor: User
) -> None:
    client.force_login(contributor)
    page = client.get(opened.get_absolute_url()).content.decode()
    assert 'value="approve"' not in page and "someone else must review it" in page
    response = client.post(reverse("request-review", args=[opened.pk]), {"decision": "approve"})
    assert response.status_code == 403


def test_a_rejection_without_a_comment_is_explained_and_changes_nothing(
    client: Any, opened: PromotionRequest, reviewer: User
) -> None:
    client.force_login(reviewer)
    body = client.post(
        reverse("request-review", args=[opened.pk]), {"decision": "reject"}, headers=HTMX
    ).content.decode()
    assert "this field is required" in body
    assert PromotionRequest.objects.get(pk=opened.pk).is_open


def test_the_request_form_opens_a_request_and_shows_the_policy(
    client: Any, staged: ModelVersion, contributor: User
) -> None:
    client.force_login(contributor)
    url = reverse("request-new", args=["fraud", "churn", "1.0.0"]) + "?to=production"
    page = client.get(url)
    assert page.status_code == 200 and "2 approvals" in page.content.decode()
    response = client.post(url, {"to_stage": "production", "justification": "ship"})
    created = PromotionRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == created.get_absolute_url()
    again = client.post(url, {"to_stage": "production", "justification": "ship"})
    assert "already open" in again.content.decode()
    blank = client.post(url, {"to_stage": "production", "justification": " "})
    assert "This field is required" in blank.content.decode()


def test_the_timeline_page_shows_the_state_at_a_moment(
    client: Any, staged: ModelVersion, viewer: User
) -> None:
    client.force_login(viewer)
    url = reverse("model-timeline", args=["fraud", "churn"])
    page = client.get(url).content.decode()
    assert "0.9.0" in page and "1.0.0" in page
    past = client.get(url + "?at=2001-01-01T00:00", headers=HTMX).content.decode()
    assert "<html" not in past and "No version." in past
    bad = client.get(url + "?at=soon").content.decode()
    assert "is not a date and time" in bad


def test_maintainers_manage_policies_on_the_team_page(
    client: Any, maintainer: User, reviewer: User, team: Any
) -> None:
    client.force_login(reviewer)
    assert client.get(reverse("team-policies", args=["fraud"])).status_code == 403
    client.force_login(maintainer)
    assert client.get(reverse("team-policies", args=["fraud"])).status_code == 200
    save = reverse("policy-save", args=["fraud"])
    client.post(save, {"target_stage": "production", "required_approvals": "3",
                       "expiry_hours": "48", "replaced_stage": "archived",
                       "reviewer_roles": ["reviewer", "maintainer"]})  # fmt: skip
    policy = PromotionPolicy.objects.get()
    assert (policy.required_approvals, policy.expiry_hours) == (3, 48)
    gates = reverse("gate-add", args=["fraud", policy.pk])
    response = client.post(
        gates, {"kind": "metric_rule", "rule": "metrics.test.auc >"}, follow=True
    )
    assert "does not parse" in response.content.decode()
    assert not PromotionGate.objects.exists()
    client.post(gates, {"kind": "metric_rule", "rule": "metrics.test.auc >= 0.9"})
    assert PromotionGate.objects.get().rule == "metrics.test.auc >= 0.9"


def test_a_deprecated_version_shows_a_banner(
    client: Any, staged: ModelVersion, maintainer: User
) -> None:
    client.force_login(maintainer)
    url = reverse("version-deprecate", args=["fraud", "churn", "1.0.0"])
    client.post(url, {"reason": "use 2.0", "sunset": "2099-01-01"})
    page = client.get(staged.get_absolute_url()).content.decode()
    assert "Deprecated" in page and "use 2.0" in page and "2099-01-01" in page
