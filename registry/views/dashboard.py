from __future__ import annotations

from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.policy import readable_models_q
from registry.models import ModelVersion, RegisteredModel, Stage, StageTransition
from registry.views.common import HtmxHttpRequest


@require_GET
def dashboard(request: HtmxHttpRequest) -> HttpResponse:
    # Everything here is scoped to the models the user may read.
    versions = ModelVersion.objects.visible_to(request.user)
    # COUNT(*) (not COUNT(id)) lets PostgreSQL answer from the (stage, model) index alone.
    by_stage = dict(versions.values_list("stage").annotate(n=Count("*")).order_by())
    context = {
        "model_count": RegisteredModel.objects.visible_to(request.user).count(),
        "stage_counts": [(stage, by_stage.get(stage.value, 0)) for stage in Stage],
        # Stage changes proper; registrations (from no stage) show in the next list.
        "recent_transitions": StageTransition.objects.exclude(from_stage="")
        .filter(readable_models_q(request.user, "version__model"))
        .select_related("version__model__team", "actor")[:8],
        "recent_versions": versions.select_related("model__team", "created_by").order_by(
            "-created_at"
        )[:8],
    }
    return render(request, "registry/dashboard.html", context)
