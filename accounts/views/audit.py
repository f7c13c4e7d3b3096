"""Audit log pages and exports, in three scopes: one model, one team, everything.

- a model's log: whoever may view the model (registry.access.model_for_user; else 404);
- a team's log: its members (policy VIEW on the team) and site admins; else 404;
- the whole log, with sign-in events and everything without a team: site admins only.
  Others get 404 rather than 403, so the page does not advertise itself.

Each list is keyset-paginated on the event id, newest first (every scope is one index
range: accounts_audit_model, accounts_audit_team or the primary key), and filtered by the
query string; exports stream the same filtered events.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.apps import apps
from django.db import connection
from django.db.models import QuerySet
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from accounts import audit_export, policy
from accounts.models import AuditEvent, Team
from accounts.policy import Action, teams_for
from registry.access import model_for_user
from registry.pagination import int_key, keyset_page
from registry.views.common import HtmxHttpRequest, wants_partial

EVENTS_PER_PAGE = 50
CHANGES_SHOWN = 3  # the rest of an event's changes fold into a <details>
VALUE_MAX = 120  # longer old/new values are cut on the page (exports carry them whole)
PAGING_PARAMS = ("cursor", "before")


class AuditFilterForm(forms.Form):
    action = forms.CharField(
        required=False,
        max_length=64,
        help_text='An action such as "version.register", or a prefix ending in "." or "*".',
    )
    actor = forms.CharField(required=False, max_length=150, help_text="A username.")
    since = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )
    q = forms.CharField(required=False, max_length=300, label="Object")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        return data

    @property
    def active(self) -> bool:
        return any(self.data.get(name) for name in self.fields)

    def filter(self, events: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        """Apply the valid filters; invalid ones are reported on the page and ignored."""
        data = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        if action := data.get("action"):
            if action.endswith((".", "*")):
                events = events.filter(action__startswith=action.rstrip("*"))
            else:
                events = events.filter(action=action)
        if actor := data.get("actor"):
            # The name snapshot: it also finds failed sign-ins and since-deleted users.
            events = events.filter(actor_name=actor)
        if since := data.get("since"):
            events = events.filter(created_at__gte=_day_start(since))
        if (until := data.get("until")) and until < dt.date.max:
            events = events.filter(created_at__lt=_day_start(until + dt.timedelta(days=1)))
        if q := data.get("q"):
            events = events.filter(object_repr__icontains=q)
        return events


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


@dataclass
class Scope:
    """Which events a page shows, and how it names and links itself."""

    kind: str  # "model", "team" or "all"
    events: QuerySet[AuditEvent]
    heading: str
    url_name: str
    args: tuple[str, ...] = ()
    export_basename: str = "audit"
    crumbs: list[tuple[str, str]] = field(default_factory=list)
    model: Any = None
    team: Team | None = None

    @property
    def url(self) -> str:
        return reverse(self.url_name, args=self.args)

    def export_url(self, fmt: str) -> str:
        return reverse(f"{self.url_name}-export", args=[*self.args, fmt])


def _model_scope(request: HtmxHttpRequest, team: str, name: str) -> Scope:
    model = model_for_user(request.user, team, name)
    return Scope(
        kind="model",
        # Events about the model, its versions, artifacts and transitions carry its id.
        events=AuditEvent.objects.filter(model_id=model.pk),
        heading=f"Audit log of {model.team.slug}/{model.name}",
        url_name="audit-model",
        args=(model.team.slug, model.name),
        export_basename=f"audit-{model.team.slug}-{model.name}",
        crumbs=[
            (reverse("models"), "Models"),
            (model.get_absolute_url(), f"{model.team.slug}/{model.name}"),
        ],
        model=model,
        team=model.team,
    )


def _team_scope(request: HtmxHttpRequest, slug: str) -> Scope:
    team = get_object_or_404(teams_for(request.user, Action.VIEW), slug=slug)
    return Scope(
        kind="team",
        events=AuditEvent.objects.filter(team=team),
        heading=f"Audit log of the {team.name} team",
        url_name="audit-team",
        args=(team.slug,),
        export_basename=f"audit-{team.slug}",
        crumbs=[(reverse("models") + f"?team={team.slug}", team.name)],
        team=team,
    )


def _all_scope(request: HtmxHttpRequest) -> Scope:
    if not policy.is_site_admin(request.user):
        raise Http404("No such page.")
    return Scope(
        kind="all",
        events=AuditEvent.objects.all(),
        heading="Audit log",
        url_name="audit-log",
        export_basename="audit-all",
    )


@require_GET
@vary_on_headers("HX-Request")
def audit_log(request: HtmxHttpRequest) -> HttpResponse:
    return _render(request, _all_scope(request))


@require_GET
@vary_on_headers("HX-Request")
def team_log(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    return _render(request, _team_scope(request, slug))


@require_GET
@vary_on_headers("HX-Request")
def model_log(request: HtmxHttpRequest, team: str, name: str) -> HttpResponse:
    return _render(request, _model_scope(request, team, name))


@require_GET
def audit_log_export(request: HtmxHttpRequest, fmt: audit_export.Format) -> StreamingHttpResponse:
    return _export(request, _all_scope(request), fmt)


@require_GET
def team_log_export(
    request: HtmxHttpRequest, slug: str, fmt: audit_export.Format
) -> StreamingHttpResponse:
    return _export(request, _team_scope(request, slug), fmt)


@require_GET
def model_log_export(
    request: HtmxHttpRequest, team: str, name: str, fmt: audit_export.Format
) -> StreamingHttpResponse:
    return _export(request, _model_scope(request, team, name), fmt)


def _export(
    request: HtmxHttpRequest, scope: Scope, fmt: audit_export.Format
) -> StreamingHttpResponse:
    form = AuditFilterForm(request.GET)
    form.is_valid()
    return audit_export.export_response(form.filter(scope.events), fmt, scope.export_basename)


def _render(request: HtmxHttpRequest, scope: Scope) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    form.is_valid()
    page = keyset_page(
        form.filter(scope.events),
        key="pk",
        after=request.GET.get("cursor"),
        before=request.GET.get("before"),
        size=EVENTS_PER_PAGE,
        key_type=int_key,
    )
    for event in page.items:
        event.change_items = change_items(event.changes)  # type: ignore[attr-defined]
        event.badge = action_badge(event.action)  # type: ignore[attr-defined]
        event.object_kind = object_kind(event.object_type)  # type: ignore[attr-defined]
    filters = request.GET.copy()
    for name in PAGING_PARAMS:
        filters.pop(name, None)
    query = _query_string(filters)
    context = {
        "scope": scope,
        "form": form,
        "page": page,
        "filter_errors": [
            f"{form[name].label}: {error}" if name in form.fields else error
            for name, errors in form.errors.items()
            for error in errors
        ],
        "paged": any(request.GET.get(name) for name in PAGING_PARAMS),
        "export_csv": scope.export_url("csv") + query,
        "export_jsonl": scope.export_url("jsonl") + query,
    }
    if wants_partial(request):
        return render(request, "accounts/audit_log.html#results", context)
    actions = known_actions()
    context["action_choices"] = sorted({a.split(".")[0] + "." for a in actions}) + actions
    return render(request, "accounts/audit_log.html", context)


def _query_string(params: Any) -> str:
    kept = params.copy()
    for key in list(kept):
        if not any(kept.getlist(key)):
            kept.pop(key)
    encoded = kept.urlencode()
    return f"?{encoded}" if encoded else ""


def known_actions(limit: int = 200) -> list[str]:
    """The distinct actions in the log, for the filter's suggestions.

    A loose index scan on accounts_audit_action: one index seek per distinct action,
    so it stays cheap however many events there are (a plain DISTINCT reads them all).
    """
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    sql = f"""
        WITH RECURSIVE seen(action) AS (
            SELECT MIN(action) FROM {table}
            UNION ALL
            SELECT (SELECT MIN(action) FROM {table} WHERE action > seen.action)
            FROM seen WHERE seen.action IS NOT NULL
        )
        SELECT action FROM seen WHERE action IS NOT NULL LIMIT %s
    """  # noqa: S608 (the table name is ours, quoted; the limit is a parameter)
    with connection.cursor() as cursor:
        cursor.execute(sql, [limit])
        return [row[0] for row in cursor.fetchall()]


@functools.cache
def object_kind(object_type: str) -> str:
    """ "registry.modelversion" → "model version"; unknown labels are shown as they are."""
    try:
        return str(apps.get_model(object_type)._meta.verbose_name)
    except (LookupError, ValueError):
        return object_type


def change_items(changes: Any) -> list[tuple[str, str, str | None]]:
    """(field, old, new) per change for display; new is None when the value is not a pair."""
    if not isinstance(changes, dict):
        return [("", _shown(changes), None)]
    items: list[tuple[str, str, str | None]] = []
    for key, value in changes.items():
        if isinstance(value, list) and len(value) == 2:
            items.append((str(key), _shown(value[0]), _shown(value[1])))
        else:
            items.append((str(key), _shown(value), None))
    return items


def _shown(value: Any) -> str:
    if value is None:
        return "∅"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= VALUE_MAX else text[: VALUE_MAX - 1] + "…"


_DANGER_WORDS = ("fail", "delete", "remove", "revoke", "reject", "archive")
_SUCCESS_WORDS = ("create", "register", "add", "approve", "promote", "restore")


def action_badge(action: str) -> str:
    """A badge colour from the action's verb: removals and failures red, additions green."""
    verb = action.rpartition(".")[2]
    if any(word in verb for word in _DANGER_WORDS):
        return "text-bg-danger"
    if any(word in verb for word in _SUCCESS_WORDS):
        return "text-bg-success"
    return "text-bg-light border"
