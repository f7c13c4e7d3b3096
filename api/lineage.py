"""Lineage over the API: a version's lineage, linking a parent, and impact analysis.

The same domain functions as the pages (lineage.graph); versions are fetched through
registry.access, dataset versions through the team filter of the permission policy.
"""

from __future__ import annotations

from typing import Any, Literal

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status

from accounts.policy import Action, teams_q
from api.params import ERRORS, Name_, Team_, Version_
from api.schemas import Body, LineageRefsOut
from lineage import graph
from lineage.models import DatasetVersion, NodeType
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
        {"type": NodeType.CODE, "label": str(code), "depth": 1,
         "url": request.build_absolute_uri(code.get_absolute_url())}
        for code in found.code
    ]  # fmt: skip
    upstream += [_version_node(request, v, depth) for v, depth in found.ancestors]
    downstream = [_version_node(request, v, depth) for v, depth in found.descendants]
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


@router.get("/lineage/datasets/{team}/{dataset_version_id}/impact",
            response={200: ImpactOut, **ERRORS}, url_name="api-dataset-impact")  # fmt: skip
def dataset_impact(request: HttpRequest, dataset_version_id: int, team: str = Team_) -> Any:
    """Every model version that depends on the dataset version, marked when in Production."""
    dv = get_object_or_404(
        DatasetVersion.objects.filter(teams_q(request.user, Action.VIEW, "dataset__team")),
        dataset__team__slug=team,
        pk=dataset_version_id,
    )
    found = graph.impact(request.user, graph.Node(NodeType.DATASET, dv.pk))
    return {
        "versions": [
            {"model": f"{v.model.team.slug}/{v.model.name}", "version": v.version,
             "stage": v.stage, "production": v.stage == Stage.PRODUCTION,
             "url": request.build_absolute_uri(v.get_absolute_url())}
            for v in found.versions
        ],
        "hidden": found.hidden,
        "truncated": found.truncated,
    }  # fmt: skip
