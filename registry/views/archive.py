"""A version's storage (hot or archived), the restore button with its job's progress,
and the jobs page."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Team
from accounts.policy import Action, can, is_site_admin, require, teams_q
from lineage.models import RenderJob, RenderState
from registry import archiving
from registry.access import version_for_user
from registry.errors import Conflict
from registry.models import (
    Artifact,
    BlobLocation,
    DeliveryState,
    Job,
    JobKind,
    JobState,
    ModelVersion,
    RetentionPolicy,
    WebhookDelivery,
)
from registry.pagination import int_key, keyset_page
from registry.views.common import HtmxHttpRequest


def storage_context(
    user: Any, mv: ModelVersion, artifacts: list[Artifact], *, with_job: bool = False
) -> dict[str, Any]:
    """What the version page's storage panel shows; the page looks the job up only for a
    cold or archived version (a live, hot one costs no query), the panel (polled while a
    restore runs) always, to show the job that just finished."""
    archived = sum(1 for a in artifacts if a.blob.location == BlobLocation.ARCHIVE)
    job = archiving.latest_job(mv) if (archived or mv.cold_since or with_job) else None
    return {
        "version": mv,
        "archived_files": archived,
        "storage_job": job,
        "may_restore": bool(archived or mv.cold_since) and can(user, Action.MAINTAIN, mv),
    }


@require_GET
def version_storage(request: HtmxHttpRequest, team: str, name: str, version: str) -> HttpResponse:
    """The storage panel (HTMX polls it while a job runs); without HTMX, the version page."""
    mv = version_for_user(request.user, team, name, version)
    if not request.htmx:
        return redirect(mv.get_absolute_url() + "#storage")
    artifacts = list(mv.artifacts.select_related("blob"))
    return render(request, "registry/_version_storage.html",
                  storage_context(request.user, mv, artifacts, with_job=True))  # fmt: skip


@require_POST
def version_restore(request: HtmxHttpRequest, team: str, name: str, version: str) -> HttpResponse:
    mv = version_for_user(request.user, team, name, version, Action.MAINTAIN)
    try:
        job = archiving.request_restore(mv, request.user)
    except Conflict as exc:
        messages.error(request, exc.message)
    else:
        if job is None:
            messages.success(request, "Every file of this version is in hot storage already.")
        else:
            messages.success(request, f"Restore requested (job {job.pk}).")
    if request.htmx:
        mv.refresh_from_db()
        artifacts = list(mv.artifacts.select_related("blob"))
        return render(request, "registry/_version_storage.html",
                      storage_context(request.user, mv, artifacts, with_job=True))  # fmt: skip
    return redirect(reverse("version-detail", args=[team, name, version]) + "#storage")


SOURCES = {
    "jobs": "Archive & restore",
    "webhooks": "Webhook deliveries",
    "renders": "Lineage renders",
}
PAGE_SIZE = 50


@require_GET
def job_list(request: HtmxHttpRequest) -> HttpResponse:
    """Background work the user may see: archive/restore/retention jobs of teams they can
    read, webhook deliveries of teams they maintain, lineage renders (site admins: they
    span teams). Filters by kind and state (index-backed), keyset pages by id."""
    user = request.user
    source = request.GET.get("source", "jobs")
    if source not in SOURCES:
        source = "jobs"
    state = request.GET.get("state", "")
    kind = request.GET.get("kind", "")
    allowed = True
    if source == "jobs":
        queryset = Job.objects.filter(teams_q(user, Action.VIEW, "team")).select_related(
            "team", "version__model", "requested_by"
        )
        states, kinds = JobState.choices, JobKind.choices
        if kind in JobKind.values:
            queryset = queryset.filter(kind=kind)
    elif source == "webhooks":
        queryset = WebhookDelivery.objects.filter(
            teams_q(user, Action.MAINTAIN, "webhook__team")
        ).select_related("webhook__team")
        states, kinds = DeliveryState.choices, []
    else:
        allowed = is_site_admin(user)
        queryset = RenderJob.objects.all() if allowed else RenderJob.objects.none()
        states, kinds = RenderState.choices, []
    if state in {value for value, _label in states}:
        queryset = queryset.filter(state=state)
    page = keyset_page(
        queryset.defer(*(["dot"] if source == "renders" else [])),
        key="id",
        after=request.GET.get("after"),
        before=request.GET.get("before"),
        size=PAGE_SIZE,
        key_type=int_key,
    )
    context = {
        "source": source,
        "sources": SOURCES,
        "states": states,
        "kinds": kinds,
        "state": state,
        "kind": kind,
        "page": page,
        "allowed": allowed,
        "show_renders": is_site_admin(user),
    }
    return render(request, "registry/job_list.html", context)


class RetentionForm(forms.Form):
    max_age_days = forms.IntegerField(
        required=False, min_value=1, max_value=36500,
        label="Archive never-promoted Development versions older than (days)",
    )  # fmt: skip
    keep_last = forms.IntegerField(
        required=False, min_value=1, max_value=10000,
        label="Keep this many newest versions of each model hot",
    )  # fmt: skip
    enabled = forms.BooleanField(required=False, label="Enabled (runs every hour)")
    previewed = forms.CharField(required=False, widget=forms.HiddenInput)


def preview_key(max_age_days: int | None, keep_last: int | None) -> str:
    """What a preview of these rules is stamped with: enabling needs a preview of the same."""
    return f"{max_age_days or ''}:{keep_last or ''}"


@require_http_methods(["GET", "POST"])
def team_retention(request: HtmxHttpRequest, team: str) -> HttpResponse:
    """A team's retention policy (maintainers): rules, a dry-run preview of what they would
    archive now (versions and bytes), and the enabled switch, which only takes values
    that were previewed."""
    team_obj = get_object_or_404(Team.objects.filter(teams_q(request.user)), slug=team)
    require(request.user, Action.MAINTAIN, team_obj)
    policy = RetentionPolicy.objects.filter(team=team_obj).first()
    preview = None
    if request.method == "POST":
        form = RetentionForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            key = preview_key(data["max_age_days"], data["keep_last"])
            unchanged = bool(
                policy
                and policy.enabled
                and key == preview_key(policy.max_age_days, policy.keep_last)
            )
            enabling = data["enabled"] and not unchanged
            if data["enabled"] and not (data["max_age_days"] or data["keep_last"]):
                messages.error(request, "Set at least one rule before enabling the policy.")
            elif enabling and data["previewed"] != key:
                messages.error(request, "Preview these rules before enabling them.")
            else:
                archiving.save_retention_policy(
                    team_obj, request.user, enabled=data["enabled"],
                    max_age_days=data["max_age_days"], keep_last=data["keep_last"],
                )  # fmt: skip
                messages.success(request, "Retention policy saved.")
                return redirect("team-retention", team=team)
        else:
            messages.error(request, "Check the rules: " + "; ".join(
                f"{k}: {' '.join(v)}" for k, v in form.errors.items()))  # fmt: skip
    elif "preview" in request.GET:
        form = RetentionForm(request.GET)
        if form.is_valid():
            data = form.cleaned_data
            preview = archiving.retention_preview(team_obj, data["max_age_days"], data["keep_last"])
            form = RetentionForm(initial={**data, "previewed": preview_key(
                data["max_age_days"], data["keep_last"])})  # fmt: skip
    else:
        form = RetentionForm(
            initial={"max_age_days": policy.max_age_days, "keep_last": policy.keep_last,
                     "enabled": policy.enabled} if policy else {}
        )  # fmt: skip
    context = {"team": team_obj, "policy": policy, "form": form, "preview": preview}
    return render(request, "registry/team_retention.html", context)
