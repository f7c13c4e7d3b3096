"""Promotion requests: policies in force, gates, reviews, applying, rollback, expiry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from accounts.models import AuditEvent, Membership, Team, User
from registry import policies, promotions
from registry.errors import Conflict
from registry.models import (
    ModelVersion,
    Notification,
    PromotionGate,
    PromotionPolicy,
    PromotionRequest,
    RegisteredModel,
    Review,
    Stage,
    StageTransition,
)
from registry.services import apply_transition, change_stage, update_model

pytestmark = pytest.mark.django_db

MakeVersion = Callable[..., ModelVersion]


@pytest.fixture
def model(make_model: Callable[..., RegisteredModel]) -> RegisteredModel:
    return make_model("churn")


@pytest.fixture
def reviewer2(team: Team) -> User:
    user = User.objects.create_user("reviewer2", "r2@example.com", "pw-for-tests-only")
    Membership.objects.create(user=user, team=team, role=Membership.Role.REVIEWER)
    return user


@pytest.fixture
def staged(model: RegisteredModel, make_version: MakeVersion) -> ModelVersion:
    """A version in Staging (by the engine: set-up, not under test)."""
    version = make_version(model, "1.0.0", metrics={"test": {"auc": 0.91}})
    apply_transition(version=version, to_stage=Stage.STAGING, actor=None)
    return version


def open_request(version: ModelVersion, actor: User, to_stage: str = "production") -> Any:
    return promotions.request_promotion(
        version=version, to_stage=to_stage, actor=actor, justification="better on test"
    )


def stage_of(version: ModelVersion) -> str:
    return ModelVersion.objects.get(pk=version.pk).stage


# --- which policy applies ---------------------------------------------------------------


def test_the_default_policy_needs_one_approval_for_staging_and_two_for_production(
    model: RegisteredModel,
) -> None:
    assert policies.effective_policy(model, "staging").required_approvals == 1
    assert policies.effective_policy(model, "production").required_approvals == 2
    assert policies.effective_policy(model, "production", "rollback").required_approvals == 1


def test_a_model_policy_overrides_the_team_policy(model: RegisteredModel, team: Team) -> None:
    PromotionPolicy.objects.create(team=team, target_stage="production", required_approvals=3)
    assert policies.effective_policy(model, "production").required_approvals == 3
    PromotionPolicy.objects.create(
        team=team, model=model, target_stage="production", required_approvals=1
    )
    assert policies.effective_policy(model, "production").required_approvals == 1


# --- gates ------------------------------------------------------------------------------


def gate(team: Team, **fields: Any) -> PromotionGate:
    policy, _ = PromotionPolicy.objects.get_or_create(team=team, target_stage="production")
    return PromotionGate.objects.create(policy=policy, **fields)


def results(version: ModelVersion) -> list[tuple[bool, str]]:
    policy = policies.effective_policy(version.model, "production")
    return [(r.passed, r.detail) for r in policies.evaluate_gates(policy, version)]


@pytest.mark.parametrize(("rule", "passed"), [("metrics.test.auc >= 0.9", True),
                                              ("metrics.test.auc >= 0.95", False),
                                              ("metrics.test.latency <= 50", False)])  # fmt: skip
def test_a_metric_rule_gate_uses_the_search_language(
    staged: ModelVersion, team: Team, rule: str, passed: bool
) -> None:
    gate(team, kind="metric_rule", rule=rule)
    [(ok, detail)] = results(staged)
    assert ok is passed
    assert "auc = 0.91" in detail or "latency missing" in detail


def test_a_champion_gate_compares_with_production_by_the_metrics_direction(
    model: RegisteredModel, staged: ModelVersion, make_version: MakeVersion, team: Team
) -> None:
    champion = make_version(model, "0.9.0", metrics={"test": {"auc": 0.92, "loss": 0.3}})
    apply_transition(version=champion, to_stage=Stage.PRODUCTION, actor=None)
    gate(team, kind="champion", metric="test.auc", tolerance=0.005)
    [(ok, detail)] = results(staged)
    assert not ok and "0.91 vs 0.92" in detail  # 0.01 worse: more than the tolerance

    PromotionGate.objects.update(tolerance=0.02)
    assert results(staged)[0][0] is True


def test_a_champion_gate_passes_when_nothing_is_in_production(
    staged: ModelVersion, team: Team
) -> None:
    gate(team, kind="champion", metric="test.auc")
    assert results(staged) == [(True, "no version is in Production: nothing to beat")]


def test_a_time_in_stage_gate(staged: ModelVersion, team: Team) -> None:
    gate(team, kind="time_in_stage", stage="staging", hours=24)
    assert results(staged)[0][0] is False
    ModelVersion.objects.filter(pk=staged.pk).update(
        stage_changed_at=timezone.now() - dt.timedelta(hours=25)
    )
    assert results(ModelVersion.objects.get(pk=staged.pk))[0][0] is True


def test_a_required_metadata_gate_names_what_is_missing(staged: ModelVersion, team: Team) -> None:
    gate(team, kind="required_metadata", fields=["signature", "description", "metrics"])
    assert results(staged) == [(False, "missing an input/output signature, a description")]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"kind": "metric_rule", "rule": "metrics.test.auc >="}, "rule"),
        ({"kind": "metric_rule", "rule": ""}, "rule"),
        ({"kind": "champion", "metric": "auc"}, "metric"),
        ({"kind": "time_in_stage", "stage": "staging", "hours": 0}, "hours"),
        ({"kind": "required_metadata", "fields": ["colour"]}, "fields"),
    ],
)
def test_a_gate_that_does_not_validate_is_refused_naming_the_field(
    team: Team, maintainer: User, fields: dict[str, Any], error: str
) -> None:
    policy = policies.save_policy(team=team, actor=maintainer, target_stage="production")
    with pytest.raises(ValidationError) as excinfo:
        policies.add_gate(policy=policy, actor=maintainer, **fields)
    assert error in excinfo.value.message_dict
    assert not PromotionGate.objects.exists()


def test_a_rule_that_does_not_parse_names_the_position(team: Team, maintainer: User) -> None:
    policy = policies.save_policy(team=team, actor=maintainer, target_stage="production")
    with pytest.raises(ValidationError) as excinfo:
        policies.add_gate(
            policy=policy, actor=maintainer, kind="metric_rule", rule="metrics.test.auc >"
        )
    assert "at 18" in excinfo.value.message_dict["rule"][0]


def test_only_maintainers_manage_policies(team: Team, reviewer: User, maintainer: User) -> None:
    with pytest.raises(PermissionDenied):
        policies.save_policy(team=team, actor=reviewer, target_stage="staging")
    policy = policies.save_policy(
        team=team, actor=maintainer, target_stage="staging", required_approvals=0
    )
    assert policy.required_approvals == 0
    assert AuditEvent.objects.filter(action="policy.save").count() == 1


# --- requests and reviews ---------------------------------------------------------------


def test_a_request_collects_two_distinct_approvals_then_applies(
    model: RegisteredModel,
    staged: ModelVersion,
    make_version: MakeVersion,
    contributor: User,
    reviewer: User,
    reviewer2: User,
) -> None:
    old = make_version(model, "0.9.0")
    apply_transition(version=old, to_stage=Stage.PRODUCTION, actor=None)
    request = open_request(staged, contributor)
    assert request.is_open and request.policy["required_approvals"] == 2
    assert set(Notification.objects.values_list("user__username", flat=True)) == {
        "reviewer",
        "reviewer2",
    }

    promotions.review(request=request, actor=reviewer, decision="approve")
    entry, request = promotions.review(request=request, actor=reviewer, decision="approve")
    assert entry is None  # counted once
    assert stage_of(staged) == Stage.STAGING

    _entry, request = promotions.review(request=request, actor=reviewer2, decision="approve")

    assert request.state == "applied"
    assert stage_of(staged) == Stage.PRODUCTION
    assert stage_of(old) == Stage.ARCHIVED
    transition = StageTransition.objects.filter(version=staged).first()
    assert transition.request == request and transition.actor == reviewer2
    assert AuditEvent.objects.filter(action="promotion.approve").count() == 2
    assert AuditEvent.objects.filter(action="promotion.applied").exists()


def test_the_requester_may_never_review_their_own_request(
    staged: ModelVersion, team: Team, reviewer: User
) -> None:
    Membership.objects.filter(user=reviewer).update(role="maintainer")
    request = open_request(staged, reviewer)
    with pytest.raises(PermissionDenied, match="someone else"):
        promotions.review(request=request, actor=reviewer, decision="approve")
    assert not Review.objects.exists()


def test_the_versions_author_may_review_only_when_the_policy_says_so(
    model: RegisteredModel, make_version: MakeVersion, reviewer: User, contributor: User
) -> None:
    version = make_version(model, "1.0.0", actor=reviewer)
    request = open_request(version, contributor, "staging")
    with pytest.raises(PermissionDenied, match="author"):
        promotions.review(request=request, actor=reviewer, decision="approve")

    PromotionPolicy.objects.create(team=model.team, target_stage="staging", author_may_review=True)
    promotions.cancel(request=request, actor=contributor)
    request = open_request(version, contributor, "staging")
    promotions.review(request=request, actor=reviewer, decision="approve")
    assert stage_of(version) == Stage.STAGING


@pytest.mark.parametrize("who", ["viewer", "contributor"])
def test_ineligible_roles_may_not_approve(
    request: pytest.FixtureRequest, staged: ModelVersion, maintainer: User, who: str
) -> None:
    opened = open_request(staged, maintainer)
    # (the contributor also registered the version: either reason refuses)
    with pytest.raises(PermissionDenied, match="roles|author"):
        promotions.review(request=opened, actor=request.getfixturevalue(who), decision="approve")


def test_a_rejection_closes_the_request_and_needs_a_comment(
    staged: ModelVersion, contributor: User, reviewer: User, django_capture_on_commit_callbacks: Any
) -> None:
    request = open_request(staged, contributor)
    with pytest.raises(ValidationError):
        promotions.review(request=request, actor=reviewer, decision="reject")
    with django_capture_on_commit_callbacks(execute=True):
        _entry, request = promotions.review(
            request=request, actor=reviewer, decision="reject", comment="latency regressed"
        )
    assert request.state == "rejected"
    with pytest.raises(Conflict, match="rejected"):
        promotions.review(request=request, actor=reviewer, decision="approve")
    assert stage_of(staged) == Stage.STAGING
    assert mail.outbox and "rejected" in mail.outbox[-1].subject


def test_the_requester_may_cancel_and_nobody_else(
    staged: ModelVersion, contributor: User, maintainer: User
) -> None:
    request = open_request(staged, contributor)
    with pytest.raises(PermissionDenied):
        promotions.cancel(request=request, actor=maintainer)
    assert promotions.cancel(request=request, actor=contributor).state == "cancelled"


def test_an_expired_request_cannot_be_reviewed_and_the_sweep_closes_it(
    staged: ModelVersion, contributor: User, reviewer: User
) -> None:
    request = open_request(staged, contributor)
    PromotionRequest.objects.filter(pk=request.pk).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    with pytest.raises(Conflict, match="expired"):
        promotions.review(request=request, actor=reviewer, decision="approve")
    assert promotions.expire_requests() == 1
    assert PromotionRequest.objects.get(pk=request.pk).state == "expired"


def test_one_open_request_per_version_and_target(staged: ModelVersion, contributor: User) -> None:
    open_request(staged, contributor)
    with pytest.raises(Conflict, match="already open"):
        open_request(staged, contributor)


def test_a_request_the_lifecycle_does_not_allow_is_refused(
    model: RegisteredModel, make_version: MakeVersion, contributor: User
) -> None:
    version = make_version(model, "1.0.0")
    with pytest.raises(Conflict, match="cannot move to Production"):
        open_request(version, contributor)
    assert not PromotionRequest.objects.exists()


def test_failing_gates_hold_an_approved_request_until_a_maintainer_overrides(
    staged: ModelVersion, team: Team, contributor: User, reviewer: User, maintainer: User
) -> None:
    policy = PromotionPolicy.objects.create(
        team=team, target_stage="production", required_approvals=1
    )
    PromotionGate.objects.create(policy=policy, kind="metric_rule", rule="metrics.test.auc >= 0.99")
    request = open_request(staged, contributor)
    assert not request.gates_passed

    _entry, request = promotions.review(request=request, actor=reviewer, decision="approve")
    assert request.is_open and stage_of(staged) == Stage.STAGING

    with pytest.raises(PermissionDenied):
        promotions.override_gates(request=request, actor=reviewer, reason="hotfix")
    with pytest.raises(ValidationError):
        promotions.override_gates(request=request, actor=maintainer, reason=" ")
    request = promotions.override_gates(request=request, actor=maintainer, reason="incident 42")

    assert request.state == "applied" and stage_of(staged) == Stage.PRODUCTION
    event = AuditEvent.objects.get(action="promotion.override")
    assert event.changes["override_reason"] == [None, "incident 42"]


def test_zero_approvals_with_passing_gates_applies_at_once(
    staged: ModelVersion, team: Team, contributor: User
) -> None:
    PromotionPolicy.objects.create(team=team, target_stage="production", required_approvals=0)
    request = open_request(staged, contributor)
    assert request.state == "applied" and stage_of(staged) == Stage.PRODUCTION


def test_a_direct_change_is_refused_when_the_policy_needs_approvals(
    staged: ModelVersion, maintainer: User
) -> None:
    with pytest.raises(Conflict, match="promotion request"):
        change_stage(version=staged, to_stage=Stage.PRODUCTION, actor=maintainer)
    assert stage_of(staged) == Stage.STAGING


def test_rollback_re_promotes_an_earlier_production_version(
    model: RegisteredModel, make_version: MakeVersion, contributor: User, reviewer: User
) -> None:
    old = make_version(model, "0.9.0")
    new = make_version(model, "1.0.0")
    for version in (old, new):
        apply_transition(version=version, to_stage=Stage.PRODUCTION, actor=None)
    assert stage_of(old) == Stage.ARCHIVED

    request = promotions.request_promotion(
        version=old, to_stage="production", actor=contributor,
        justification="1.0.0 broke checkout", purpose="rollback",
    )  # fmt: skip
    assert request.policy["required_approvals"] == 1
    promotions.review(request=request, actor=reviewer, decision="approve")

    assert stage_of(old) == Stage.PRODUCTION and stage_of(new) == Stage.ARCHIVED


def test_rollback_needs_a_version_that_was_in_production(
    model: RegisteredModel, make_version: MakeVersion, contributor: User
) -> None:
    version = make_version(model, "1.0.0")
    apply_transition(version=version, to_stage=Stage.ARCHIVED, actor=None)
    with pytest.raises(Conflict, match="never been in Production"):
        promotions.request_promotion(
            version=version, to_stage="production", actor=contributor,
            justification="x", purpose="rollback",
        )  # fmt: skip


def test_a_model_may_allow_several_production_versions(
    model: RegisteredModel, make_version: MakeVersion
) -> None:
    RegisteredModel.objects.filter(pk=model.pk).update(allow_multiple_production=True)
    a, b = make_version(model, "1.0.0"), make_version(model, "2.0.0")
    for version in (a, b):
        apply_transition(version=version, to_stage=Stage.PRODUCTION, actor=None)
    assert stage_of(a) == stage_of(b) == Stage.PRODUCTION


def test_the_inbox_lists_what_the_user_may_act_on(
    staged: ModelVersion, contributor: User, reviewer: User, viewer: User
) -> None:
    request = open_request(staged, contributor)
    assert list(promotions.open_requests_to_review(reviewer)) == [request]
    assert list(promotions.open_requests_to_review(contributor)) == []  # own request
    assert list(promotions.open_requests_to_review(viewer)) == []


def test_only_maintainers_let_a_model_serve_several_production_versions(
    client: Any, model: RegisteredModel, contributor: User, maintainer: User
) -> None:
    with pytest.raises(PermissionDenied):
        update_model(model=model, actor=contributor, allow_multiple_production=True)
    client.force_login(maintainer)
    client.post(
        f"/models/fraud/{model.name}/edit/",
        {"task_type": "other", "visibility": "team", "allow_multiple_production": "on"},
    )
    assert RegisteredModel.objects.get(pk=model.pk).allow_multiple_production is True
    assert AuditEvent.objects.filter(
        action="model.update", changes__allow_multiple_production=[False, True]
    ).exists()
