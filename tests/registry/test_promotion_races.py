"""Racing approvals and requests on PostgreSQL: applied once, one Production version."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from accounts.models import Membership, Team, User
from registry import promotions
from registry.errors import Conflict
from registry.models import (
    ModelVersion,
    PromotionPolicy,
    PromotionRequest,
    RegisteredModel,
    Review,
    Stage,
    StageTransition,
)
from registry.services import apply_transition
from tests.threads import run_at_once

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


@pytest.fixture(autouse=True)
def _postgres_only(is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip("row locks need PostgreSQL")


@pytest.fixture
def reviewers(team: Team) -> list[User]:
    users = []
    for i in range(4):
        user = User.objects.create_user(f"rev{i}", f"rev{i}@example.com", "pw-for-tests-only")
        Membership.objects.create(user=user, team=team, role=Membership.Role.REVIEWER)
        users.append(user)
    return users


def staged(model: RegisteredModel, make_version: Callable[..., ModelVersion], v: str) -> Any:
    version = make_version(model, v)
    apply_transition(version=version, to_stage=Stage.STAGING, actor=None)
    return version


def approve(args: tuple[int, int]) -> str:
    request_id, user_id = args
    try:
        promotions.review(
            request=PromotionRequest.objects.get(pk=request_id),
            actor=User.objects.get(pk=user_id),
            decision="approve",
        )
    except Conflict:
        return "closed"
    return "ok"


@pytest.mark.parametrize("attempt", range(3))
def test_racing_final_approvals_apply_the_request_once(
    make_model, make_version, contributor, reviewers, attempt
) -> None:
    model = make_model("churn")
    request = promotions.request_promotion(
        version=staged(model, make_version, "1.0.0"),
        to_stage="production", actor=contributor, justification="go",
    )  # fmt: skip

    outcomes = run_at_once(4, lambda i: (request.pk, reviewers[i].pk), approve)

    request.refresh_from_db()
    assert request.state == "applied"
    assert StageTransition.objects.filter(request=request).count() == 1
    assert ModelVersion.objects.filter(model=model, stage=Stage.PRODUCTION).count() == 1
    # Two approvals applied it; later ones found it closed or were recorded before.
    assert outcomes.count("ok") >= 2


@pytest.mark.parametrize("attempt", range(3))
def test_racing_requests_for_different_versions_leave_one_production_version(
    make_model, make_version, contributor, reviewers, team, attempt
) -> None:
    PromotionPolicy.objects.create(team=team, target_stage="production", required_approvals=1)
    model = make_model("churn")
    requests = [
        promotions.request_promotion(
            version=staged(model, make_version, f"1.{i}.0"),
            to_stage="production",
            actor=contributor,
            justification="go",
        )  # fmt: skip
        for i in range(4)
    ]

    run_at_once(4, lambda i: (requests[i].pk, reviewers[i].pk), approve)

    assert ModelVersion.objects.filter(model=model, stage=Stage.PRODUCTION).count() == 1
    assert PromotionRequest.objects.filter(state="applied").count() == 4
    assert ModelVersion.objects.filter(model=model, stage=Stage.ARCHIVED).count() == 3


def test_one_reviewer_clicking_approve_twice_at_once_counts_once(
    make_model, make_version, contributor, reviewers
) -> None:
    model = make_model("churn")
    request = promotions.request_promotion(
        version=staged(model, make_version, "1.0.0"),
        to_stage="production", actor=contributor, justification="go",
    )  # fmt: skip

    run_at_once(4, lambda i: (request.pk, reviewers[0].pk), approve)

    assert Review.objects.filter(request=request, decision="approve").count() == 1
    request.refresh_from_db()
    assert request.is_open
