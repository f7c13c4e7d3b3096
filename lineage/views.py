"""Lineage pages: a dataset version or a code version with every model version that
depends on it (impact analysis). The version page's lineage section is
templates/lineage/_version_lineage.html, filled by lineage.graph.version_lineage."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from accounts.policy import Action, teams_q
from lineage import graph
from lineage.models import CodeVersion, DatasetVersion, NodeType
from registry.views.common import HtmxHttpRequest


@require_GET
def dataset_version_detail(request: HtmxHttpRequest, team: str, pk: int) -> HttpResponse:
    dv = get_object_or_404(
        DatasetVersion.objects.filter(
            teams_q(request.user, Action.VIEW, "dataset__team")
        ).select_related("dataset__team"),
        dataset__team__slug=team,
        pk=pk,
    )
    context = {
        "dataset_version": dv,
        "impact": graph.impact(request.user, graph.Node(NodeType.DATASET, dv.pk)),
    }
    return render(request, "lineage/dataset_version.html", context)


@require_GET
def code_version_detail(request: HtmxHttpRequest, team: str, pk: int) -> HttpResponse:
    code = get_object_or_404(
        CodeVersion.objects.filter(teams_q(request.user, Action.VIEW, "team")).select_related(
            "team"
        ),
        team__slug=team,
        pk=pk,
    )
    context = {
        "code_version": code,
        "impact": graph.impact(request.user, graph.Node(NodeType.CODE, code.pk)),
    }
    return render(request, "lineage/code_version.html", context)
