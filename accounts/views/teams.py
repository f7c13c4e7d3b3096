"""The team pages: the teams one belongs to, and each team's models and members.

Members see their team's page; its maintainers (and site admins) also add members, change
roles and remove members there. Those POSTs answer htmx with the members section alone and
plain form posts with a redirect (or, on an error, the whole page with the error).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from accounts import teams
from accounts.models import Membership, Team
from accounts.policy import Action, can, memberships, teams_for
from accounts.team_forms import AddMemberForm
from registry.models import RegisteredModel
from registry.views.common import HtmxHttpRequest, wants_partial

TEAMS_PER_PAGE = 50
MEMBERS_PER_PAGE = 50
MODELS_SHOWN = 10
TEMPLATE = "accounts/team_detail.html"


def _count_per_team(rows: QuerySet[Any]) -> Coalesce:
    """COUNT(*) of rows pointing at the outer team, as a subquery: two of them side by side
    do not multiply each other the way two joined Count()s would."""
    counted = rows.filter(team=OuterRef("pk")).order_by().values("team").annotate(n=Count("pk"))
    return Coalesce(Subquery(counted.values("n"), output_field=IntegerField()), 0)


@require_GET
def team_list(request: HtmxHttpRequest) -> HttpResponse:
    # Queries: the user's roles (cached for the request), the page count, the page.
    roles = memberships(request.user)
    queryset = (
        teams_for(request.user, Action.VIEW)
        .annotate(
            member_count=_count_per_team(Membership.objects.all()),
            model_count=_count_per_team(RegisteredModel.objects.all()),
        )
        .order_by("name")
    )
    page = Paginator(queryset, TEAMS_PER_PAGE).get_page(request.GET.get("page"))
    for team in page.object_list:
        role = roles.get(team.pk)
        team.my_role = Membership.Role(role).label if role else None
    return render(request, "accounts/team_list.html", {"page": page})


@require_GET
@vary_on_headers("HX-Request")
def team_detail(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    team = teams.team_for_user(request.user, slug)
    page_number = request.GET.get("page")
    if _wants_members(request):
        return render(request, f"{TEMPLATE}#members", _members_context(request, team, page_number))
    return render(request, TEMPLATE, _page_context(request, team, page_number))


@require_POST
def member_add(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    team = teams.team_for_user(request.user, slug, Action.MAINTAIN)
    form = AddMemberForm(request.POST)
    if form.is_valid():
        try:
            membership = teams.add_member(
                team, request.user, form.cleaned_data["user"], form.cleaned_data["role"]
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            role = membership.get_role_display().lower()
            return _done(request, team, f"Added {membership.user} to {team} as {role}.")
    return _refused(request, team, form=form)


@require_POST
def member_role(request: HtmxHttpRequest, slug: str, membership_id: int) -> HttpResponse:
    team = teams.team_for_user(request.user, slug, Action.MAINTAIN)
    membership = _membership(team, membership_id)
    try:
        teams.change_role(membership, request.user, request.POST.get("role", ""))
    except ValidationError as exc:
        return _refused(request, team, error=" ".join(exc.messages))
    role = membership.get_role_display().lower()
    return _done(request, team, f"{membership.user} is now a {role} of {team}.")


@require_POST
def member_remove(request: HtmxHttpRequest, slug: str, membership_id: int) -> HttpResponse:
    team = teams.team_for_user(request.user, slug, Action.MAINTAIN)
    membership = _membership(team, membership_id)
    try:
        teams.remove_member(membership, request.user)
    except ValidationError as exc:
        return _refused(request, team, error=" ".join(exc.messages))
    return _done(request, team, f"Removed {membership.user} from {team}.")


def _membership(team: Team, membership_id: int) -> Membership:
    # Scoped to the team in the URL: another team's membership id answers 404.
    return get_object_or_404(team.memberships.select_related("user", "team"), pk=membership_id)


def _wants_members(request: HtmxHttpRequest) -> bool:
    # htmx restores history with HX-Request set; that needs the whole page.
    return wants_partial(request) and not request.htmx.history_restore_request


def _members_context(
    request: HtmxHttpRequest,
    team: Team,
    page_number: str | None,
    *,
    form: AddMemberForm | None = None,
    error: str = "",
    notice: str = "",
) -> dict[str, Any]:
    # Queries: the member count and one page of members with their users.
    members = team.memberships.select_related("user").order_by("user__username", "pk")
    may_maintain = can(request.user, Action.MAINTAIN, team)
    return {
        "team": team,
        "page": Paginator(members, MEMBERS_PER_PAGE).get_page(page_number),
        "may_maintain": may_maintain,
        "add_form": (form or AddMemberForm()) if may_maintain else None,
        "roles": Membership.Role.choices,
        "error": error,
        "notice": notice,
    }


def _page_context(
    request: HtmxHttpRequest, team: Team, page_number: str | None, **members: Any
) -> dict[str, Any]:
    # Queries: the team's model count and its first models by name.
    return _members_context(request, team, page_number, **members) | {
        "models": list(team.models.order_by("name")[:MODELS_SHOWN]),
        "model_count": team.models.count(),
    }


def _done(request: HtmxHttpRequest, team: Team, notice: str) -> HttpResponse:
    page_number = request.POST.get("page", "")
    if not can(request.user, Action.VIEW, team):  # they removed themselves
        messages.success(request, notice)
        if wants_partial(request):
            return HttpResponseClientRedirect(reverse("team-list"))
        return redirect("team-list")
    if wants_partial(request):
        context = _members_context(request, team, page_number, notice=notice)
        return render(request, f"{TEMPLATE}#members", context)
    messages.success(request, notice)
    url = reverse("team-detail", args=[team.slug])
    return redirect(f"{url}?page={page_number}" if page_number.isdigit() else url)


def _refused(
    request: HtmxHttpRequest, team: Team, *, form: AddMemberForm | None = None, error: str = ""
) -> HttpResponse:
    """Show what was wrong where the user acted; nothing was changed.

    htmx swaps only 2xx responses by default, so the members section comes back as 200;
    a plain form post gets the whole page as 400, like the other forms.
    """
    page_number = request.POST.get("page")
    if wants_partial(request):
        context = _members_context(request, team, page_number, form=form, error=error)
        return render(request, f"{TEMPLATE}#members", context)
    context = _page_context(request, team, page_number, form=form, error=error)
    return render(request, TEMPLATE, context, status=400)
