"""Promotion requests: open, review, override, cancel, expire, and apply.

The lifecycle is Development → Staging → Production → Archived. Entering Staging or
Production is gated by the policy in force (registry.policies): a request collects
approvals from distinct eligible reviewers (never the requester), its gates must pass (or
a maintainer overrides them with a recorded reason), and then the transition is applied
in the same transaction as the approval that completed it. Every step takes the model's
row lock first, then the request's, so racing approvals or requests serialise: a request
is applied once, and a model keeps one Production version (unless it allows several).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from accounts import audit
from accounts.policy import Action, can, memberships, require
from registry import notifications, policies, webhooks
from registry.errors import Conflict
from registry.models import (
    Decision,
    GatedStage,
    ModelVersion,
    PromotionRequest,
    Purpose,
    RegisteredModel,
    RequestState,
    Review,
    Stage,
    StageTransition,
)

MAX_TEXT = 5000
# Stage changes the lifecycle allows; entering Staging or Production goes through a
# policy, and re-entering Production from Archived is a rollback.
ALLOWED: dict[str, frozenset[str]] = {
    Stage.DEVELOPMENT: frozenset({Stage.STAGING, Stage.ARCHIVED}),
    Stage.STAGING: frozenset({Stage.PRODUCTION, Stage.DEVELOPMENT, Stage.ARCHIVED}),
    Stage.PRODUCTION: frozenset({Stage.STAGING, Stage.ARCHIVED}),
    Stage.ARCHIVED: frozenset({Stage.DEVELOPMENT}),
}


def check_transition(from_stage: str, to_stage: str, purpose: str = Purpose.PROMOTION) -> None:
    """Raise Conflict unless the lifecycle allows from_stage → to_stage for the purpose."""
    if to_stage not in Stage.values:
        raise ValidationError(
            {"to_stage": f"unknown stage {to_stage!r}: use one of {', '.join(Stage.values)}"}
        )
    if from_stage == to_stage:
        raise Conflict(f"The version is already in {Stage(to_stage).label}.", "to_stage")
    if purpose == Purpose.ROLLBACK:
        if to_stage != Stage.PRODUCTION:
            raise Conflict("A rollback re-promotes a version to Production.", "to_stage")
        return
    if to_stage not in ALLOWED[from_stage]:
        allowed = ", ".join(Stage(s).label for s in sorted(ALLOWED[from_stage])) or "nothing"
        raise Conflict(
            f"A {Stage(from_stage).label} version cannot move to {Stage(to_stage).label}; "
            f"from {Stage(from_stage).label} it may move to: {allowed}.",
            "to_stage",
        )


def targets(version: ModelVersion) -> list[str]:
    """Stages the version may be requested into or moved to next, in lifecycle order."""
    return [s for s in Stage.values if s in ALLOWED[version.stage]]


def was_in_production(version: ModelVersion) -> bool:
    return StageTransition.objects.filter(version=version, to_stage=Stage.PRODUCTION).exists()


# --- opening --------------------------------------------------------------------------


def request_promotion(
    *,
    version: ModelVersion,
    to_stage: str,
    actor: Any,
    justification: str,
    purpose: str = Purpose.PROMOTION,
) -> PromotionRequest:
    """Open a request (audited, reviewers notified); applied at once when the policy needs
    no approval and the gates pass."""
    require(actor, Action.CONTRIBUTE, version)
    justification = _clean_text(justification, "justification", required=True)
    if to_stage not in GatedStage.values:
        raise ValidationError(
            {"to_stage": "requests are for Staging or Production; other moves are direct"}
        )
    if purpose not in Purpose.values:
        raise ValidationError({"purpose": f"use one of {', '.join(Purpose.values)}"})
    with transaction.atomic():
        model = _lock_model(version.model_id)
        current = _fresh(version)
        check_transition(current.stage, to_stage, purpose)
        if purpose == Purpose.ROLLBACK and not was_in_production(current):
            raise Conflict(
                f"{current.version} has never been in Production, so it cannot be rolled back to.",
                "version",
            )
        existing = (
            PromotionRequest.objects.open().filter(version=current, to_stage=to_stage).first()
        )
        if existing is not None:
            raise Conflict(
                f"Request #{existing.pk} to move {current.version} to "
                f"{Stage(to_stage).label} is already open.",
                "to_stage",
            )
        policy = policies.effective_policy(model, to_stage, purpose)
        results = policies.evaluate_gates(policy, current)
        now = timezone.now()
        request = PromotionRequest.objects.create(
            team=model.team,
            model=model,
            version=current,
            purpose=purpose,
            from_stage=current.stage,
            to_stage=to_stage,
            requested_by=_user(actor),
            justification=justification,
            policy=policies.snapshot(policy),
            reviewer_roles=",".join(["", *policy.reviewer_roles, ""]),
            author_may_review=policy.author_may_review,
            gate_results=[r.as_dict() for r in results],
            gates_passed=all(r.passed for r in results),
            expires_at=now + dt.timedelta(hours=policy.expiry_hours),
        )
        audit.record(
            "promotion.request",
            actor=actor,
            obj=request,
            team=model.team,
            changes={
                "version": [None, current.version],
                "to_stage": [None, to_stage],
                "purpose": [None, purpose],
                "gates_passed": [None, request.gates_passed],
                "justification": [None, justification],
            },
        )
        _emit(request, webhooks.Event.PROMOTION_REQUESTED, actor)
        if request.required_approvals == 0 and request.gates_passed:
            _apply(request, actor, now)
        else:
            notifications.request_opened(request)
    return request


# --- reviewing ------------------------------------------------------------------------


def review(
    *, request: PromotionRequest, actor: Any, decision: str, comment: str = ""
) -> tuple[Review | None, PromotionRequest]:
    """Approve, reject or comment. An approval that completes the policy (with gates
    passing) applies the transition in the same transaction. Approving twice counts once:
    the second returns (None, request) and records nothing."""
    if decision not in Decision.values:
        raise ValidationError({"decision": f"use one of {', '.join(Decision.values)}"})
    comment = _clean_text(comment, "comment", required=decision != Decision.APPROVE)
    with transaction.atomic():
        _lock_model(request.model_id)
        locked = _lock_request(request.pk)
        _require_open(locked)
        if decision == Decision.COMMENT:
            _require_may_comment(actor, locked)
        else:
            problem = review_problem(actor, locked)
            if problem:
                raise PermissionDenied(problem)
        if (
            decision == Decision.APPROVE
            and locked.reviews.filter(reviewer=actor, decision=Decision.APPROVE).exists()
        ):
            return None, locked
        try:
            with transaction.atomic():
                entry = Review.objects.create(
                    request=locked, reviewer=actor, decision=decision, comment=comment
                )
        except IntegrityError:  # a racing click of the same reviewer got there first
            return None, locked
        audit.record(
            f"promotion.{decision}",
            actor=actor,
            obj=locked,
            team=locked.team,
            changes={"comment": [None, comment or None]},
        )
        now = timezone.now()
        if decision == Decision.REJECT:
            _close(locked, RequestState.REJECTED, actor, now, f"rejected: {comment}")
            _emit(locked, webhooks.Event.PROMOTION_REJECTED, actor, comment=comment)
            notifications.request_decided(locked, actor)
        elif decision == Decision.APPROVE:
            _apply_if_ready(locked, actor, now)
        else:
            notifications.request_commented(locked, actor)
    return entry, locked


def override_gates(*, request: PromotionRequest, actor: Any, reason: str) -> PromotionRequest:
    """A maintainer lets a request through failing gates, with a recorded reason."""
    reason = _clean_text(reason, "reason", required=True)
    with transaction.atomic():
        _lock_model(request.model_id)
        locked = _lock_request(request.pk)
        require(actor, Action.MAINTAIN, locked.model)
        _require_open(locked)
        if locked.override_reason:
            raise Conflict("The gates of this request are already overridden.", "reason")
        if locked.gates_passed:
            raise Conflict("Every gate of this request passes: there is nothing to override.")
        locked.override_reason, locked.overridden_by = reason, _user(actor)
        locked.save(update_fields=["override_reason", "overridden_by"])
        audit.record(
            "promotion.override",
            actor=actor,
            obj=locked,
            team=locked.team,
            changes={
                "override_reason": [None, reason],
                "failing_gates": [
                    None,
                    [g["gate"] for g in locked.gate_results if not g["passed"]],
                ],
            },
        )
        _apply_if_ready(locked, actor, timezone.now())
    return locked


def cancel(*, request: PromotionRequest, actor: Any) -> PromotionRequest:
    """The requester withdraws an open request."""
    with transaction.atomic():
        locked = _lock_request(request.pk)
        if actor.pk != locked.requested_by_id:
            raise PermissionDenied("Only the requester may cancel a request.")
        _require_open(locked)
        _close(locked, RequestState.CANCELLED, actor, timezone.now(), "cancelled by the requester")
    return locked


def expire_requests(now: dt.datetime | None = None) -> int:
    """Close every open request past its expiry; returns how many (a periodic task)."""
    now = now or timezone.now()
    count = 0
    for pk in (
        PromotionRequest.objects.open().filter(expires_at__lte=now).values_list("pk", flat=True)
    ):
        with transaction.atomic():
            locked = _lock_request(pk)
            if locked.is_open and locked.expires_at <= now:
                _close(locked, RequestState.EXPIRED, None, now, "expired")
                count += 1
    return count


# --- applying -------------------------------------------------------------------------


def approvals(request: PromotionRequest) -> int:
    return request.reviews.filter(decision=Decision.APPROVE).values("reviewer").distinct().count()


def _apply_if_ready(request: PromotionRequest, actor: Any, now: dt.datetime) -> None:
    if approvals(request) < request.required_approvals:
        notifications.request_approved(request, actor)
        return
    # Recompute: metrics, Production's champion or time in stage may have changed.
    policy = policies.effective_policy(request.model, request.to_stage, request.purpose)
    results = policies.evaluate_gates(policy, request.version, now)
    request.gate_results = [r.as_dict() for r in results]
    request.gates_passed = all(r.passed for r in results)
    request.save(update_fields=["gate_results", "gates_passed"])
    if request.gates_passed or request.override_reason:
        _apply(request, actor, now)
    else:
        notifications.request_blocked(request)


def _apply(request: PromotionRequest, actor: Any, now: dt.datetime) -> None:
    from registry.services import apply_transition

    version = _fresh(request.version)
    if version.stage != request.from_stage:
        _close(
            request,
            RequestState.CANCELLED,
            None,
            now,
            f"the version moved to {Stage(version.stage).label} meanwhile",
        )
        raise Conflict(
            f"{version.version} moved to {Stage(version.stage).label} since the request was "
            "opened; the request is closed, open a new one.",
        )
    apply_transition(
        version=version,
        to_stage=request.to_stage,
        actor=actor,
        comment=f"request #{request.pk}: {request.justification}"[:2000],
        request=request,
        replaced_stage=request.policy.get("replaced_stage", Stage.ARCHIVED),
    )
    request.version = version
    _close(request, RequestState.APPLIED, actor, now, "approved and applied")
    _emit(request, webhooks.Event.PROMOTION_APPROVED, actor)
    notifications.request_decided(request, actor)


def _close(
    request: PromotionRequest, state: str, actor: Any, now: dt.datetime, reason: str
) -> None:
    request.state, request.closed_at, request.close_reason = state, now, reason[:500]
    request.closed_by = _user(actor)
    request.save(update_fields=["state", "closed_at", "closed_by", "close_reason"])
    audit.record(
        f"promotion.{state}",
        actor=actor,
        obj=request,
        team=request.team,
        changes={"state": [RequestState.OPEN, state], "reason": [None, reason[:500]]},
    )


def _emit(request: PromotionRequest, event: str, actor: Any, **extra: Any) -> None:
    webhooks.emit(
        request.team,
        event,
        {
            "request_id": request.pk,
            "purpose": request.purpose,
            "from_stage": request.from_stage,
            "to_stage": request.to_stage,
            "state": request.state,
            "gates_passed": request.gates_passed,
            "url": request.get_absolute_url(),
            **extra,
        },
        actor=actor,
        version=request.version,
    )


# --- helpers --------------------------------------------------------------------------


def _require_open(request: PromotionRequest) -> None:
    now = timezone.now()
    if request.is_open and request.expires_at <= now:
        # expire_requests() records it; the request is closed for this action already.
        raise Conflict(f"Request #{request.pk} expired on {request.expires_at:%Y-%m-%d %H:%M}.")
    if not request.is_open:
        raise Conflict(f"Request #{request.pk} is {request.get_state_display().lower()}.")


def review_problem(user: Any, request: PromotionRequest) -> str | None:
    """Why the user may not approve or reject this request under its policy (None: they may)."""
    return policies.eligibility_problem(
        user,
        policy=request.policy,
        team_id=request.team_id,
        requester_id=request.requested_by_id,
        author_id=request.version.created_by_id,
    )


def may_comment(user: Any, request: PromotionRequest) -> bool:
    """The requester and the team's contributors and above take part in the thread."""
    return user.pk == request.requested_by_id or can(user, Action.CONTRIBUTE, request.model)


def _require_may_comment(actor: Any, request: PromotionRequest) -> None:
    if not may_comment(actor, request):
        raise PermissionDenied("You need the contributor role in this team to comment.")


def _lock_model(model_id: int) -> RegisteredModel:
    return RegisteredModel.objects.select_for_update().select_related("team").get(pk=model_id)


def _lock_request(pk: int) -> PromotionRequest:
    return (
        PromotionRequest.objects.select_for_update(of=("self",))
        .select_related("team", "model__team", "version__model__team", "requested_by")
        .get(pk=pk)
    )


def _fresh(version: ModelVersion) -> ModelVersion:
    found = ModelVersion.objects.select_related("model__team").filter(pk=version.pk).first()
    if found is None:  # deleted (registry.services.delete_version) since it was fetched
        raise Conflict(f"version {version.version} was deleted", "version")
    return found


def _user(actor: Any) -> Any:
    return actor if actor is not None and getattr(actor, "is_authenticated", False) else None


def _clean_text(text: str, field: str, *, required: bool) -> str:
    text = (text or "").strip()
    if required and not text:
        raise ValidationError({field: "this field is required"})
    if len(text) > MAX_TEXT:
        raise ValidationError({field: f"at most {MAX_TEXT} characters (got {len(text)})"})
    return text


def open_requests_to_review(user: Any) -> Any:
    """Open requests this user may still act on (the inbox): not their own, not already
    approved by them, not expired."""
    qs = PromotionRequest.objects.open().exclude(requested_by=user)
    if not user.is_superuser:
        by_role = Q(pk__in=[])
        for team_id, role in memberships(user).items():
            by_role |= Q(team_id=team_id, reviewer_roles__contains=f",{role},")
        qs = qs.filter(by_role)
    already_approved = Review.objects.filter(
        request=OuterRef("pk"), reviewer=user, decision=Decision.APPROVE
    )
    return (
        qs.filter(expires_at__gt=timezone.now())
        .exclude(version__created_by=user, author_may_review=False)
        .exclude(Exists(already_approved))
    )
