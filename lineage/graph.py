"""The lineage graph: recording edges, walking it, and impact analysis.

    walk(node, direction, max_depth, max_nodes) -> Walk      one recursive query
    version_lineage(user, version) -> VersionLineage          what the version page lists
    impact(user, node) -> Impact                              every dependent model version
    resolve_datasets / resolve_parents, then record_version_lineage(version, …)
    link_parent(child, parent, actor, kind)                   refuses cycles (Conflict)

Nodes are (type, id) pairs (see lineage.models.NodeType). A walk is one ``WITH RECURSIVE``
query on SQLite and PostgreSQL alike over the edges (each reached once, so a cycle, which
link_parent refuses but data may hold, ends the walk), capped by a size limit; depths and
the depth limit come from a breadth-first pass over the edges it returns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Concat

from accounts import audit
from accounts.models import Team
from accounts.policy import Action, require, teams_q
from lineage import deployments
from lineage.models import (
    PARENT_KINDS,
    CodeVersion,
    Dataset,
    DatasetVersion,
    Deployment,
    Edge,
    EdgeKind,
    FeatureSet,
    FeatureSetVersion,
    NodeType,
    TrainingRun,
)
from lineage.runs import RunData, save_run
from registry import parent_links
from registry.errors import Conflict
from registry.metadata import CONTROL_CHARS, unstorable_text
from registry.models import ModelVersion, Stage

Direction = Literal["upstream", "downstream"]

MAX_DEPTH = 50  # hops a walk follows
MAX_NODES = 1000  # nodes a walk returns; more is reported as truncated
EDGES_PER_NODE = 3  # edges fetched per node allowed, before the walk counts as truncated


class Node(NamedTuple):
    type: str
    id: int


class EdgeRow(NamedTuple):
    src: Node
    dst: Node
    kind: str


@dataclass(frozen=True)
class Walk:
    """The nodes reached from a start node (not included), nearest first, and the edges
    followed to reach them (the subgraph a rendering draws)."""

    nodes: list[tuple[Node, int]]  # (node, depth of its shortest path)
    edges: list[EdgeRow]
    truncated: bool  # a limit cut the walk short

    def ids(self, node_type: str) -> list[int]:
        return [node.id for node, _depth in self.nodes if node.type == node_type]

    def depth(self, node: Node) -> int | None:
        return next((d for n, d in self.nodes if n == node), None)


# The recursion follows edges, not nodes: UNION keeps each edge once, so the walk is
# linear in the edges it reaches and ends on a cycle. (Rows carrying a depth would be
# distinct per path length and grow with the number of paths.)
_WALK_SQL = """
WITH RECURSIVE reach(src_type, src_id, dst_type, dst_id, kind) AS (
    SELECT src_type, src_id, dst_type, dst_id, kind FROM lineage_edge
    WHERE {far}_type = %s AND {far}_id = %s
    UNION
    SELECT e.src_type, e.src_id, e.dst_type, e.dst_id, e.kind
    FROM lineage_edge e JOIN reach r ON e.{far}_type = r.{near}_type AND e.{far}_id = r.{near}_id
)
SELECT src_type, src_id, dst_type, dst_id, kind FROM reach LIMIT %s
"""


def walk(
    start: Node,
    direction: Direction,
    max_depth: int | None = None,
    max_nodes: int | None = None,
) -> Walk:
    """Everything upstream (what `start` came from) or downstream (what came from it).

    One query fetches the edges reached (at most a few per node allowed); the depths are
    a breadth-first pass over them here, which also applies the depth and size limits.
    """
    max_depth = max_depth or MAX_DEPTH
    max_nodes = max_nodes or MAX_NODES
    near, far = ("src", "dst") if direction == "upstream" else ("dst", "src")
    edge_limit = max_nodes * EDGES_PER_NODE
    with connection.cursor() as cursor:
        cursor.execute(_WALK_SQL.format(near=near, far=far), [start.type, start.id, edge_limit])
        rows = cursor.fetchall()
    edges = [EdgeRow(Node(st, int(si)), Node(dt, int(di)), k) for st, si, dt, di, k in rows]
    following: dict[Node, list[Node]] = {}
    for e in edges:
        a, b = (e.dst, e.src) if direction == "upstream" else (e.src, e.dst)
        following.setdefault(a, []).append(b)
    depths = {start: 0}
    frontier = [start]
    truncated = len(edges) >= edge_limit
    while frontier:
        depth = depths[frontier[0]] + 1
        if depth > max_depth:
            truncated = truncated or any(following.get(n) for n in frontier)
            break
        nxt = []
        for node in frontier:
            for reached in following.get(node, ()):
                if reached not in depths:
                    depths[reached] = depth
                    nxt.append(reached)
        frontier = nxt
    nodes = sorted(((n, d) for n, d in depths.items() if n != start), key=lambda nd: (nd[1], nd[0]))
    if len(nodes) > max_nodes:
        nodes, truncated = nodes[:max_nodes], True
    kept = {n for n, _d in nodes} | {start}
    return Walk(
        nodes,
        [e for e in edges if e.src in kept and e.dst in kept],
        truncated=truncated,
    )


# --- what the pages show ---------------------------------------------------------------


@dataclass
class Impact:
    """The model versions depending on a node, readable by the user, nearest first, and
    where they are deployed now."""

    versions: list[ModelVersion]
    hidden: int  # dependent versions of teams the user may not read
    truncated: bool
    live: dict[int, list[str]] = field(default_factory=dict)  # version id → environments

    @property
    def production(self) -> list[ModelVersion]:
        return [v for v in self.versions if v.stage == Stage.PRODUCTION]

    @property
    def deployed(self) -> list[ModelVersion]:
        return [v for v in self.versions if v.pk in self.live]

    def rows(self) -> list[tuple[ModelVersion, list[str]]]:
        return [(v, self.live.get(v.pk, [])) for v in self.versions]


def _readable_versions(user: Any, ids: Sequence[int]) -> list[ModelVersion]:
    if not ids:
        return []
    found = {
        v.pk: v
        for v in ModelVersion.objects.visible_to(user)
        .filter(pk__in=ids)
        .select_related("model__team")
    }
    return [found[pk] for pk in ids if pk in found]


def _live(ids: Sequence[int]) -> dict[int, list[str]]:
    return deployments.live_environments(ids) if ids else {}


def impact(user: Any, node: Node) -> Impact:
    """Every model version downstream of `node`, and the environments where those are
    live (3 queries)."""
    found = walk(node, "downstream")
    ids = found.ids(NodeType.VERSION)
    versions = _readable_versions(user, ids)
    return Impact(
        versions,
        hidden=len(ids) - len(versions),
        truncated=found.truncated,
        live=_live([v.pk for v in versions]),
    )


@dataclass
class VersionLineage:
    """Where a version came from and where it went, as far as the user may read."""

    datasets: list[DatasetVersion] = field(default_factory=list)
    features: list[FeatureSetVersion] = field(default_factory=list)
    code: list[CodeVersion] = field(default_factory=list)
    runs: list[TrainingRun] = field(default_factory=list)
    ancestors: list[tuple[ModelVersion, int]] = field(default_factory=list)  # with depth
    descendants: list[tuple[ModelVersion, int]] = field(default_factory=list)
    deployments: list[Deployment] = field(default_factory=list)  # of the version itself
    live: dict[int, list[str]] = field(default_factory=dict)  # descendant id → environments
    edges: list[EdgeRow] = field(default_factory=list)  # between the version and these
    hidden: int = 0
    truncated: bool = False

    @property
    def upstream(self) -> int:
        return len(self.datasets) + len(self.features) + len(self.code) + len(self.runs)

    @property
    def node_count(self) -> int:
        return self.upstream + len(self.ancestors) + len(self.descendants) + len(self.deployments)

    @property
    def empty(self) -> bool:
        return self.node_count == 0

    def descendant_rows(self) -> list[tuple[ModelVersion, int, list[str]]]:
        return [(v, depth, self.live.get(v.pk, [])) for v, depth in self.descendants]


def _readable(qs: QuerySet[Any], user: Any, team_path: str, ids: list[int]) -> list[Any]:
    """The rows of `ids` whose team (at `team_path`) the user may read; no query for none."""
    if not ids:
        return []
    return list(qs.filter(teams_q(user, Action.VIEW, team_path)).filter(pk__in=ids))


def version_lineage(user: Any, version: ModelVersion) -> VersionLineage:
    """Both walks and the readable nodes they reach: two queries, plus one per kind of node
    found (at most eight), whatever the size of the graph."""
    start = Node(NodeType.VERSION, version.pk)
    up, down = walk(start, "upstream"), walk(start, "downstream")
    datasets = _readable(
        DatasetVersion.objects.select_related("dataset__team").order_by("dataset__name", "version"),
        user, "dataset__team", up.ids(NodeType.DATASET),
    )  # fmt: skip
    features = _readable(
        FeatureSetVersion.objects.select_related("feature_set__team").order_by(
            "feature_set__name", "version"
        ),
        user, "feature_set__team", up.ids(NodeType.FEATURES),
    )  # fmt: skip
    code = _readable(CodeVersion.objects.select_related("team"), user, "team",
                     up.ids(NodeType.CODE))  # fmt: skip
    runs = _readable(TrainingRun.objects.select_related("team"), user, "team",
                     up.ids(NodeType.RUN))  # fmt: skip
    deployment_ids = down.ids(NodeType.DEPLOYMENT)
    deployed = (
        list(deployments.visible(user).filter(pk__in=deployment_ids, version=version))
        if deployment_ids
        else []
    )
    up_ids, down_ids = up.ids(NodeType.VERSION), down.ids(NodeType.VERSION)
    readable = {v.pk: v for v in _readable_versions(user, [*up_ids, *down_ids])}

    def with_depth(found: Walk) -> list[tuple[ModelVersion, int]]:
        return [
            (readable[n.id], d)
            for n, d in found.nodes
            if n.type == NodeType.VERSION and n.id in readable
        ]

    ancestors, descendants = with_depth(up), with_depth(down)
    # Impact: the descendants live somewhere now (only when deployments were reached).
    live = _live([v.pk for v, _d in descendants]) if deployment_ids and descendants else {}
    shown = {start} | {Node(NodeType.VERSION, v.pk) for v, _d in [*ancestors, *descendants]}
    for node_type, rows in ((NodeType.DATASET, datasets), (NodeType.FEATURES, features),
                            (NodeType.CODE, code), (NodeType.RUN, runs),
                            (NodeType.DEPLOYMENT, deployed)):  # fmt: skip
        shown |= {Node(node_type, row.pk) for row in rows}
    lineage = VersionLineage(
        datasets=datasets,
        features=features,
        code=code,
        runs=runs,
        ancestors=ancestors,
        descendants=descendants,
        deployments=deployed,
        live=live,
        edges=[e for e in [*up.edges, *down.edges] if e.src in shown and e.dst in shown],
        truncated=up.truncated or down.truncated,
    )
    # Deployments of descendants are not listed here (their own pages show them).
    other_deployments = len(deployment_ids) - len(deployed)
    lineage.hidden = max(0, len(up.nodes) + len(down.nodes) - lineage.node_count
                         - other_deployments)  # fmt: skip
    return lineage


# --- recording --------------------------------------------------------------------------

_REF = re.compile(r"^(?:(?P<team>[a-z0-9][a-z0-9-]*)/)?(?P<name>[^@\s]+)(?:@(?P<version>\S+))?$")


@dataclass(frozen=True)
class DatasetRef:
    """A dataset version as the API and client name it (validated, not yet stored)."""

    team: str
    name: str
    version: str = ""
    uri: str = ""
    digest: str = ""
    size_bytes: int | None = None
    rows: int | None = None
    schema: Mapping[str, Any] = field(default_factory=dict)

    def defaults(self) -> dict[str, Any]:
        """The fields of a new DatasetVersion (a stored one keeps its own)."""
        return {"version": self.version, "uri": self.uri, "digest": self.digest,
                "size_bytes": self.size_bytes, "rows": self.rows,
                "schema": dict(self.schema)}  # fmt: skip


@dataclass(frozen=True)
class FeatureSetRef:
    """A feature set version as the API and client name it."""

    team: str
    name: str
    version: str = ""
    features: tuple[str, ...] = ()
    digest: str = ""

    def defaults(self) -> dict[str, Any]:
        return {"version": self.version, "features": list(self.features), "digest": self.digest}


@dataclass(frozen=True)
class ParentRef:
    version: ModelVersion
    kind: str


def _field_error(name: str, message: str) -> ValidationError:
    return ValidationError({name: [message]})


_DATASET_FIELDS = ("name", "version", "uri", "digest", "size_bytes", "rows", "schema", "team")
_FEATURE_SET_FIELDS = ("name", "version", "features", "digest", "team")


def _reference(where: str, item: Any, fields: Sequence[str]) -> Mapping[str, Any]:
    """A reference object with only known fields; a "[team/]name[@version]" string parsed."""
    if isinstance(item, str):
        return _parse_ref(where, item)
    if not isinstance(item, Mapping):
        raise _field_error(where, "must be a string or an object")
    unknown = sorted(str(key) for key in item if key not in fields)
    if unknown:
        raise _field_error(f"{where}.{unknown[0]}", f"unknown field: use {', '.join(fields)}")
    return item


def _text(where: str, item: Mapping[str, Any], key: str, limit: int) -> str:
    """A text field of a reference ("" when absent); a version may be a whole number."""
    value = item.get(key)
    if value is None:
        return ""
    if key == "version" and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise _field_error(f"{where}.{key}", "must be a string")
    value = value.strip()
    if len(value) > limit:
        raise _field_error(f"{where}.{key}", f"may have at most {limit} characters")
    if CONTROL_CHARS.search(value) or unstorable_text(value):
        raise _field_error(f"{where}.{key}", "must not contain control characters")
    return value


def resolve_datasets(actor: Any, version_team: Team, items: Iterable[Any]) -> list[DatasetRef]:
    """Dataset references: "s3://…" URIs, "[team/]name[@version]" strings, or objects with
    name, version, uri, digest, size_bytes, rows, schema (and team).

    A dataset of the version's own team is created when first named; one of another team
    must exist and be readable by the actor, or it is refused as if it did not exist.
    """
    refs = []
    for i, item in enumerate(items):
        where = f"datasets.{i}"
        if isinstance(item, str) and "://" in item:
            item = {"uri": item}
        item = _reference(where, item, _DATASET_FIELDS)
        uri = _text(where, item, "uri", 1000)
        name = _text(where, item, "name", 300) or uri
        if not name:
            raise _field_error(where, "needs a name or a uri")
        if len(name) > 300:
            raise _field_error(where, "the name may have at most 300 characters")
        for key in ("size_bytes", "rows"):
            value = item.get(key)
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 0
            ):
                raise _field_error(f"{where}.{key}", "must be a whole number, 0 or more")
        schema = item.get("schema") or {}
        if not isinstance(schema, Mapping):
            raise _field_error(f"{where}.schema", "must be an object")
        ref = DatasetRef(
            team=_text(where, item, "team", 60) or version_team.slug,
            name=name,
            version=_text(where, item, "version", 200),
            uri=uri,
            digest=_text(where, item, "digest", 200),
            size_bytes=item.get("size_bytes"),
            rows=item.get("rows"),
            schema=schema,
        )
        if ref.team != version_team.slug and not _readable_dataset_versions(actor, ref).exists():
            raise _field_error(where, f"no dataset {ref.team}/{ref.name} that you may read")
        refs.append(ref)
    return refs


def _readable_dataset_versions(actor: Any, ref: DatasetRef) -> QuerySet[DatasetVersion]:
    return DatasetVersion.objects.filter(teams_q(actor, Action.VIEW, "dataset__team")).filter(
        dataset__team__slug=ref.team, dataset__name=ref.name, version=ref.version
    )


def resolve_feature_sets(
    actor: Any, version_team: Team, items: Iterable[Any]
) -> list[FeatureSetRef]:
    """Feature set references: "[team/]name[@version]" strings or objects with name,
    version, features (a list of names), digest (and team); another team's must exist and
    be readable by the actor."""
    refs = []
    for i, item in enumerate(items):
        where = f"features.{i}"
        item = _reference(where, item, _FEATURE_SET_FIELDS)
        name = _text(where, item, "name", 300)
        if not name:
            raise _field_error(where, "needs a name of at most 300 characters")
        features = item.get("features") or []
        if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
            raise _field_error(f"{where}.features", "must be a list of feature names")
        if len(features) > 5000:
            raise _field_error(f"{where}.features", "may list at most 5000 features")
        if any(len(f) > 200 or CONTROL_CHARS.search(f) or unstorable_text(f) for f in features):
            raise _field_error(
                f"{where}.features", "names have at most 200 characters, no control characters"
            )
        ref = FeatureSetRef(
            team=_text(where, item, "team", 60) or version_team.slug,
            name=name,
            version=_text(where, item, "version", 200),
            features=tuple(features),
            digest=_text(where, item, "digest", 200),
        )
        if ref.team != version_team.slug and not (
            FeatureSetVersion.objects.filter(teams_q(actor, Action.VIEW, "feature_set__team"))
            .filter(feature_set__team__slug=ref.team, feature_set__name=ref.name,
                    version=ref.version)
            .exists()
        ):  # fmt: skip
            raise _field_error(where, f"no feature set {ref.team}/{ref.name} that you may read")
        refs.append(ref)
    return refs


def _parse_ref(where: str, text: str) -> dict[str, str]:
    match = _REF.match(text.strip())
    if not match:
        raise _field_error(where, f"{text!r} is not of the form [team/]name[@version]")
    return {k: v for k, v in match.groupdict().items() if v}


def resolve_parents(actor: Any, version_team: Any, items: Iterable[Any]) -> list[ParentRef]:
    """Parent model versions ("[team/]model@version", or {"version": …, "kind": …}) the
    actor may read; one they may not read is refused as if it did not exist."""
    refs = []
    kinds = {k.value for k in PARENT_KINDS}
    for i, item in enumerate(items):
        where = f"parents.{i}"
        kind = EdgeKind.DERIVED_FROM.value
        if isinstance(item, Mapping):
            kind = str(item.get("kind") or kind)
            item = item.get("version")
        if not isinstance(item, str):
            raise _field_error(where, "must be a string [team/]model@version")
        if kind not in kinds:
            raise _field_error(f"{where}.kind", f"must be one of {', '.join(sorted(kinds))}")
        parsed = _parse_ref(where, item)
        if "version" not in parsed:
            raise _field_error(where, f"{item!r} names no version: use [team/]model@version")
        parent = (
            ModelVersion.objects.visible_to(actor)
            .select_related("model__team")
            .filter(
                model__team__slug=parsed.get("team", version_team.slug),
                model__name=parsed["name"],
                version=parsed["version"],
            )
            .first()
        )
        if parent is None:
            raise _field_error(where, f"no model version {item!r} that you may read")
        refs.append(ParentRef(parent, kind))
    return refs


def _named_versions(
    team: Team, refs: Sequence[DatasetRef | FeatureSetRef], kind: type[Dataset] | type[FeatureSet]
) -> list[Any]:
    """The stored versions `refs` name, those of `team` created when first named
    (a few queries, however many refs)."""
    version_model = DatasetVersion if kind is Dataset else FeatureSetVersion
    parent = "dataset" if kind is Dataset else "feature_set"
    own = {(r.name, r.version): r for r in refs if r.team == team.slug}
    if own:
        names = {name for name, _version in own}
        kind.objects.bulk_create([kind(team=team, name=n) for n in names], ignore_conflicts=True)
        parents = {p.name: p for p in kind.objects.filter(team=team, name__in=names)}
        version_model.objects.bulk_create(
            [version_model(**{parent: parents[r.name]}, **r.defaults()) for r in own.values()],
            ignore_conflicts=True,
        )
    wanted = Q(pk__in=[])
    for r in refs:
        wanted |= Q(**{f"{parent}__team__slug": r.team, f"{parent}__name": r.name,
                       "version": r.version})  # fmt: skip
    found = {
        (getattr(v, parent).team.slug, getattr(v, parent).name, v.version): v
        for v in version_model.objects.filter(wanted).select_related(f"{parent}__team")
    }
    return [found[(r.team, r.name, r.version)] for r in refs]


def dataset_versions(team: Team, refs: Sequence[DatasetRef]) -> list[DatasetVersion]:
    return _named_versions(team, refs, Dataset)


def add_edges(edges: Iterable[tuple[str, Node, Node]]) -> None:
    """Store edges (one query); an edge already there is kept as it is."""
    Edge.objects.bulk_create(
        [
            Edge(kind=kind, src_type=src.type, src_id=src.id, dst_type=dst.type, dst_id=dst.id)
            for kind, src, dst in edges
        ],
        ignore_conflicts=True,
    )


def record_version_lineage(
    version: ModelVersion,
    datasets: Sequence[DatasetRef] = (),
    parents: Sequence[ParentRef] = (),
    features: Sequence[FeatureSetRef] = (),
    run: RunData | None = None,
) -> None:
    """Edges into a newly registered version: its datasets, feature sets, parents, code
    commit and training run, in a few queries whatever their number.

    A new version has no descendants yet, so its parent links cannot make a cycle.
    """
    node = Node(NodeType.VERSION, version.pk)
    team = version.model.team
    edges: list[tuple[str, Node, Node]] = []
    # Inside the caller's transaction it joins it (no savepoint): all or nothing together.
    with transaction.atomic(savepoint=False):
        for dv in dataset_versions(team, datasets) if datasets else ():
            edges.append((EdgeKind.USED, Node(NodeType.DATASET, dv.pk), node))
        for fv in _named_versions(team, features, FeatureSet) if features else ():
            edges.append((EdgeKind.USED, Node(NodeType.FEATURES, fv.pk), node))
        if parents:
            _hold_parents([(f"parents.{i}", p.version) for i, p in enumerate(parents)])
        edges += [(p.kind, Node(NodeType.VERSION, p.version.pk), node) for p in parents]
        if version.code_repository and version.code_commit:
            key = {"team": team, "repository": version.code_repository,
                   "commit": version.code_commit, "path": version.code_entry_point}  # fmt: skip
            # Insert-or-keep, then read: no savepoint, whoever stored it first.
            CodeVersion.objects.bulk_create(
                [CodeVersion(**key, branch=version.code_branch)], ignore_conflicts=True
            )
            code = CodeVersion.objects.only("pk").get(**key)
            edges.append((EdgeKind.TRAINED_BY, Node(NodeType.CODE, code.pk), node))
        if run is not None:
            saved = save_run(team, run)
            edges.append((EdgeKind.PRODUCED, Node(NodeType.RUN, saved.pk), node))
        if edges:
            add_edges(edges)


def _hold_parents(named: Sequence[tuple[str, ModelVersion]]) -> None:
    """Keep the parents (field name, version) from being deleted until the transaction
    ends (registry.parent_links); one deleted since it was resolved is refused."""
    there = parent_links.hold_parents(version.pk for _field, version in named)
    for field_name, version in named:
        if version.pk not in there:
            raise _field_error(
                field_name, f"{version.model.name}@{version.version} was deleted meanwhile"
            )


def add_inputs(
    actor: Any,
    version: ModelVersion,
    datasets: Sequence[Any] = (),
    features: Sequence[Any] = (),
) -> None:
    """Record datasets or feature sets an existing version was trained on (contributors).

    Nothing flows from a model version into a dataset or feature set, so these edges
    cannot close a cycle.
    """
    require(actor, Action.CONTRIBUTE, version)
    team = version.model.team
    dataset_refs = resolve_datasets(actor, team, datasets)
    feature_refs = resolve_feature_sets(actor, team, features)
    with transaction.atomic():
        record_version_lineage(version, dataset_refs, features=feature_refs)
        audit.record(
            "version.lineage",
            actor=actor,
            obj=version,
            team=team,
            changes={"inputs": [None, [*map(str, datasets), *map(str, features)]]},
        )


def link_parent(
    child: ModelVersion, parent: ModelVersion, actor: Any, kind: str = EdgeKind.DERIVED_FROM
) -> None:
    """Record `parent` as a parent of `child`, refusing a link that would close a cycle."""
    require(actor, Action.CONTRIBUTE, child)
    require(actor, Action.VIEW, parent)
    if kind not in {k.value for k in PARENT_KINDS}:
        raise _field_error("kind", f"must be one of {', '.join(k.value for k in PARENT_KINDS)}")
    child_node, parent_node = Node(NodeType.VERSION, child.pk), Node(NodeType.VERSION, parent.pk)
    with transaction.atomic():
        _hold_parents([("parent", parent)])
        # Bounded by the limits: a parent further upstream than they reach is not checked.
        ancestors_of_parent = walk(parent_node, "upstream")
        if child == parent or ancestors_of_parent.depth(child_node) is not None:
            raise Conflict(
                f"{parent.model.name}@{parent.version} cannot be a parent of "
                f"{child.model.name}@{child.version}: it already derives from it, "
                "so the link would make a cycle",
                "parent",
            )
        add_edges([(kind, parent_node, child_node)])


def direct_references(
    user: Any, version_ids: Iterable[int]
) -> dict[int, tuple[list[str], list[str]]]:
    """Per version, the labels of the datasets it used and of its parents that `user` may
    read (1 query)."""

    def label(readable: QuerySet[Any], *parts: Any) -> Subquery:
        labelled = readable.filter(pk=OuterRef("src_id")).annotate(label=Concat(*parts))
        return Subquery(labelled.values("label")[:1])

    datasets = DatasetVersion.objects.filter(teams_q(user, Action.VIEW, "dataset__team"))

    edges = (
        Edge.objects.filter(dst_type=NodeType.VERSION, dst_id__in=list(version_ids))
        .exclude(src_type=NodeType.CODE)
        .annotate(
            dataset=label(datasets, "dataset__name", Value("@"), "version"),
            parent=label(
                ModelVersion.objects.visible_to(user),
                "model__team__slug",
                Value("/"),
                "model__name",
                Value("@"),
                "version",
            ),  # fmt: skip
        )
        .order_by("dst_id", "src_type", "pk")
    )
    found: dict[int, tuple[list[str], list[str]]] = {}
    for dst_id, src_type, dataset, parent in edges.values_list(
        "dst_id", "src_type", "dataset", "parent"
    ):
        used, parents = found.setdefault(dst_id, ([], []))
        if src_type == NodeType.DATASET and dataset is not None:
            used.append(dataset.removesuffix("@"))
        elif src_type == NodeType.VERSION and parent is not None:
            parents.append(parent)
    return found


@dataclass
class RunDatasets:
    used: list[DatasetVersion]
    produced: list[DatasetVersion]


def run_datasets(user: Any, run: TrainingRun) -> RunDatasets:
    """The dataset versions a run read and wrote that the user may read (2 queries)."""
    node = Node(NodeType.RUN, run.pk)
    edges = list(
        Edge.objects.filter(
            Q(dst_type=node.type, dst_id=node.id, src_type=NodeType.DATASET)
            | Q(src_type=node.type, src_id=node.id, dst_type=NodeType.DATASET)
        ).values_list("src_type", "src_id", "dst_id")
    )
    ids = [src_id if src_type == NodeType.DATASET else dst_id for src_type, src_id, dst_id in edges]
    found = DatasetVersion.objects.filter(teams_q(user, Action.VIEW, "dataset__team"))
    readable = found.select_related("dataset__team").in_bulk(ids) if ids else {}
    used = [readable[s] for t, s, _d in edges if t == NodeType.DATASET and s in readable]
    produced = [readable[d] for t, _s, d in edges if t != NodeType.DATASET and d in readable]
    return RunDatasets(used, produced)


def neighbour_runs(user: Any, node: Node) -> dict[str, list[TrainingRun]]:
    """The runs that read ("used") and wrote ("produced") a dataset version (2 queries)."""
    edges = list(
        Edge.objects.filter(
            Q(src_type=node.type, src_id=node.id, dst_type=NodeType.RUN)
            | Q(dst_type=node.type, dst_id=node.id, src_type=NodeType.RUN)
        ).values_list("src_type", "src_id", "dst_id")
    )
    ids = [dst if src_type != NodeType.RUN else src for src_type, src, dst in edges]
    runs = TrainingRun.objects.filter(teams_q(user, Action.VIEW, "team")).select_related("team")
    readable = runs.in_bulk(ids) if ids else {}
    return {
        "used": [readable[d] for t, _s, d in edges if t != NodeType.RUN and d in readable],
        "produced": [readable[s] for t, s, _d in edges if t == NodeType.RUN and s in readable],
    }
