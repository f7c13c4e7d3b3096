"""Lineage pages: a dataset version or a code version with every model version that
depends on it (impact analysis). The version page's lineage section is
templates/lineage/_version_lineage.html, filled by lineage.graph.version_lineage."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.shortcuts import render as render_page
from django.views.decorators.http import require_GET

from accounts.policy import Action, teams_q
from lineage import graph, render
from lineage.models import CodeVersion, DatasetVersion, NodeType, RenderState
from registry.access import version_for_user
from registry.views.common import HtmxHttpRequest, wants_partial


def _impact_page(
    request: HtmxHttpRequest, obj: DatasetVersion | CodeVersion, node_type: str, name: str
) -> HttpResponse:
    context = {name: obj, "impact": graph.impact(request.user, graph.Node(node_type, obj.pk))}
    return render_page(request, f"lineage/{name}.html", context)


@require_GET
def dataset_version_detail(request: HtmxHttpRequest, team: str, pk: int) -> HttpResponse:
    dv = get_object_or_404(
        DatasetVersion.objects.filter(
            teams_q(request.user, Action.VIEW, "dataset__team")
        ).select_related("dataset__team"),
        dataset__team__slug=team,
        pk=pk,
    )
    return _impact_page(request, dv, NodeType.DATASET, "dataset_version")


@require_GET
def code_version_detail(request: HtmxHttpRequest, team: str, pk: int) -> HttpResponse:
    code = get_object_or_404(
        CodeVersion.objects.filter(teams_q(request.user, Action.VIEW, "team")).select_related(
            "team"
        ),
        team__slug=team,
        pk=pk,
    )
    return _impact_page(request, code, NodeType.CODE, "code_version")


@require_GET
def version_graph(request: HtmxHttpRequest, team: str, name: str, version: str) -> HttpResponse:
    """The version's lineage graph: the SVG once rendered, else a placeholder that polls
    (the page answers whether or not a worker or the broker is there)."""
    mv = version_for_user(request.user, team, name, version)
    lineage = graph.version_lineage(request.user, mv)
    dot = None if lineage.empty else render.version_dot(lineage, mv)
    job = render.job_for(dot) if dot else None
    context = {
        "model": mv.model,
        "version": mv,
        "lineage": lineage,
        "job": job,
        "too_large": not lineage.empty and dot is None,
        "limit": render.MAX_RENDER_NODES,
        "svg": render.svg_of(job) if job and job.state == RenderState.DONE else "",
    }
    template = "lineage/version_graph.html"
    return render_page(request, template + "#graph" if wants_partial(request) else template,
                       context)  # fmt: skip
