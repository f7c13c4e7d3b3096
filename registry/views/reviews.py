"""The reviewer's pages: the inbox, a request with its evidence and thread, and actions."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from accounts.policy import Action, can, readable_models_q
from registry import policies, promotions
from registry.access import request_for_user, version_for_user
from registry.errors import Conflict
from registry.forms import PromotionRequestForm, ReviewForm
from registry.models import (
    Decision,
    GatedStage,
    ModelVersion,
    PromotionRequest,
    Purpose,
    RequestState,
    Stage,
)
from registry.views.common import HtmxHttpRequest, wants_partial
from registry.views.evidence import side_by_side

REQUESTS_PER_PAGE = 25
TABS = {
    "todo": "To review",
    "mine": "My requests",
    "open": "All open",
    "closed": "Closed",
}


@require_GET
def review_inbox(request: HtmxHttpRequest) -> HttpResponse:
    tab = request.GET.get("tab", "todo")
    if tab not in TABS:
        tab = "todo"
    user = request.user
    readable = PromotionRequest.objects.filter(readable_models_q(user, "model"))
    queryset = {
        "todo": promotions.open_requests_to_review(user).order_by("created_at", "id"),
        # Explicit orders: the approval count's GROUP BY drops the model's default ordering.
        "mine": readable.filter(requested_by=user).order_by("-created_at", "-id"),
        "open": readable.open().order_by("-created_at", "-id"),
        "closed": readable.exclude(state=RequestState.OPEN).order_by("-created_at", "-id"),
    }[tab].select_related("model__team", "version", "requested_by")
    page = Paginator(queryset.with_approval_count(), REQUESTS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    context = {
        "page": page,
        "rows": list(page.object_list),
        "tab": tab,
        "tabs": TABS,
        "tab_label": TABS[tab],
    }
    if wants_partial(request):
        return render(request, "registry/review_inbox.html#results", context)
    return render(request, "registry/review_inbox.html", context)


@require_http_methods(["GET", "POST"])
def request_new(request: HtmxHttpRequest, team: str, name: str, version: str) -> HttpResponse:
    """Ask for a promotion (or, with purpose=rollback, a re-promotion) of one version."""
    mv = version_for_user(request.user, team, name, version, Action.CONTRIBUTE)
    purpose = request.POST.get("purpose") or request.GET.get("purpose") or Purpose.PROMOTION
    if purpose not in Purpose.values:
        purpose = Purpose.PROMOTION
    choices = _request_targets(mv, purpose)
    initial = {"to_stage": request.GET.get("to") or (choices[0][0] if choices else "")}
    form = PromotionRequestForm(request.POST or None, initial=initial, stages=choices)
    if request.method == "POST" and form.is_valid():
        try:
            opened = promotions.request_promotion(
                version=mv, actor=request.user, purpose=purpose, **form.cleaned_data
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        except Conflict as exc:
            form.add_error(None, exc.message)
        else:
            if opened.state == RequestState.APPLIED:
                messages.success(
                    request,
                    f"{mv.version} moved to {Stage(opened.to_stage).label}: "
                    "the policy needs no approval and every gate passed.",
                )
            else:
                messages.success(request, f"Request #{opened.pk} opened; reviewers were notified.")
            return redirect(opened)
    policy = None
    to_stage = form["to_stage"].value()
    if to_stage in GatedStage.values:
        policy = policies.effective_policy(mv.model, to_stage, purpose)
    context = {
        "model": mv.model,
        "version": mv,
        "form": form,
        "purpose": purpose,
        "policy": policy,
        "gates": policies.evaluate_gates(policy, mv) if policy else [],
        "no_targets": not choices,
    }
    return render(request, "registry/request_form.html", context)


def _request_targets(mv: ModelVersion, purpose: str) -> list[tuple[str, str]]:
    if purpose == Purpose.ROLLBACK:
        if mv.stage == Stage.PRODUCTION or not promotions.was_in_production(mv):
            return []
        return [(Stage.PRODUCTION.value, Stage.PRODUCTION.label)]
    return [(s, Stage(s).label) for s in promotions.targets(mv) if s in GatedStage.values]


@require_GET
def request_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    promotion = request_for_user(request.user, pk)
    return render(request, "registry/request_detail.html", _detail_context(request, promotion))


def _detail_context(request: HtmxHttpRequest, promotion: PromotionRequest) -> dict:
    user = request.user
    reviews = list(promotion.reviews.select_related("reviewer"))
    approvers = {r.reviewer_id for r in reviews if r.decision == Decision.APPROVE}
    problem = promotions.review_problem(user, promotion)
    is_open = promotion.effective_state == RequestState.OPEN
    champion = policies.current_production(promotion.version)
    return {
        "promotion": promotion,
        "model": promotion.model,
        "version": promotion.version,
        "reviews": reviews,
        "approval_count": len(approvers),
        "already_approved": user.pk in approvers,
        "review_problem": problem,
        "is_open": is_open,
        "may_review": is_open and problem is None,
        "may_comment": is_open and promotions.may_comment(user, promotion),
        "may_cancel": is_open and user.pk == promotion.requested_by_id,
        "may_override": is_open
        and not promotion.gates_passed
        and not promotion.override_reason
        and can(user, Action.MAINTAIN, promotion.model),
        "champion": champion,
        "evidence": side_by_side(promotion.version, champion),
        "transitions": promotion.transitions.select_related("version", "actor"),
        "form": ReviewForm(),
    }


@require_POST
def request_review(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    promotion = request_for_user(request.user, pk)
    form = ReviewForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            entry, promotion = promotions.review(
                request=promotion, actor=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
        except Conflict as exc:
            error = exc.message
        else:
            if entry is None:
                messages.info(request, "You already approved this request; it counts once.")
            else:
                messages.success(request, _outcome(promotion, entry.decision))
    else:
        error = "; ".join(f"{f}: {' '.join(e)}" for f, e in form.errors.items())
    return _after_action(request, pk, error)


@require_POST
def request_override(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    promotion = request_for_user(request.user, pk)
    error = ""
    try:
        promotion = promotions.override_gates(
            request=promotion, actor=request.user, reason=request.POST.get("reason", "")
        )
    except ValidationError as exc:
        error = " ".join(exc.messages)
    except Conflict as exc:
        error = exc.message
    else:
        messages.success(request, "Gates overridden; the reason is recorded.")
    return _after_action(request, pk, error)


@require_POST
def request_cancel(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    promotion = request_for_user(request.user, pk)
    error = ""
    try:
        promotions.cancel(request=promotion, actor=request.user)
    except Conflict as exc:
        error = exc.message
    else:
        messages.success(request, f"Request #{pk} cancelled.")
    return _after_action(request, pk, error)


def _outcome(promotion: PromotionRequest, decision: str) -> str:
    if promotion.state == RequestState.APPLIED:
        return f"Approved: {promotion.version.version} is now in {Stage(promotion.to_stage).label}."
    if decision == Decision.REJECT:
        return f"Request #{promotion.pk} rejected and closed."
    if decision == Decision.APPROVE:
        return "Approval recorded."
    return "Comment added."


def _after_action(request: HtmxHttpRequest, pk: int, error: str) -> HttpResponse:
    """HTMX: re-render the request panel in place (and tell the page counts changed);
    otherwise back to the request page."""
    if not wants_partial(request):
        if error:
            messages.error(request, error)
        return redirect("request-detail", pk=pk)
    promotion = request_for_user(request.user, pk)
    context = _detail_context(request, promotion) | {"error": error, "oob": True}
    response = render(request, "registry/request_detail.html#panel", context)
    return trigger_client_event(response, "reviews-changed")
