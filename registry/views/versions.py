from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.policy import Action, can
from registry import services, versioning
from registry.access import model_for_user, version_for_user
from registry.forms import RegisterVersionForm, StageForm
from registry.metadata import clean_version_metadata
from registry.models import Split, Stage
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
        "artifacts": list(mv.artifacts.all()),
        "tags": mv.tags.all(),
        "transitions": mv.transitions.select_related("actor"),
        "stage_choices": [
            (stage, label)
            for stage, label in Stage.choices
            if can(request.user, services.stage_change_action(stage), mv)
        ],
    }
    context["artifact_bytes"] = sum(a.size for a in context["artifacts"])
    return render(request, "registry/version_detail.html", context)


@require_http_methods(["GET", "POST"])
def version_register(request: HtmxHttpRequest, team: str, name: str) -> HttpResponse:
    model = model_for_user(request.user, team, name, Action.CONTRIBUTE)
    form = RegisterVersionForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            metadata = clean_version_metadata(form.metadata())
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
            messages.success(request, f"Registered {model.name} {mv.version}.")
            return redirect(mv)
    latest = model.versions.order_by("-sort_key").values_list("version", flat=True).first()
    context = {
        "model": model,
        "form": form,
        "suggestions": versioning.suggest_next(model.versioning_scheme, latest),
        "latest": latest,
        "auto_version": versioning.auto_version(model.versioning_scheme, timezone.now()),
    }
    status = 400 if form.errors else 200
    return render(request, "registry/version_form.html", context, status=status)


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
    else:
        messages.success(
            request, f"{mv.model.name} {mv.version} moved to {mv.get_stage_display()}."
        )
    return redirect(mv)
