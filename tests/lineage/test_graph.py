"""Traversal, impact analysis and parent links (lineage.graph)."""

from __future__ import annotations

import pytest

from lineage import graph
from lineage.models import EdgeKind, NodeType
from registry.errors import Conflict
from registry.models import Stage
from registry.services import apply_transition
from tests.lineage.conftest import edge, node

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain(make_model, make_version):
    """v0 → v1 → v2 → v3: each version a retrain of the previous one."""
    model = make_model()
    versions = [make_version(model, f"1.{i}.0") for i in range(4)]
    for parent, child in zip(versions, versions[1:], strict=False):
        edge(parent, child)
    return versions


def test_it_walks_upstream_and_downstream_with_depths(chain):
    up = graph.walk(node(chain[3]), "upstream")
    assert up.nodes == [(node(chain[2]), 1), (node(chain[1]), 2), (node(chain[0]), 3)]
    down = graph.walk(node(chain[0]), "downstream")
    assert [n.id for n, _d in down.nodes] == [v.pk for v in chain[1:]]
    assert not up.truncated and not down.truncated


def test_it_stops_at_the_depth_limit(chain):
    found = graph.walk(node(chain[3]), "upstream", max_depth=2)
    assert found.ids(NodeType.VERSION) == [chain[2].pk, chain[1].pk]


def test_it_stops_at_the_size_limit_and_says_so(chain):
    found = graph.walk(node(chain[0]), "downstream", max_nodes=2)
    assert found.ids(NodeType.VERSION) == [chain[1].pk, chain[2].pk]
    assert found.truncated


def test_it_terminates_on_a_cycle_in_the_data(chain):
    edge(chain[3], chain[0])  # as bad data could hold it
    found = graph.walk(node(chain[0]), "downstream", max_depth=50)
    # Every other node once, at its shortest depth; the edge back to the start is kept.
    assert found.ids(NodeType.VERSION) == [v.pk for v in chain[1:]]
    assert found.depth(node(chain[1])) == 1 and len(found.edges) == 4


def test_it_lists_every_dependent_version_of_a_dataset_marking_production(
    chain, make_dataset, viewer, maintainer
):
    data = make_dataset()
    edge(data, chain[1], EdgeKind.USED)
    apply_transition(version=chain[2], to_stage=Stage.PRODUCTION, actor=maintainer)
    found = graph.impact(viewer, node(data))
    assert [v.pk for v in found.versions] == [v.pk for v in chain[1:]]
    assert [v.pk for v in found.production] == [chain[2].pk]
    assert found.hidden == 0


def test_it_counts_but_never_shows_versions_of_teams_the_reader_cannot_read(
    chain, make_dataset, outsider, viewer
):
    data = make_dataset()
    edge(data, chain[0], EdgeKind.USED)
    found = graph.impact(outsider, node(data))
    assert found.versions == [] and found.hidden == 4
    assert len(graph.impact(viewer, node(data)).versions) == 4


def test_it_links_a_parent(make_model, make_version, contributor):
    model = make_model()
    base, tuned = make_version(model, "1.0.0"), make_version(model, "1.1.0")
    graph.link_parent(tuned, base, contributor, EdgeKind.FINE_TUNED_FROM)
    lineage = graph.version_lineage(contributor, tuned)
    assert lineage.ancestors == [(base, 1)]
    assert graph.version_lineage(contributor, base).descendants == [(tuned, 1)]


def test_it_refuses_a_parent_link_that_would_make_a_cycle(chain, contributor):
    with pytest.raises(Conflict, match="cycle"):
        graph.link_parent(chain[0], chain[3], contributor)
    with pytest.raises(Conflict, match="cycle"):
        graph.link_parent(chain[1], chain[1], contributor)
    assert graph.walk(node(chain[3]), "downstream").nodes == []


def test_a_viewer_may_not_link_parents(chain, viewer):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        graph.link_parent(chain[3], chain[0], viewer)


def test_version_lineage_has_a_constant_query_count(
    chain, make_dataset, viewer, django_assert_max_num_queries
):
    for i in range(5):
        edge(make_dataset(f"d{i}"), chain[0], EdgeKind.USED)
    # upstream walk, downstream walk, dataset versions, code versions, model versions
    # (+ the viewer's memberships, loaded once per request)
    with django_assert_max_num_queries(6):
        found = graph.version_lineage(viewer, chain[2])
    assert len(found.datasets) == 5 and len(found.ancestors) == 2


def test_compare_reads_lineage_from_the_graph_and_tags_for_older_versions(
    chain, make_dataset, make_model, make_version, viewer
):
    from registry.compare import compare_versions, load_versions

    edge(make_dataset("tx", "v1"), chain[1], EdgeKind.USED)
    older = make_version(chain[0].model, "0.9.0", tags={"dataset": "events-2024-01"})
    versions = load_versions(viewer, [older.pk, chain[1].pk])
    rows = {r.key: r for r in compare_versions(versions, versions[0]).section("lineage").rows}
    assert [c.text for c in rows["Datasets"].cells] == ["events-2024-01", "tx@v1"]
    assert [c.text for c in rows["Parent models"].cells] == ["", "fraud/churn@1.0.0"]
