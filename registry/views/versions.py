from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Subquery
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.policy import Action, can
from lineage import graph
from monitoring import panels
from registry import aliases, compare, deprecation, promotions, services, versioning
from registry.access import model_for_user, version_for_user
from registry.errors import Conflict
from registry.forms import (
    DeprecateForm,
    EditVersionForm,
    RegisterVersionForm,
    StageForm,
    tag_lines,
)
from registry.metadata import VersionMetadata, clean_version_metadata
from registry.models import GatedStage, ModelVersion, RegisteredModel, Split, Stage
from registry.views import archive
from registry.views.common import HtmxHttpRequest


@require_GET
def version_detail(request: HtmxHttpRequest, team: str, name: str, version: str) -> HttpResponse:
    mv = version_for_user(request.user, team, name, version)
    metrics = list(mv.metrics.all())
    by_split = [
        (label, [m for m in metrics if m.split == split])
        for split, label in Split.choices
        if any(m.split == split for m in metrics)
    ]
    context = {
        "model": mv.model,
        "version": mv,
        "metrics_by_split": by_split,
        "metric_count": len(metrics),
        "params": sorted(mv.params.items()),
        "packages": mv.environment.get("packages", []),
        "artifacts": list(mv.artifacts.select_related("blob")),
        "tags": mv.tags.all(),
        "transitions": mv.transitions.select_related("actor"),
        "aliases": mv.aliases.order_by("name"),
        "stage_choices": [
            (stage, Stage(stage).label)
            for stage in promotions.targets(mv)
            if stage not in GatedStage.values
            and can(request.user, services.stage_change_action(stage), mv)
        ],
        "request_targets": [s for s in promotions.targets(mv) if s in GatedStage.values],
        "open_requests": mv.promotion_requests.open().select_related("requested_by"),
        "lineage": graph.version_lineage(request.user, mv),
    }
    if can(request.user, Action.MAINTAIN, mv):  # the "Delete version" action, or why not
        context["delete_blockers"] = services.version_deletion_blockers(mv)
    context["live_charts"] = panels.version_charts(mv, context["lineage"].deployments)
    context["artifact_bytes"] = sum(a.size for a in context["artifacts"])
    context |= archive.storage_context(request.user, mv, context["artifacts"])
    context |= _compare_links(mv)
    return render(request, "registry/version_detail.html", context)


def _compare_links(mv: ModelVersion) -> dict[str, str]:
    """Links to compare with the Production version and with the previous (next lower) one,
    both found in one query, each an index range."""
    siblings = ModelVersion.objects.filter(model_id=mv.model_id).exclude(pk=mv.pk)
    found = (
        RegisteredModel.objects.filter(pk=mv.model_id)
        .values(
            compare_production=Subquery(
                siblings.filter(stage=Stage.PRODUCTION).order_by("-sort_key").values("pk")[:1]
            ),
            compare_previous=Subquery(
                siblings.filter(sort_key__lt=mv.sort_key).order_by("-sort_key").values("pk")[:1]
            ),
        )
        .get()
    )
    return {
        name: f"{reverse('compare')}?v={pk}&v={mv.pk}&base={pk}"
        for name, pk in found.items()
        if pk is not None
    }


@require_http_methods(["GET", "POST"])
def version_register(request: HtmxHttpRequest, team: str, name: str) -> HttpResponse:
    model = model_for_user(request.user, team, name, Action.CONTRIBUTE)
    form = RegisterVersionForm(request.POST or None, request.FILES or None)
    # Before validation: bound fields copy their help text when they are first built.
    form.fields["version"].help_text = _version_help(model)
    if request.method == "POST" and form.is_valid():
        try:
            metadata = _validate_together(model, form)
            mv = services.register_version(
                model=model,
                actor=request.user,
                metadata=metadata,
                version=form.cleaned_data["version"],
                files=[services.ArtifactUpload(f.name, f) for f in form.cleaned_data["files"]],
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            chosen = "" if form.cleaned_data["version"].strip() else _bump_note(mv)
            messages.success(request, f"Registered {model.name} {mv.version}{chosen}.")
            return redirect(mv)
    context = {"model": model, "form": form}
    status = 400 if form.errors else 200
    return render(request, "registry/version_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
def version_edit(request: HtmxHttpRequest, team: str, name: str, version: str) -> HttpResponse:
    mv = version_for_user(request.user, team, name, version, Action.CONTRIBUTE)
    initial = {"description": mv.description, "tags": tag_lines(mv.tags.all())}
    form = EditVersionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_version(version=mv, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Saved {mv.model.name} {mv.version}.")
            return redirect(mv)
    status = 400 if form.errors else 200
    return render(
        request,
        "registry/version_edit.html",
        {"model": mv.model, "version": mv, "form": form},
        status=status,
    )


@require_http_methods(["GET", "POST"])
def version_delete(request: HtmxHttpRequest, team: str, name: str, version: str) -> HttpResponse:
    """Confirm, then delete a version registered by mistake (maintainers); a version with
    history is explained (services.version_deletion_blockers), not deleted."""
    mv = version_for_user(request.user, team, name, version, Action.MAINTAIN)
    refusal = ""
    if request.method == "POST":
        try:
            services.delete_version(version=mv, actor=request.user)
        except Conflict as exc:
            refusal = exc.message
        else:
            messages.success(request, f"Deleted {mv.model.name} {version}.")
            return redirect(mv.model)
    context = {
        "model": mv.model,
        "version": mv,
        "blockers": services.version_deletion_blockers(mv),
        "refusal": refusal,
    }
    return render(request, "registry/version_delete.html", context, status=409 if refusal else 200)


@require_POST
def version_stage(request: HtmxHttpRequest, team: str, name: str, version: str) -> HttpResponse:
    mv = version_for_user(request.user, team, name, version)
    form = StageForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a stage to move to.")
        return redirect(mv)
    try:
        services.change_stage(version=mv, actor=request.user, **form.cleaned_data)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except Conflict as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"{mv.model.name} {mv.version} moved to {mv.get_stage_display()}."
        )
    return redirect(mv)


def _bump_note(mv: ModelVersion) -> str:
    """Why a semantic version left empty got its number (" — minor: …"), else "".
    (The version below it is the latest one its number was suggested from.)"""
    model = mv.model
    if model.versioning_scheme != versioning.Scheme.SEMANTIC:
        return ""
    previous = (
        ModelVersion.objects.filter(model=model, sort_key__lt=mv.sort_key)
        .order_by("-sort_key")
        .only("signature")
        .first()
    )
    if previous is None:
        return ""
    advice = compare.advise_bump(compare.signature_changes(previous.signature, mv.signature))
    return f" — {advice.bump}: {advice.reason}"


def _version_help(model: RegisteredModel) -> str:
    """What to type as the version: the scheme, the latest one and what could come next."""
    scheme = model.versioning_scheme
    latest = model.latest_version.version if model.latest_version else None
    parts = [f"Scheme: {scheme}."]
    if latest:
        parts.append(f"Latest: {latest}.")
    suggestions = versioning.suggest_next(scheme, latest)
    if suggestions:
        parts.append(
            "Suggested: " + ", ".join(f"{v} ({kind})" for kind, v in suggestions.items()) + "."
        )
    automatic = versioning.auto_version(scheme, timezone.now())
    if automatic:
        parts.append(f"Leave empty to use the registration time (e.g. {automatic}).")
    elif scheme == versioning.Scheme.SEMANTIC:
        parts.append(
            "Leave empty to bump by what changed: a signature break is major, a compatible "
            "signature addition minor, anything else patch."
        )
    return " ".join(parts)


def _validate_together(model: RegisteredModel, form: RegisterVersionForm) -> VersionMetadata:
    """Validate the version string and the metadata in one go, so the form shows every
    problem at once rather than one per attempt."""
    errors: dict[str, list[str]] = {}
    metadata = None
    try:
        metadata = clean_version_metadata(form.metadata())
    except ValidationError as exc:
        errors.update(exc.message_dict)
    version = form.cleaned_data["version"]
    if version.strip() or metadata is not None:  # an empty one may be suggested from it
        try:
            services.clean_version_string(model, version, metadata)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors or metadata is None:
        raise ValidationError(errors)
    return metadata


@require_POST
def version_alias(request: HtmxHttpRequest, team: str, name: str, version: str) -> HttpResponse:
    """Point an alias at this version (name, and optionally protected=1/0), or remove one
    that points here (remove=1). Protected aliases need a maintainer (403 otherwise)."""
    mv = version_for_user(request.user, team, name, version)
    alias_name = request.POST.get("name", "").strip()
    try:
        if request.POST.get("remove"):
            if aliases.resolve_alias(mv.model, alias_name).pk != mv.pk:
                raise ValidationError(f"Alias {alias_name!r} does not point at {mv.version}.")
            aliases.delete_alias(mv.model, alias_name, request.user)
            done = f"Removed alias {alias_name}."
        else:
            flag = request.POST.get("protected")
            protected = None if flag is None else flag in ("1", "on", "true")
            aliases.set_alias(mv.model, alias_name, mv, request.user, protected=protected)
            done = f"Alias {alias_name} now points at {mv.version}."
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except aliases.AliasNotFound as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done)
    return redirect(mv)


@require_POST
def version_deprecate(request: HtmxHttpRequest, team: str, name: str, version: str) -> HttpResponse:
    mv = version_for_user(request.user, team, name, version, Action.MAINTAIN)
    if request.POST.get("undo"):
        deprecation.undeprecate(version=mv, actor=request.user)
        messages.success(request, f"{mv.version} is no longer deprecated.")
        return redirect(mv)
    form = DeprecateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "; ".join(f"{f}: {' '.join(e)}" for f, e in form.errors.items()))
        return redirect(mv)
    try:
        deprecation.deprecate(version=mv, actor=request.user, **form.cleaned_data)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{mv.version} is marked deprecated.")
    return redirect(mv)
