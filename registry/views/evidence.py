"""The evidence a reviewer weighs: a candidate's metrics and environment next to the
version in Production."""

from __future__ import annotations

from typing import Any

from packaging.version import InvalidVersion, Version

from registry.models import Metric, ModelVersion


def side_by_side(candidate: ModelVersion, champion: ModelVersion | None) -> dict[str, Any]:
    """Metric rows (with better/worse by direction) and package changes, two queries."""
    ids = [candidate.pk] + ([champion.pk] if champion else [])
    values: dict[tuple[str, str], dict[int, Metric]] = {}
    for m in Metric.objects.filter(version_id__in=ids).order_by("split", "name"):
        values.setdefault((m.split, m.name), {})[m.version_id] = m
    rows = []
    for (split, name), by_version in values.items():
        mine = by_version.get(candidate.pk)
        theirs = by_version.get(champion.pk) if champion else None
        row = {"split": split, "name": name, "candidate": mine, "champion": theirs, "delta": None}
        if mine and theirs:
            delta = mine.value - theirs.value
            better = delta > 0 if mine.direction == "higher" else delta < 0
            row |= {
                "delta": delta,
                "verdict": "same" if delta == 0 else ("better" if better else "worse"),
            }
        rows.append(row)
    return {
        "metrics": rows,
        "packages": package_changes(
            candidate.environment, champion.environment if champion else {}
        ),
        "python": (
            candidate.environment.get("python"),
            champion.environment.get("python") if champion else None,
        ),
    }


def package_changes(new: dict[str, Any], old: dict[str, Any]) -> list[dict[str, str]]:
    """Packages added, removed, upgraded or downgraded between two environments."""
    mine, theirs = _packages(new), _packages(old)
    changes = []
    for name in sorted(mine.keys() | theirs.keys()):
        a, b = mine.get(name), theirs.get(name)
        if a == b:
            continue
        if b is None:
            kind = "added"
        elif a is None:
            kind = "removed"
        else:
            kind = _direction(a, b)
        changes.append({"name": name, "kind": kind, "new": a or "", "old": b or ""})
    return changes


def _packages(environment: dict[str, Any]) -> dict[str, str]:
    return {
        str(p.get("name", "")).lower(): str(p.get("version") or p.get("requirement") or "")
        for p in environment.get("packages", [])
        if isinstance(p, dict) and p.get("name")
    }


def _direction(new: str, old: str) -> str:
    try:
        return "upgraded" if Version(new) > Version(old) else "downgraded"
    except InvalidVersion:
        return "changed"
