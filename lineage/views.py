"""Lineage pages: the lists of datasets, feature sets and training runs; a dataset
version, feature set version, code version or run with every model version that depends
on it (impact analysis); a version's graph and its SVG; recording lineage from the
version page. The version page's lineage section is templates/lineage/_version_lineage.html,
filled by lineage.graph.version_lineage. Deployments are in lineage.deployment_views.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Max, Model, QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.shortcuts import render as render_page
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_POST

from accounts.policy import Action, teams_for, teams_q
from lineage import graph, render
from lineage.models import (
    CodeVersion,
    Dataset,
    DatasetVersion,
    EdgeKind,
    FeatureSet,
    FeatureSetVersion,
    NodeType,
    RenderState,
    RunState,
    TrainingRun,
)
from registry.access import version_for_user
from registry.errors import Conflict
from registry.views.common import HtmxHttpRequest, error_text, wants_partial

PER_PAGE = 50
# The SVG cannot run script or load anything: it is drawn by `dot` from escaped labels,
# and served with a policy that forbids everything but its inline styles.
SVG_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "sandbox allow-top-navigation-by-user-activation allow-popups"
)


def _team_filter(request: HtmxHttpRequest) -> tuple[QuerySet[Any], str]:
    teams = teams_for(request.user, Action.VIEW).order_by("name")
    slug = request.GET.get("team", "")
    return teams, slug if any(t.slug == slug for t in teams) else ""


def _named_list(request: HtmxHttpRequest, kind: type[Dataset] | type[FeatureSet]) -> HttpResponse:
    """Datasets or feature sets of the teams the user may read, with their version
    counts and latest version, filtered by team and by name (trigram-indexed)."""
    teams, team = _team_filter(request)
    q = request.GET.get("q", "").strip()[:100]
    qs = kind.objects.filter(teams_q(request.user, Action.VIEW, "team")).select_related("team")
    if team:
        qs = qs.filter(team__slug=team)
    if q:
        qs = qs.filter(name__icontains=q)
    qs = qs.annotate(version_count=Count("versions"), latest_id=Max("versions__id"))
    page = Paginator(qs.order_by("name", "pk"), PER_PAGE).get_page(request.GET.get("page"))
    version_model = DatasetVersion if kind is Dataset else FeatureSetVersion
    latest = version_model.objects.select_related(
        "dataset__team" if kind is Dataset else "feature_set__team"
    ).in_bulk([row.latest_id for row in page if row.latest_id])
    rows = [(row, latest.get(row.latest_id)) for row in page]
    context = {"page": page, "rows": rows, "teams": teams, "team": team, "q": q,
               "kind": "datasets" if kind is Dataset else "features"}  # fmt: skip
    return render_page(request, "lineage/named_list.html", context)


@require_GET
def dataset_list(request: HtmxHttpRequest) -> HttpResponse:
    return _named_list(request, Dataset)


@require_GET
def feature_set_list(request: HtmxHttpRequest) -> HttpResponse:
    return _named_list(request, FeatureSet)


@require_GET
def run_list(request: HtmxHttpRequest) -> HttpResponse:
    teams, team = _team_filter(request)
    state = request.GET.get("state", "")
    qs = TrainingRun.objects.filter(teams_q(request.user, Action.VIEW, "team")).select_related(
        "team"
    )
    if team:
        qs = qs.filter(team__slug=team)
    if state in RunState.values:
        qs = qs.filter(state=state)
    page = Paginator(qs.order_by("-created_at", "-pk"), PER_PAGE).get_page(request.GET.get("page"))
    context = {"page": page, "teams": teams, "team": team, "state": state,
               "states": RunState.choices, "kind": "runs"}  # fmt: skip
    return render_page(request, "lineage/run_list.html", context)


def _readable(request: HtmxHttpRequest, qs: QuerySet[Any], team_path: str, team: str,
              pk: int) -> Any:  # fmt: skip
    """The node of this team the user may read; 404 for any other."""
    return get_object_or_404(
        qs.filter(teams_q(request.user, Action.VIEW, team_path)),
        **{f"{team_path}__slug": team, "pk": pk},
    )


def _impact_page(
    request: HtmxHttpRequest, obj: Model, node_type: str, name: str, **extra: Any
) -> HttpResponse:
    context = {
        name: obj,
        "impact": graph.impact(request.user, graph.Node(node_type, obj.pk)),
        **extra,
    }
    return render_page(request, f"lineage/{name}.html", context)


@require_GET
def dataset_version_detail(request: HtmxHttpRequest, team: str, pk: int) -> HttpResponse:
    dv = _readable(request, DatasetVersion.objects.select_related("dataset__team"),
                   "dataset__team", team, pk)  # fmt: skip
    siblings = dv.dataset.versions.order_by("-created_at", "-pk")[:20]
    runs = graph.neighbour_runs(request.user, graph.Node(NodeType.DATASET, dv.pk))
    return _impact_page(request, dv, NodeType.DATASET, "dataset_version", siblings=siblings,
                        runs=runs)  # fmt: skip


@require_GET
def feature_set_version_detail(request: HtmxHttpRequest, team: str, pk: int) -> HttpResponse:
    fv = _readable(request, FeatureSetVersion.objects.select_related("feature_set__team"),
                   "feature_set__team", team, pk)  # fmt: skip
    siblings = fv.feature_set.versions.order_by("-created_at", "-pk")[:20]
    return _impact_page(request, fv, NodeType.FEATURES, "feature_set_version",
                        siblings=siblings)  # fmt: skip


@require_GET
def code_version_detail(request: HtmxHttpRequest, team: str, pk: int) -> HttpResponse:
    code = _readable(request, CodeVersion.objects.select_related("team"), "team", team, pk)
    return _impact_page(request, code, NodeType.CODE, "code_version")


@require_GET
def run_detail(request: HtmxHttpRequest, team: str, pk: int) -> HttpResponse:
    run = _readable(request, TrainingRun.objects.select_related("team"), "team", team, pk)
    io = graph.run_datasets(request.user, run)
    return _impact_page(request, run, NodeType.RUN, "training_run", io=io)


def _version_graph_context(request: HtmxHttpRequest, team: str, name: str,
                           version: str) -> dict[str, Any]:  # fmt: skip
    mv = version_for_user(request.user, team, name, version)
    lineage = graph.version_lineage(request.user, mv)
    dot = None if lineage.empty else render.version_dot(lineage, mv)
    return {
        "model": mv.model,
        "version": mv,
        "lineage": lineage,
        "job": render.job_for(dot) if dot else None,
        "too_large": not lineage.empty and dot is None,
        "limit": render.MAX_RENDER_NODES,
    }


@require_GET
def version_graph(request: HtmxHttpRequest, team: str, name: str, version: str) -> HttpResponse:
    """The version's lineage graph: the SVG once rendered, else a placeholder that polls
    (the page answers whether or not a worker or the broker is there)."""
    context = _version_graph_context(request, team, name, version)
    template = "lineage/version_graph.html"
    return render_page(request, template + "#graph" if wants_partial(request) else template,
                       context)  # fmt: skip


@require_GET
@xframe_options_sameorigin  # framed by the graph page, and by no other site
def version_graph_svg(request: HtmxHttpRequest, team: str, name: str, version: str) -> HttpResponse:
    """The rendered SVG on its own, for the graph page's frame: the same permission check
    and the same graph (what this user may read), served so that it cannot run script."""
    job = _version_graph_context(request, team, name, version)["job"]
    if job is None or job.state != RenderState.DONE:
        raise Http404("This graph is not drawn yet.")
    response = HttpResponse(render.svg_bytes(job), content_type="image/svg+xml")
    response["Content-Security-Policy"] = SVG_POLICY
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    return response


LINEAGE_KINDS = {
    "dataset": "a dataset it was trained on",
    "features": "a feature set it used",
    "parent": "a parent model version",
}


@require_POST
def version_lineage_add(
    request: HtmxHttpRequest, team: str, name: str, version: str
) -> HttpResponse:
    """Record a dataset, feature set or parent of an existing version (contributors)."""
    mv = version_for_user(request.user, team, name, version, Action.CONTRIBUTE)
    kind, ref = request.POST.get("kind", ""), request.POST.get("ref", "").strip()
    try:
        if kind not in LINEAGE_KINDS:
            raise ValidationError({"kind": f"choose one of {', '.join(LINEAGE_KINDS)}"})
        if not ref:
            raise ValidationError({"ref": "is required"})
        if kind == "parent":
            relation = request.POST.get("relation") or EdgeKind.DERIVED_FROM
            (parent,) = graph.resolve_parents(request.user, mv.model.team,
                                              [{"version": ref, "kind": relation}])  # fmt: skip
            graph.link_parent(mv, parent.version, request.user, parent.kind)
        else:
            graph.add_inputs(request.user, mv, **{
                "datasets" if kind == "dataset" else "features": [ref]
            })  # fmt: skip
    except (ValidationError, Conflict) as exc:
        messages.error(request, f"Not recorded: {error_text(exc)}")
    else:
        messages.success(request, f"Recorded {LINEAGE_KINDS[kind].removeprefix('a ')}: {ref}.")
    return redirect(mv.get_absolute_url() + "#lineage")
