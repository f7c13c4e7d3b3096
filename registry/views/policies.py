"""A team's promotion policies and their gates, managed by its maintainers."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Team
from accounts.policy import Action, require, teams_q
from registry import policies
from registry.forms import GateForm, PolicyForm
from registry.models import GatedStage, PromotionGate, PromotionPolicy, Purpose, RegisteredModel
from registry.views.common import HtmxHttpRequest

SLOTS = [
    (GatedStage.STAGING, Purpose.PROMOTION),
    (GatedStage.PRODUCTION, Purpose.PROMOTION),
    (GatedStage.STAGING, Purpose.ROLLBACK),
    (GatedStage.PRODUCTION, Purpose.ROLLBACK),
]


def _team_for_maintainer(user: object, slug: str) -> Team:
    team = get_object_or_404(Team.objects.filter(teams_q(user)), slug=slug)
    require(user, Action.MAINTAIN, team)
    return team


@require_GET
def team_policies(request: HtmxHttpRequest, team: str) -> HttpResponse:
    team_obj = _team_for_maintainer(request.user, team)
    saved = list(
        PromotionPolicy.objects.filter(team=team_obj)
        .select_related("model", "team")
        .prefetch_related("gates")
    )
    team_wide = {(p.target_stage, p.purpose): p for p in saved if p.model_id is None}
    cards = []
    for target, purpose in SLOTS:
        policy = team_wide.get((target, purpose))
        if policy is None:
            policy = policies.effective_policy(RegisteredModel(team=team_obj), target, purpose)
        cards.append({"policy": policy, "form": _policy_form(policy)})
    overrides = [{"policy": p, "form": _policy_form(p)} for p in saved if p.model_id is not None]
    context = {
        "team": team_obj,
        "cards": cards,
        "overrides": overrides,
        "models": team_obj.models.order_by("name"),
        "gate_form": GateForm(),
        "slots": SLOTS,
    }
    return render(request, "registry/team_policies.html", context)


def _policy_form(policy: PromotionPolicy) -> PolicyForm:
    return PolicyForm(
        initial={name: getattr(policy, name) for name in policies.POLICY_FIELDS},
        prefix=f"p{policy.pk or ''}{policy.target_stage}{policy.purpose}",
    )


@require_POST
def policy_save(request: HtmxHttpRequest, team: str) -> HttpResponse:
    team_obj = _team_for_maintainer(request.user, team)
    model = None
    if request.POST.get("model"):
        model = get_object_or_404(RegisteredModel, team=team_obj, pk=request.POST["model"])
    form = PolicyForm(request.POST, prefix=request.POST.get("prefix") or None)
    if not form.is_valid():
        messages.error(request, _errors(form.errors))
        return redirect("team-policies", team=team)
    try:
        policies.save_policy(
            team=team_obj,
            actor=request.user,
            model=model,
            target_stage=request.POST.get("target_stage", ""),
            purpose=request.POST.get("purpose", Purpose.PROMOTION),
            **form.cleaned_data,
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Policy saved.")
    return redirect("team-policies", team=team)


@require_POST
def policy_delete(request: HtmxHttpRequest, team: str, pk: int) -> HttpResponse:
    team_obj = _team_for_maintainer(request.user, team)
    policy = get_object_or_404(PromotionPolicy, team=team_obj, pk=pk)
    policies.delete_policy(policy=policy, actor=request.user)
    messages.success(request, "Policy removed; the team's policy or the default applies again.")
    return redirect("team-policies", team=team)


@require_POST
def gate_add(request: HtmxHttpRequest, team: str, pk: int) -> HttpResponse:
    team_obj = _team_for_maintainer(request.user, team)
    policy = get_object_or_404(PromotionPolicy, team=team_obj, pk=pk)
    form = GateForm(request.POST)
    if not form.is_valid():
        messages.error(request, _errors(form.errors))
        return redirect("team-policies", team=team)
    try:
        policies.add_gate(
            policy=policy, actor=request.user, kind=form.cleaned_data["kind"], **form.gate_fields()
        )
    except ValidationError as exc:
        messages.error(request, _errors(exc.message_dict if hasattr(exc, "error_dict") else {}))
    else:
        messages.success(request, "Gate added.")
    return redirect("team-policies", team=team)


@require_POST
def gate_remove(request: HtmxHttpRequest, team: str, pk: int) -> HttpResponse:
    team_obj = _team_for_maintainer(request.user, team)
    gate = get_object_or_404(
        PromotionGate.objects.select_related("policy__team"), pk=pk, policy__team=team_obj
    )
    policies.remove_gate(gate=gate, actor=request.user)
    messages.success(request, "Gate removed.")
    return redirect("team-policies", team=team)


def _errors(errors: dict) -> str:
    return "; ".join(f"{field}: {' '.join(map(str, msgs))}" for field, msgs in errors.items())
