"""Promotion policies: which one applies, who may review under it, and its gates.

A policy is looked up most specific first: the model's own for the target stage and
purpose, then the team's, then the built-in default (`DEFAULTS`): one approval for
Staging, two for Production, one to roll back, reviewers and maintainers eligible.
Gates are evaluated against the database, the same way for a request being opened, a
request being applied and a direct change.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import audit
from accounts.models import Membership
from accounts.policy import Action, memberships, require
from cards.cards import TITLES, missing_sections
from lineage.models import Edge, NodeType
from registry.models import (
    GatedStage,
    GateKind,
    Metric,
    ModelVersion,
    PromotionGate,
    PromotionPolicy,
    Purpose,
    RegisteredModel,
    Stage,
)
from registry.search import Condition, Node, SearchError, parse, version_filter

Role = Membership.Role

DEFAULTS: dict[tuple[str, str], dict[str, int]] = {
    (GatedStage.STAGING, Purpose.PROMOTION): {"required_approvals": 1},
    (GatedStage.PRODUCTION, Purpose.PROMOTION): {"required_approvals": 2},
    (GatedStage.STAGING, Purpose.ROLLBACK): {"required_approvals": 1},
    (GatedStage.PRODUCTION, Purpose.ROLLBACK): {"required_approvals": 1},
}
# Roles a policy may make eligible to review (viewers may not: they cannot act on models).
REVIEWER_ROLES = (Role.CONTRIBUTOR, Role.REVIEWER, Role.MAINTAINER)
# Required metadata a gate may ask for -> (label, test on a loaded version).
METADATA_FIELDS: dict[str, str] = {
    "description": "a description",
    "signature": "an input/output signature",
    "datasets": "dataset lineage",
    "code_commit": "a code commit",
    "params": "hyperparameters",
    "environment": "the environment",
    "metrics": "metrics",
    "artifacts": "artifacts",
    # The model card's written sections (cards.models.SECTIONS).
    "card.intended_use": "the model card's intended use",
    "card.out_of_scope": "the model card's out-of-scope uses",
    "card.limitations": "the model card's limitations",
    "card.ethical_considerations": "the model card's ethical considerations",
    "card.caveats": "the model card's caveats",
}


def effective_policy(
    model: RegisteredModel, to_stage: str, purpose: str = Purpose.PROMOTION
) -> PromotionPolicy:
    """The policy in force (an unsaved default when none is configured), gates prefetched."""
    candidates = [
        p
        for p in PromotionPolicy.objects.filter(
            team_id=model.team_id, target_stage=to_stage, purpose=purpose
        ).prefetch_related("gates")
        if p.model_id in (None, model.pk)
    ]
    for policy in sorted(candidates, key=lambda p: p.model_id is None):
        return policy
    return PromotionPolicy(
        team_id=model.team_id, target_stage=to_stage, purpose=purpose, **DEFAULTS[to_stage, purpose]
    )


def snapshot(policy: PromotionPolicy) -> dict[str, Any]:
    """What a request stores of the policy it was opened under."""
    return {
        "id": policy.pk,
        "scope": "model" if policy.model_id else ("team" if policy.pk else "default"),
        "required_approvals": policy.required_approvals,
        "reviewer_roles": list(policy.reviewer_roles),
        "author_may_review": policy.author_may_review,
        "expiry_hours": policy.expiry_hours,
        "replaced_stage": policy.replaced_stage,
    }


def eligibility_problem(
    user: Any,
    *,
    policy: dict[str, Any],
    team_id: int,
    requester_id: int | None,
    author_id: int | None,
) -> str | None:
    """Why the user may not review under this policy snapshot (None: they may)."""
    if not user.is_authenticated or not user.is_active:
        return "Sign in to review."
    if user.pk == requester_id:
        return "You requested this promotion; someone else must review it."
    if user.pk == author_id and not policy.get("author_may_review"):
        return "You registered this version, and this policy does not let its author review it."
    if user.is_superuser:
        return None
    role = memberships(user).get(team_id)
    if role not in policy.get("reviewer_roles", []):
        roles = ", ".join(policy.get("reviewer_roles", [])) or "nobody"
        return f"Only these team roles may review under this policy: {roles}."
    return None


def clean_policy(policy: PromotionPolicy) -> None:
    """Validate a policy's own fields (gates are validated by clean_gate)."""
    roles = policy.reviewer_roles
    if not isinstance(roles, list) or any(r not in REVIEWER_ROLES for r in roles):
        raise ValidationError(
            {"reviewer_roles": f"choose among: {', '.join(r.value for r in REVIEWER_ROLES)}"}
        )
    if policy.required_approvals and not roles:
        raise ValidationError(
            {"reviewer_roles": "choose at least one role when approvals are required"}
        )
    if policy.model_id and policy.model.team_id != policy.team_id:
        raise ValidationError({"model": "the model must belong to the policy's team"})


# --- gates ----------------------------------------------------------------------------


@dataclass(frozen=True)
class GateResult:
    gate: str
    kind: str
    passed: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"gate": self.gate, "kind": self.kind, "passed": self.passed, "detail": self.detail}


def describe_gate(gate: PromotionGate) -> str:
    match gate.kind:
        case GateKind.METRIC_RULE:
            return gate.rule
        case GateKind.CHAMPION:
            slack = f" by more than {gate.tolerance:g}" if gate.tolerance else ""
            return f"{gate.metric} not worse{slack} than the Production version"
        case GateKind.TIME_IN_STAGE:
            return f"at least {gate.hours} h in {Stage(gate.stage).label if gate.stage else '?'}"
        case GateKind.REQUIRED_METADATA:
            return "has " + ", ".join(METADATA_FIELDS.get(f, f) for f in gate.fields)
    return gate.kind


def clean_gate(gate: PromotionGate) -> None:
    """Validate the fields `gate.kind` uses; ValidationError names the field and rule."""
    match gate.kind:
        case GateKind.METRIC_RULE:
            if not gate.rule.strip():
                raise ValidationError({"rule": "a metric rule needs a condition"})
            try:
                parse(gate.rule, "versions")
            except SearchError as exc:
                raise ValidationError({"rule": f"does not parse: {exc}"}) from None
        case GateKind.CHAMPION:
            _metric_key(gate.metric)
        case GateKind.TIME_IN_STAGE:
            if gate.stage not in (Stage.DEVELOPMENT, Stage.STAGING, Stage.PRODUCTION):
                raise ValidationError({"stage": "choose Development, Staging or Production"})
            if not 1 <= gate.hours <= 24 * 365:
                raise ValidationError({"hours": "must be between 1 and 8760"})
        case GateKind.REQUIRED_METADATA:
            unknown = [f for f in gate.fields if f not in METADATA_FIELDS]
            if not gate.fields or unknown or not isinstance(gate.fields, list):
                raise ValidationError(
                    {"fields": f"choose one or more of: {', '.join(METADATA_FIELDS)}"}
                )
        case _:
            raise ValidationError({"kind": f"unknown gate kind {gate.kind!r}"})


def _metric_key(metric: str) -> tuple[str, str]:
    split, _, name = metric.strip().partition(".")
    if split not in ("train", "validation", "test", "business") or not name:
        raise ValidationError(
            {
                "metric": "write the metric as split.name, e.g. test.auc "
                "(splits: train, validation, test, business)"
            }
        )
    return split, name


def evaluate_gates(
    policy: PromotionPolicy, version: ModelVersion, now: dt.datetime | None = None
) -> list[GateResult]:
    """Every gate of the policy against the version as the database has it now."""
    now = now or timezone.now()
    gates = policy.gates.all() if policy.pk else []  # the built-in defaults have no gates
    return [_evaluate(gate, version, now) for gate in gates]


def _evaluate(gate: PromotionGate, version: ModelVersion, now: dt.datetime) -> GateResult:
    name = describe_gate(gate)
    match gate.kind:
        case GateKind.METRIC_RULE:
            passed, detail = _metric_rule(gate.rule, version)
        case GateKind.CHAMPION:
            passed, detail = _champion(gate, version)
        case GateKind.TIME_IN_STAGE:
            passed, detail = _time_in_stage(gate, version, now)
        case _:
            passed, detail = _required_metadata(gate.fields, version)
    return GateResult(gate=name, kind=gate.kind, passed=passed, detail=detail)


def _metric_rule(rule: str, version: ModelVersion) -> tuple[bool, str]:
    try:
        tree = parse(rule, "versions")
    except SearchError as exc:  # saved before a grammar change: fail closed, say why
        return False, f"the rule does not parse: {exc}"
    passed = ModelVersion.objects.filter(pk=version.pk).filter(version_filter(rule)).exists()
    keys = sorted({c.key for c in _conditions(tree) if c.field == "metrics"})
    values = {
        (m.split, m.name): m.value
        for m in Metric.objects.filter(version=version, split__in={k[0] for k in keys})
        if (m.split, m.name) in keys
    }
    shown = ", ".join(
        f"{'.'.join(k)} = {values[k]:g}" if k in values else f"{'.'.join(k)} missing" for k in keys
    )
    return passed, shown or ("matches" if passed else "does not match")


def _conditions(node: Node) -> list[Condition]:
    if isinstance(node, Condition):
        return [node]
    children = getattr(node, "items", None) or (getattr(node, "item", None),)
    return [c for child in children if child is not None for c in _conditions(child)]


def current_production(version: ModelVersion) -> ModelVersion | None:
    """The version a candidate would replace: the model's latest to enter Production,
    other than the candidate itself."""
    return (
        ModelVersion.objects.filter(model_id=version.model_id, stage=Stage.PRODUCTION)
        .exclude(pk=version.pk)
        .select_related("model__team")
        .order_by("-stage_changed_at", "-id")
        .first()
    )


def _champion(gate: PromotionGate, version: ModelVersion) -> tuple[bool, str]:
    split, name = _metric_key(gate.metric)
    champion = current_production(version)
    if champion is None:
        return True, "no version is in Production: nothing to beat"
    metrics = {
        m.version_id: m
        for m in Metric.objects.filter(version__in=[version, champion], split=split, name=name)
    }
    mine, theirs = metrics.get(version.pk), metrics.get(champion.pk)
    if mine is None:
        return False, f"this version has no {gate.metric}"
    if theirs is None:
        return True, f"Production ({champion.version}) has no {gate.metric}: nothing to beat"
    delta = mine.value - theirs.value
    worse_by = -delta if mine.direction == "higher" else delta
    passed = worse_by <= gate.tolerance + 1e-12
    direction = "higher" if mine.direction == "higher" else "lower"
    return passed, (
        f"{mine.value:g} vs {theirs.value:g} in Production ({champion.version}), "
        f"{direction} is better; delta {delta:+g}"
    )


def _time_in_stage(
    gate: PromotionGate, version: ModelVersion, now: dt.datetime
) -> tuple[bool, str]:
    stage = Stage(gate.stage)
    if version.stage != gate.stage or version.stage_changed_at is None:
        return False, f"the version is not in {stage.label}"
    held = now - version.stage_changed_at
    hours = held.total_seconds() / 3600
    return hours >= gate.hours, f"{hours:.1f} h in {stage.label} (needs {gate.hours} h)"


def _required_metadata(fields: list[str], version: ModelVersion) -> tuple[bool, str]:
    present = {
        "description": bool(version.description.strip()),
        "signature": bool(version.signature),
        "code_commit": bool(version.code_commit),
        "params": bool(version.params),
        "environment": bool(version.environment),
    }
    lazy = {
        "datasets": lambda: Edge.objects.filter(
            dst_type=NodeType.VERSION, dst_id=version.pk, src_type=NodeType.DATASET
        ).exists(),
        "metrics": lambda: version.metrics.exists(),
        "artifacts": lambda: version.artifacts.exists(),
    }
    sections = [f.removeprefix("card.") for f in fields if f.startswith("card.")]
    empty = set(missing_sections(version, sections)) if sections else set()
    missing = [
        METADATA_FIELDS[f]
        for f in fields
        if (f.startswith("card.") and TITLES[f.removeprefix("card.")] in empty)
        or (not f.startswith("card.") and not (present[f] if f in present else lazy[f]()))
    ]
    if missing:
        return False, "missing " + ", ".join(missing)
    return True, "all present"


# --- managing policies (team settings page, admin, API) ---------------------------------

POLICY_FIELDS = (
    "required_approvals",
    "reviewer_roles",
    "author_may_review",
    "expiry_hours",
    "replaced_stage",
)


def save_policy(
    *,
    team: Any,
    actor: Any,
    target_stage: str,
    purpose: str = Purpose.PROMOTION,
    model: RegisteredModel | None = None,
    **fields: Any,
) -> PromotionPolicy:
    """Create or change the team's (or one model's) policy for a target and purpose."""
    require(actor, Action.MAINTAIN, team)
    if target_stage not in GatedStage.values:
        raise ValidationError({"target_stage": "policies are for Staging or Production"})
    if purpose not in Purpose.values:
        raise ValidationError({"purpose": f"use one of {', '.join(Purpose.values)}"})
    unknown = set(fields) - set(POLICY_FIELDS)
    if unknown:
        raise ValidationError({sorted(unknown)[0]: "unknown policy field"})
    with transaction.atomic():
        policy = (
            PromotionPolicy.objects.select_for_update()
            .filter(team=team, model=model, target_stage=target_stage, purpose=purpose)
            .order_by()
            .first()
        )
        before = _policy_state(policy) if policy else {}
        if policy is None:
            policy = PromotionPolicy(
                team=team,
                model=model,
                target_stage=target_stage,
                purpose=purpose,
                **DEFAULTS[target_stage, purpose],
            )
        for name, value in fields.items():
            setattr(policy, name, value)
        policy.updated_by = actor
        policy.full_clean()
        policy.save()
        audit.record(
            "policy.save",
            actor=actor,
            obj=policy,
            team=team,
            changes=audit.diff(before, _policy_state(policy)),
        )
    return policy


def delete_policy(*, policy: PromotionPolicy, actor: Any) -> None:
    """Back to the team's policy (for a model) or the built-in default (for the team)."""
    require(actor, Action.MAINTAIN, policy.team)
    with transaction.atomic():
        audit.record(
            "policy.delete",
            actor=actor,
            obj=policy,
            team=policy.team,
            changes=audit.diff(_policy_state(policy), {}),
        )
        policy.delete()


def add_gate(*, policy: PromotionPolicy, actor: Any, kind: str, **fields: Any) -> PromotionGate:
    require(actor, Action.MAINTAIN, policy.team)
    gate = PromotionGate(policy=policy, kind=kind, **fields)
    clean_gate(gate)
    gate.full_clean(exclude=["policy"])
    with transaction.atomic():
        gate.save()
        audit.record(
            "policy.gate.add",
            actor=actor,
            obj=policy,
            team=policy.team,
            changes={"gate": [None, describe_gate(gate)]},
        )
    return gate


def remove_gate(*, gate: PromotionGate, actor: Any) -> None:
    require(actor, Action.MAINTAIN, gate.policy.team)
    with transaction.atomic():
        audit.record(
            "policy.gate.remove",
            actor=actor,
            obj=gate.policy,
            team=gate.policy.team,
            changes={"gate": [describe_gate(gate), None]},
        )
        gate.delete()


def _policy_state(policy: PromotionPolicy) -> dict[str, Any]:
    return {name: getattr(policy, name) for name in POLICY_FIELDS}
