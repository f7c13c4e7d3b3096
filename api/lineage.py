"""Lineage over the API: a version's lineage, linking a parent, and impact analysis.

The same domain functions as the pages (lineage.graph); versions are fetched through
registry.access, dataset versions through the team filter of the permission policy.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status

from accounts.policy import Action, teams_q
from api.params import ERRORS, Name_, Team_, Version_
from api.parser import require_json
from api.schemas import Body, LineageRefsOut
from lineage import graph, openlineage
from lineage.models import CodeVersion, DatasetVersion, FeatureSetVersion, NodeType, TrainingRun
from registry.access import version_for_user
from registry.models import ModelVersion, Stage

router = Router(tags=["lineage"])
VERSION_PATH = "/models/{team}/{name}/versions/{version}"


class ParentLink(Body):
    parent: str  # "[team/]model@version"
    kind: Literal["derived_from", "fine_tuned_from", "distilled_from"] = "derived_from"


class NodeOut(Schema):
    type: str
    label: str
    url: str
    depth: int
    stage: str | None = None
    deployed_in: list[str] | None = None  # for a descendant version: where it is live now


class VersionLineageOut(Schema):
    upstream: list[NodeOut]
    downstream: list[NodeOut]
    hidden: int
    truncated: bool


class ImpactedOut(Schema):
    model: str
    version: str
    stage: str
    production: bool
    deployed_in: list[str]  # environments where it is live now
    url: str


class ImpactOut(Schema):
    versions: list[ImpactedOut]
    hidden: int
    truncated: bool


def _version_node(request: HttpRequest, v: ModelVersion, depth: int) -> dict[str, Any]:
    label = f"{v.model.team.slug}/{v.model.name}@{v.version}"
    url = request.build_absolute_uri(v.get_absolute_url())
    return {"type": NodeType.VERSION, "label": label, "url": url, "depth": depth,
            "stage": v.stage}  # fmt: skip


@router.get(VERSION_PATH + "/lineage", response={200: VersionLineageOut, **ERRORS},
            url_name="api-version-lineage")  # fmt: skip
def version_lineage(
    request: HttpRequest, team: str = Team_, name: str = Name_, version: str = Version_
) -> dict[str, Any]:
    """Where the version came from (datasets, code, ancestors) and where it went, nearest
    first, as far as the caller may read; `hidden` counts the nodes of other teams."""
    mv = version_for_user(request.user, team, name, version)
    found = graph.version_lineage(request.user, mv)
    upstream = [
        {"type": NodeType.DATASET, "label": str(dv), "depth": 1,
         "url": request.build_absolute_uri(dv.get_absolute_url())}
        for dv in found.datasets
    ] + [
        {"type": node_type, "label": str(node), "depth": 1,
         "url": request.build_absolute_uri(node.get_absolute_url())}
        for node_type, nodes in ((NodeType.FEATURES, found.features), (NodeType.CODE, found.code),
                                 (NodeType.RUN, found.runs))
        for node in nodes
    ]  # fmt: skip
    upstream += [_version_node(request, v, depth) for v, depth in found.ancestors]
    downstream = [
        {"type": NodeType.DEPLOYMENT, "label": f"{d.environment} ({d.status})", "depth": 1,
         "url": request.build_absolute_uri(d.get_absolute_url())}
        for d in found.deployments
    ]  # fmt: skip
    downstream += [
        {**_version_node(request, v, depth), "deployed_in": environments}
        for v, depth, environments in found.descendant_rows()
    ]
    return {"upstream": upstream, "downstream": downstream, "hidden": found.hidden,
            "truncated": found.truncated}  # fmt: skip


@router.post(VERSION_PATH + "/parents", response={201: LineageRefsOut, **ERRORS},
             url_name="api-version-parents")  # fmt: skip
def link_parent(
    request: HttpRequest,
    payload: ParentLink,
    team: str = Team_,
    name: str = Name_,
    version: str = Version_,
) -> Status:
    """Record a parent model version (contributors); 409 when it would make a cycle."""
    child = version_for_user(request.user, team, name, version, Action.CONTRIBUTE)
    (parent,) = graph.resolve_parents(
        request.user, child.model.team, [{"version": payload.parent, "kind": payload.kind}]
    )
    graph.link_parent(child, parent.version, request.user, parent.kind)
    datasets, parents = graph.direct_references(request.user, [child.pk]).get(child.pk, ([], []))
    return Status(201, {"datasets": datasets, "parents": parents})


# The node types an impact analysis starts from, by their path segment.
IMPACT_SOURCES = {
    "datasets": (DatasetVersion, "dataset__team", NodeType.DATASET),
    "features": (FeatureSetVersion, "feature_set__team", NodeType.FEATURES),
    "code": (CodeVersion, "team", NodeType.CODE),
    "runs": (TrainingRun, "team", NodeType.RUN),
}


@router.get("/lineage/{kind}/{team}/{node_id}/impact", response={200: ImpactOut, **ERRORS},
            url_name="api-lineage-impact")  # fmt: skip
def lineage_impact(
    request: HttpRequest,
    kind: Literal["datasets", "features", "code", "runs"],
    node_id: int,
    team: str = Team_,
) -> Any:
    """Every model version that depends on a dataset version, feature set version, code
    version or training run, marked when in Production and with the environments where it
    is deployed now."""
    model, team_path, node_type = IMPACT_SOURCES[kind]
    node = get_object_or_404(
        model.objects.filter(teams_q(request.user, Action.VIEW, team_path)),
        **{f"{team_path}__slug": team, "pk": node_id},
    )
    return _impact_out(request, graph.impact(request.user, graph.Node(node_type, node.pk)))


@router.get(VERSION_PATH + "/impact", response={200: ImpactOut, **ERRORS},
            url_name="api-version-impact")  # fmt: skip
def version_impact(
    request: HttpRequest, team: str = Team_, name: str = Name_, version: str = Version_
) -> Any:
    """Every model version derived from this one, however indirectly, marked when in
    Production and with the environments where it is deployed now."""
    mv = version_for_user(request.user, team, name, version)
    return _impact_out(request, graph.impact(request.user, graph.Node(NodeType.VERSION, mv.pk)))


def _impact_out(request: HttpRequest, found: graph.Impact) -> dict[str, Any]:
    return {
        "versions": [
            {"model": f"{v.model.team.slug}/{v.model.name}", "version": v.version,
             "stage": v.stage, "production": v.stage == Stage.PRODUCTION,
             "deployed_in": environments,
             "url": request.build_absolute_uri(v.get_absolute_url())}
            for v, environments in found.rows()
        ],
        "hidden": found.hidden,
        "truncated": found.truncated,
    }  # fmt: skip


class OpenLineageOut(Schema):
    run: str
    state: str
    inputs: int
    outputs: int
    url: str


@router.post("/lineage/openlineage", response={201: OpenLineageOut, **ERRORS},
             url_name="api-openlineage")  # fmt: skip
def openlineage_event(request: HttpRequest, team: str | None = None) -> Status:
    """Record an OpenLineage RunEvent (START, RUNNING, COMPLETE, FAIL, ABORT, OTHER): the
    run, the datasets it read ("used") and wrote ("produced"). The run is kept in `team`,
    else the team the job's namespace names, else the caller's only team; facets other
    than schema, version, dataSource, outputStatistics and errorMessage are ignored."""
    if request.body:
        require_json(request)
    try:
        event = json.loads(request.body or b"null")
    except ValueError as exc:
        raise ValidationError({"body": f"is not JSON: {exc}"}) from None
    found = openlineage.ingest(request.user, event, team)
    url = request.build_absolute_uri(found.run.get_absolute_url())
    return Status(201, {"run": found.run.external_id, "state": found.run.state,
                        "inputs": found.inputs, "outputs": found.outputs, "url": url})  # fmt: skip
