"""The evidence a reviewer weighs: a candidate next to the version in Production, through
registry.compare (metrics by direction, environment, signature)."""

from __future__ import annotations

from typing import Any

from registry import compare
from registry.models import Metric, ModelVersion


def side_by_side(candidate: ModelVersion, champion: ModelVersion | None) -> dict[str, Any]:
    """Metric deltas, environment and signature changes from Production to the candidate
    (one query: the two versions' metrics)."""
    ids = [candidate.pk] + ([champion.pk] if champion else [])
    metrics: dict[int, list[Metric]] = {pk: [] for pk in ids}
    for metric in Metric.objects.filter(version_id__in=ids):
        metrics[metric.version_id].append(metric)
    old = metrics[champion.pk] if champion else []
    return {
        "metrics": compare.metric_deltas(old, metrics[candidate.pk]),
        "environment": compare.package_changes(
            champion.environment if champion else {},
            candidate.environment,
            old_framework=(champion.framework, champion.framework_version)
            if champion
            else ("", ""),
            new_framework=(candidate.framework, candidate.framework_version),
        )
        if champion
        else None,
        "signature": compare.signature_changes(champion.signature, candidate.signature)
        if champion
        else None,
    }
