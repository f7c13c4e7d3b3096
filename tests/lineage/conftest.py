from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lineage import graph
from lineage.models import CodeVersion, Dataset, DatasetVersion, Edge, EdgeKind, NodeType
from registry.models import ModelVersion


@pytest.fixture
def make_dataset(team: Any) -> Callable[..., DatasetVersion]:
    def make(name: str = "transactions", version: str = "2025-01", **kwargs: Any) -> DatasetVersion:
        dataset, _ = Dataset.objects.get_or_create(team=kwargs.pop("team", team), name=name)
        return DatasetVersion.objects.create(dataset=dataset, version=version, **kwargs)

    return make


def node(obj: Any) -> graph.Node:
    if isinstance(obj, ModelVersion):
        kind = NodeType.VERSION
    else:
        kind = NodeType.CODE if isinstance(obj, CodeVersion) else NodeType.DATASET
    return graph.Node(kind, obj.pk)


def edge(src: Any, dst: Any, kind: str = EdgeKind.DERIVED_FROM) -> Edge:
    """A raw edge, as data may hold it (link_parent would refuse a cycle)."""
    a, b = node(src), node(dst)
    return Edge.objects.create(kind=kind, src_type=a.type, src_id=a.id, dst_type=b.type,
                               dst_id=b.id)  # fmt: skip
