"""Lineage benchmark: upstream/downstream traversal on a 20,000-node graph (the issue's
target: under 50 ms each, one query whatever the depth), rendering a 300-node lineage
graph with `dot` as the worker does (target: under 3 s), and the lineage pages' query
counts as the graph grows (target: constant).

    .venv/bin/python bench/lineage.py [--runs 30] [--nodes 20000]

It writes a synthetic graph into the edge table (node ids from 10**12 up, so they never
meet real rows): datasets feeding model versions, each version retrained from one or two
of the versions shortly before it, in long chains. It walks upstream from the newest
version and downstream from the oldest dataset, reports p50/p95 per walk and the nodes
reached, and removes the graph again. Exits 1 if a p95 misses the target.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

BASE = 10**12
TARGET_MS = 50.0
RENDER_TARGET_S = 3.0


def make_graph(nodes: int, seed: int = 7) -> tuple[int, int]:
    """Edges for `nodes` nodes (a tenth datasets); returns (newest version, oldest dataset)."""
    from lineage.models import Edge, EdgeKind, NodeType

    rng = random.Random(seed)
    datasets = nodes // 10
    versions = nodes - datasets
    edges = []
    for i in range(versions):
        dst = BASE + i
        for d in rng.sample(range(datasets), 2):
            edges.append(Edge(kind=EdgeKind.USED, src_type=NodeType.DATASET, src_id=BASE + d,
                              dst_type=NodeType.VERSION, dst_id=dst))  # fmt: skip
        if i:
            for p in {i - 1, max(0, i - rng.randint(1, 30))}:
                edges.append(Edge(kind=EdgeKind.DERIVED_FROM, src_type=NodeType.VERSION,
                                  src_id=BASE + p, dst_type=NodeType.VERSION,
                                  dst_id=dst))  # fmt: skip
    Edge.objects.bulk_create(edges, batch_size=5000)
    return BASE + versions - 1, BASE


def clear() -> None:
    from lineage.models import Edge

    Edge.objects.filter(src_id__gte=BASE).delete()
    Edge.objects.filter(dst_id__gte=BASE).delete()


def measure(runs: int, call: object) -> tuple[float, float, int]:
    times, reached = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        found = call()  # type: ignore[operator]
        times.append((time.perf_counter() - start) * 1000)
        reached = len(found.nodes)
    times.sort()
    return statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)], reached


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--nodes", type=int, default=20_000)
    args = parser.parse_args()
    import django

    django.setup()
    from django.db import connection

    from lineage import graph
    from lineage.models import NodeType

    clear()
    newest, oldest = make_graph(args.nodes)
    failed = False
    try:
        walks = {
            "upstream from the newest version": lambda: graph.walk(
                graph.Node(NodeType.VERSION, newest), "upstream"
            ),
            "downstream from the oldest dataset": lambda: graph.walk(
                graph.Node(NodeType.DATASET, oldest), "downstream"
            ),
        }
        print(f"{args.nodes:,} nodes on {connection.vendor}; limits: depth "
              f"{graph.MAX_DEPTH}, nodes {graph.MAX_NODES}")  # fmt: skip
        for label, call in walks.items():
            p50, p95, reached = measure(args.runs, call)
            ok = p95 < TARGET_MS
            failed = failed or not ok
            print(f"  {label:38} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  "
                  f"{reached:5} nodes  {'ok' if ok else 'MISSED'}")  # fmt: skip
    finally:
        clear()
    seconds = time_render(render_nodes=300)
    ok = seconds < RENDER_TARGET_S
    failed = failed or not ok
    print(
        f"  render a 300-node graph (dot -Tsvg)       {seconds:6.2f} s  {'ok' if ok else 'MISSED'}"
    )
    print("  queries per page, 1 vs 40 nodes of each kind around the version:")
    for label, small, large in page_queries():
        ok = small == large
        failed = failed or not ok
        print(f"    {label:24} {small:3} / {large:3}  {'constant' if ok else 'GROWS'}")
    return 1 if failed else 0


def lineage_of(nodes: int, seed: int = 3) -> tuple[object, object]:
    """An in-memory VersionLineage of `nodes` nodes as a busy version has them: datasets,
    feature sets, code, runs, ancestors and descendants (wired to each other, not only to
    the root), and deployments; plus the root version."""
    from accounts.models import Team
    from lineage.graph import EdgeRow, Node, VersionLineage
    from lineage.models import (
        CodeVersion,
        Dataset,
        DatasetVersion,
        Deployment,
        FeatureSet,
        FeatureSetVersion,
        NodeType,
        TrainingRun,
    )
    from registry.models import ModelVersion, RegisteredModel, Stage

    rng = random.Random(seed)
    team = Team(pk=1, slug="fraud", name="Fraud")
    models = [RegisteredModel(pk=i, team=team, name=f"model-{i}") for i in range(12)]
    stages = list(Stage)

    def version(i: int) -> ModelVersion:
        return ModelVersion(pk=i, model=models[i % 12], version=f"1.{i}.0",
                            stage=stages[i % 4])  # fmt: skip

    root = version(0)
    per = max(1, nodes // 7)
    found = VersionLineage(
        datasets=[DatasetVersion(pk=i, dataset=Dataset(team=team, name=f"s3://lake/t{i}"),
                                 version="2026-05") for i in range(1, per + 1)],
        features=[FeatureSetVersion(pk=i, feature_set=FeatureSet(team=team, name=f"fs{i}"),
                                    version="v3") for i in range(1, per + 1)],
        code=[CodeVersion(pk=i, team=team, repository=f"git@x:r{i}", commit="a" * 40)
              for i in range(1, per + 1)],
        runs=[TrainingRun(pk=i, team=team, external_id=f"run-{i}") for i in range(1, per + 1)],
        ancestors=[(version(i), 1 + i % 5) for i in range(1, per + 1)],
        descendants=[(version(i), 1 + i % 5) for i in range(per + 1, 2 * per + 1)],
        deployments=[Deployment(pk=i, version=root, model=root.model, environment=f"env{i}",
                                status="active") for i in range(1, nodes - 7 * per + per + 1)],
    )  # fmt: skip
    upstream = ([Node(NodeType.DATASET, d.pk) for d in found.datasets]
                + [Node(NodeType.FEATURES, f.pk) for f in found.features]
                + [Node(NodeType.CODE, c.pk) for c in found.code]
                + [Node(NodeType.RUN, r.pk) for r in found.runs]
                + [Node(NodeType.VERSION, v.pk) for v, _d in found.ancestors])  # fmt: skip
    me = Node(NodeType.VERSION, root.pk)
    for node in upstream:  # each input feeds the root or one of the ancestors
        target = me if rng.random() < 0.3 else Node(NodeType.VERSION, rng.randint(1, per))
        if node != target:
            found.edges.append(EdgeRow(node, target, "used"))
    for v, _d in found.descendants:
        found.edges.append(EdgeRow(me, Node(NodeType.VERSION, v.pk), "derived_from"))
    for d in found.deployments:
        found.edges.append(EdgeRow(me, Node(NodeType.DEPLOYMENT, d.pk), "deployed_as"))
    return found, root


def time_render(render_nodes: int) -> float:
    """What the worker runs: the DOT lineage.render.version_dot writes for a busy
    `render_nodes`-node lineage, through lineage.render._render (`dot -Tsvg`)."""
    from lineage import render

    found, root = lineage_of(render_nodes - 1)
    dot = render.version_dot(found, root)
    assert dot is not None and found.node_count + 1 == render_nodes, found.node_count
    start = time.perf_counter()
    render._render(dot)
    return time.perf_counter() - start


def page_queries() -> list[tuple[str, int, int]]:
    """Queries per lineage page for a version with 1 and with 40 nodes of every kind
    (inside a transaction that is rolled back): they must not grow with the graph."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from accounts.models import Team
    from lineage import deployments, graph
    from lineage.models import (
        Dataset,
        DatasetVersion,
        EdgeKind,
        FeatureSet,
        FeatureSetVersion,
        NodeType,
        TrainingRun,
    )
    from registry import services
    from registry.metadata import clean_version_metadata

    def register(model: object, version: str) -> object:
        return services.register_version(model=model, actor=user, version=version,
                                         metadata=clean_version_metadata({}))  # fmt: skip

    class Rollback(Exception):
        pass

    counts: dict[str, list[int]] = {}
    try:
        with transaction.atomic():
            user = get_user_model().objects.create_superuser("bench-lineage", "b@x.y", "x")
            team = Team.objects.create(slug="bench-lineage", name="Bench lineage")
            for n in (1, 40):
                model = services.create_model(team=team, name=f"bench-{n}", actor=user)
                root = register(model, "5.0.0")
                edges, at = [], graph.Node(NodeType.VERSION, root.pk)
                for i in range(n):
                    dv = DatasetVersion.objects.create(
                        dataset=Dataset.objects.create(team=team, name=f"d{n}-{i}"), version="1"
                    )
                    fv = FeatureSetVersion.objects.create(
                        feature_set=FeatureSet.objects.create(team=team, name=f"f{n}-{i}")
                    )
                    run = TrainingRun.objects.create(team=team, external_id=f"r{n}-{i}")
                    parent, child = register(model, f"1.{i}.0"), register(model, f"9.{i}.0")
                    edges += [
                        (EdgeKind.USED, graph.Node(NodeType.DATASET, dv.pk), at),
                        (EdgeKind.USED, graph.Node(NodeType.FEATURES, fv.pk), at),
                        (EdgeKind.PRODUCED, graph.Node(NodeType.RUN, run.pk), at),
                        (EdgeKind.DERIVED_FROM, graph.Node(NodeType.VERSION, parent.pk), at),
                        (EdgeKind.DERIVED_FROM, at, graph.Node(NodeType.VERSION, child.pk)),
                    ]
                    deployments.record_deployment(user, root, f"env-{i}")
                graph.add_edges(edges)
                client = Client(HTTP_HOST="127.0.0.1")
                client.force_login(user)
                pages = {
                    "version page": root.get_absolute_url(),
                    "graph page": reverse("version-graph", args=[team.slug, model.name, "5.0.0"]),
                    "dataset version page": dv.get_absolute_url(),
                    "run page": run.get_absolute_url(),
                    "deployment history": reverse("model-deployments",
                                                  args=[team.slug, model.name]),
                }  # fmt: skip
                for label, url in pages.items():
                    with CaptureQueriesContext(connection) as ctx:
                        assert client.get(url).status_code == 200, url
                    counts.setdefault(label, []).append(len(ctx))
            raise Rollback
    except Rollback:
        pass
    return [(label, small, large) for label, (small, large) in counts.items()]


if __name__ == "__main__":
    sys.exit(main())
