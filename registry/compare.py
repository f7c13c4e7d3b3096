"""Comparing model versions: what changed between two to six versions, section by section.

The compare page, its Markdown/CSV exports, version-bump advice and the promotion-request
page all use this module. Everything but :func:`load_versions` is pure: it works on data
already loaded, so it never queries.

Loading (a constant number of queries, whatever the number of versions)::

    load_versions(user, ids) -> list[ModelVersion]
        The readable versions among `ids`, with model, team, author, metrics, artifacts,
        tags and lineage references loaded (6 queries). Raises VersionsNotFound (ids
        unknown or unreadable: answer 404) or CompareError (bad selection: answer 400).

The N-way comparison (one column per version, each compared with the baseline)::

    compare_versions(versions, baseline) -> Comparison
        Sections (summary, metrics, hyperparameters, environment, signature, artifacts,
        lineage, tags) as rows of cells; each cell knows how it differs from the baseline.

Pairwise changes, old → new, on plain data (what a promotion request shows)::

    metric_deltas(old_metrics, new_metrics) -> list[MetricDelta]      better/worse by direction
    param_changes(old_params, new_params) -> list[ValueChange]
    package_changes(old_environment, new_environment) -> EnvironmentChanges
    signature_changes(old_signature, new_signature) -> SignatureChanges  breaking/compatible
    artifact_changes(old_files, new_files) -> list[FileChange]           by SHA-256
    lineage_of(version) -> Lineage;  lineage_changes(old, new) -> list[ValueChange]

Version bumps::

    advise_bump(signature_changes) -> BumpAdvice      major / minor / patch, with the reason
    suggest_version(previous, previous_signature, signature) -> (version, BumpAdvice)

Lineage is read from the lineage graph (lineage.graph.direct_references, loaded by
:func:`load_versions`) and the code fields; versions registered before the graph existed
keep their `dataset`/`dataset.<i>` and `parent`/`parent.<i>` tags, read as before.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any, Literal, NamedTuple, Protocol

from django.db.models import Prefetch
from django.template.defaultfilters import filesizeformat
from packaging.version import InvalidVersion, Version

from lineage import graph
from registry import versioning
from registry.metadata import MetricValue
from registry.models import Direction, Metric, ModelVersion, Split, Stage, VersionTag

MIN_VERSIONS = 2
MAX_VERSIONS = 6

# How a value differs from the baseline's.
Change = Literal[
    "", "same", "added", "removed", "changed", "better", "worse", "upgraded", "downgraded"
]
Bump = Literal["major", "minor", "patch"]

SECTIONS = {
    "summary": "Summary",
    "metrics": "Metrics",
    "params": "Hyperparameters",
    "environment": "Environment",
    "signature": "Signature",
    "artifacts": "Artifacts",
    "lineage": "Lineage",
    "tags": "Tags",
}
_SPLIT_ORDER = {split: i for i, split in enumerate(Split.values)}
_DIGITS = re.compile(r"(\d+)")


class CompareError(ValueError):
    """A selection that cannot be compared; ``str(e)`` says why (answer 400)."""


class VersionsNotFound(LookupError):
    """Some ids name no version the user may read (answer 404; which ones is not leaked)."""

    def __init__(self, ids: Sequence[int]) -> None:
        self.ids = list(ids)
        super().__init__(f"no version with id {', '.join(map(str, self.ids))}")


# --- loading ------------------------------------------------------------------------------


def load_versions(user: Any, ids: Sequence[int]) -> list[ModelVersion]:
    """The versions `ids` names, readable by `user`, in version order, fully loaded.

    Versions of different models may be compared only within one team.
    """
    wanted = list(dict.fromkeys(ids))
    if not MIN_VERSIONS <= len(wanted) <= MAX_VERSIONS:
        raise CompareError(
            f"pick {MIN_VERSIONS} to {MAX_VERSIONS} versions to compare ({len(wanted)} chosen)"
        )
    found = {
        v.pk: v
        for v in ModelVersion.objects.visible_to(user)
        .filter(pk__in=wanted)
        .select_related("model__team", "created_by")
        .prefetch_related(
            "artifacts", Prefetch("tags", queryset=VersionTag.objects.order_by("key"))
        )
    }
    missing = [pk for pk in wanted if pk not in found]
    if missing:
        raise VersionsNotFound(missing)
    # Metrics as plain values: six versions of 300 metrics as model instances cost more
    # than the rest of the page.
    for version in found.values():
        version._compare_metrics = []  # type: ignore[attr-defined]
    rows = Metric.objects.filter(version_id__in=found).order_by("split", "name")
    for version_id, *values in rows.values_list(
        "version_id", "split", "name", "value", "direction"
    ):
        found[version_id]._compare_metrics.append(MetricValue(*values))  # type: ignore[attr-defined]
    references = graph.direct_references(user, found)
    for pk, version in found.items():
        version._lineage_references = references.get(pk, ([], []))  # type: ignore[attr-defined]
    versions = sorted(found.values(), key=_column_order)
    if len({v.model.team_id for v in versions}) > 1:
        raise CompareError(
            "versions of different teams' models cannot be compared: "
            "pick versions of models of one team"
        )
    return versions


def _column_order(version: ModelVersion) -> tuple[str, str]:
    return (version.model.name.lower(), version.sort_key)


def default_baseline(versions: Sequence[ModelVersion]) -> ModelVersion:
    """What the others are compared with unless chosen: Production if selected, else the first."""
    return next((v for v in versions if v.stage == Stage.PRODUCTION), versions[0])


# --- metrics ------------------------------------------------------------------------------


class MetricLike(Protocol):
    split: str
    name: str
    value: float
    direction: str


@dataclass(frozen=True)
class MetricDelta:
    split: str
    name: str
    old: float | None
    new: float | None
    direction: str
    change: Change  # better / worse / same / added / removed

    @property
    def delta(self) -> float | None:
        if self.old is None or self.new is None:
            return None
        return self.new - self.old

    @property
    def relative(self) -> float | None:
        """The delta as a fraction of the old value (None when the old value is 0)."""
        delta = self.delta
        if delta is None or self.old == 0:
            return None
        return delta / abs(self.old)  # type: ignore[arg-type]


def metric_verdict(old: float, new: float, direction: str) -> Change:
    """Better or worse by the metric's direction (lower is better for a loss), not up/down."""
    if new == old or math.isclose(new, old, rel_tol=1e-12, abs_tol=0.0):
        return "same"
    higher = new > old
    return "better" if higher == (direction != Direction.LOWER) else "worse"


def metrics_of(version: ModelVersion) -> list[MetricLike]:
    """A version's metrics: as load_versions loaded them (plain values), else its rows."""
    loaded = getattr(version, "_compare_metrics", None)
    return loaded if loaded is not None else list(version.metrics.all())


def _metric_key(metric: MetricLike) -> tuple[str, str]:
    return (metric.split, metric.name)


def _metric_sort(key: tuple[str, str]) -> tuple[int, str, str]:
    return (_SPLIT_ORDER.get(key[0], len(_SPLIT_ORDER)), key[0], key[1])


def metric_deltas(
    old_metrics: Iterable[MetricLike], new_metrics: Iterable[MetricLike]
) -> list[MetricDelta]:
    """Every metric of either version, by split then name. The direction is the new
    version's (it may have corrected it), else the old one's."""
    old = {_metric_key(m): m for m in old_metrics}
    new = {_metric_key(m): m for m in new_metrics}
    deltas = []
    for key in sorted(old.keys() | new.keys(), key=_metric_sort):
        before, after = old.get(key), new.get(key)
        direction = (after or before).direction  # type: ignore[union-attr]
        if before is None:
            change: Change = "added"
        elif after is None:
            change = "removed"
        else:
            change = metric_verdict(before.value, after.value, direction)
        deltas.append(
            MetricDelta(
                split=key[0],
                name=key[1],
                old=before.value if before else None,
                new=after.value if after else None,
                direction=direction,
                change=change,
            )
        )
    return deltas


# --- plain values (hyperparameters, tags, lineage) -----------------------------------------


@dataclass(frozen=True)
class ValueChange:
    key: str
    old: Any
    new: Any
    change: Change  # added / removed / changed


_MISSING: Any = object()


def value_text(value: Any) -> str:
    """A value as one line of text: strings as they are, everything else as JSON."""
    if value is _MISSING or value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    return json.dumps(value, sort_keys=True, default=str)


def _value_change(old: Any, new: Any) -> Change:
    if old is _MISSING and new is _MISSING:
        return "same"
    if old is _MISSING:
        return "added"
    if new is _MISSING:
        return "removed"
    return "same" if _same_value(old, new) else "changed"


def _same_value(old: Any, new: Any) -> bool:
    """Equal as JSON data: 1 == 1.0, but 6 != "6" and true != 1."""
    if isinstance(old, bool) or isinstance(new, bool):
        return type(old) is type(new) and old == new
    if isinstance(old, dict | list) or isinstance(new, dict | list):
        return json.dumps(old, sort_keys=True, default=str) == json.dumps(
            new, sort_keys=True, default=str
        )
    return bool(old == new)


def _mapping_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[ValueChange]:
    changes = []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key, _MISSING), new.get(key, _MISSING)
        change = _value_change(before, after)
        if change != "same":
            changes.append(
                ValueChange(
                    key,
                    None if before is _MISSING else before,
                    None if after is _MISSING else after,
                    change,
                )
            )
    return changes


def param_changes(
    old_params: Mapping[str, Any], new_params: Mapping[str, Any]
) -> list[ValueChange]:
    """Hyperparameters added, removed or changed (values compared as JSON: 1 != "1")."""
    return _mapping_changes(old_params, new_params)


# --- environment --------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageChange:
    name: str
    old: str | None  # the pinned version, else the requirement as written
    new: str | None
    change: Change  # added / removed / upgraded / downgraded / changed


@dataclass
class EnvironmentChanges:
    packages: list[PackageChange] = field(default_factory=list)
    python: tuple[str, str, Change] | None = None  # (old, new, upgraded/downgraded/…)
    framework: tuple[str, str, Change] | None = None
    other: list[ValueChange] = field(default_factory=list)  # os, hardware

    def of_kind(self, change: Change) -> list[PackageChange]:
        return [p for p in self.packages if p.change == change]

    @property
    def counts(self) -> dict[str, int]:
        """How many packages were added, removed, upgraded, downgraded or changed."""
        counts: dict[str, int] = {}
        for package in self.packages:
            counts[package.change] = counts.get(package.change, 0) + 1
        return counts

    def __bool__(self) -> bool:
        return bool(self.packages or self.python or self.framework or self.other)


def version_change(old: str, new: str) -> Change:
    """Upgraded or downgraded by PEP 440 order (pre-releases before their release);
    'changed' when either is not a PEP 440 version."""
    if old == new:
        return "same"
    before, after = _pep440(old), _pep440(new)
    if before is None or after is None:
        return "changed"
    if after == before:
        return "same"  # 1.0 and 1.0.0
    return "upgraded" if after > before else "downgraded"


@lru_cache(maxsize=4096)
def _pep440(text: str) -> Version | None:
    """Parsed once per process: the same package versions recur across comparisons."""
    try:
        return Version(text)
    except InvalidVersion:
        return None


def packages_of(environment: Mapping[str, Any]) -> dict[str, str]:
    """{name: pinned version, else the requirement} of an environment (registry.metadata's
    normalised form)."""
    packages = environment.get("packages") or []
    return {p["name"]: p.get("version") or p.get("requirement", "") for p in packages}


def _package_change(old: str | None, new: str | None) -> Change:
    if old is None:
        return "added" if new is not None else "same"
    if new is None:
        return "removed"
    return version_change(old, new)


def package_changes(
    old_environment: Mapping[str, Any],
    new_environment: Mapping[str, Any],
    *,
    old_framework: tuple[str, str] = ("", ""),
    new_framework: tuple[str, str] = ("", ""),
) -> EnvironmentChanges:
    """Packages added, removed, upgraded and downgraded; Python, framework, OS and hardware.

    `*_framework` are (framework, framework version) pairs, compared when both name the
    same framework.
    """
    old_packages, new_packages = packages_of(old_environment), packages_of(new_environment)
    changes = EnvironmentChanges()
    for name in sorted(old_packages.keys() | new_packages.keys()):
        before, after = old_packages.get(name), new_packages.get(name)
        change = _package_change(before, after)
        if change != "same":
            changes.packages.append(PackageChange(name, before, after, change))
    old_python, new_python = old_environment.get("python"), new_environment.get("python")
    if old_python and new_python and old_python != new_python:
        changes.python = (old_python, new_python, version_change(old_python, new_python))
    elif bool(old_python) != bool(new_python):
        changes.python = (old_python or "", new_python or "", "added" if new_python else "removed")
    old_fw, new_fw = " ".join(filter(None, old_framework)), " ".join(filter(None, new_framework))
    if old_fw != new_fw:
        same_framework = old_framework[0] == new_framework[0]
        change: Change = (
            version_change(old_framework[1], new_framework[1])
            if same_framework and old_framework[1] and new_framework[1]
            else "changed"
        )
        changes.framework = (old_fw, new_fw, change)
    changes.other = _mapping_changes(
        {k: old_environment[k] for k in ("os", "hardware") if k in old_environment},
        {k: new_environment[k] for k in ("os", "hardware") if k in new_environment},
    )
    return changes


# --- signature ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SignatureChange:
    where: str  # "inputs.age", "outputs[0]"
    change: Change  # added / removed / changed
    detail: str
    breaking: bool


@dataclass
class SignatureChanges:
    changes: list[SignatureChange] = field(default_factory=list)

    @property
    def breaking(self) -> list[SignatureChange]:
        return [c for c in self.changes if c.breaking]

    @property
    def compatible(self) -> list[SignatureChange]:
        return [c for c in self.changes if not c.breaking]

    def __bool__(self) -> bool:
        return bool(self.changes)


def _columns(signature: Mapping[str, Any], side: str) -> dict[str, Mapping[str, Any]]:
    """A side's columns by name ("inputs.age"), or by position for unnamed ones ("inputs[0]")."""
    columns = signature.get(side) or []
    keyed: dict[str, Mapping[str, Any]] = {}
    for index, column in enumerate(columns if isinstance(columns, list) else []):
        if not isinstance(column, Mapping):
            continue
        name = column.get("name")
        keyed[f"{side}.{name}" if name else f"{side}[{index}]"] = column
    return keyed


def column_text(column: Mapping[str, Any]) -> str:
    """'double', 'float32 [-1, 768]', 'string (optional)'."""
    text = str(column.get("type", ""))
    if column.get("shape") is not None:
        text += f" {json.dumps(column['shape'])}"
    if _optional(column):
        text += " (optional)"
    return text


def _optional(column: Mapping[str, Any]) -> bool:
    return column.get("optional") is True or column.get("required") is False


def signature_changes(
    old_signature: Mapping[str, Any], new_signature: Mapping[str, Any]
) -> SignatureChanges:
    """What callers of the old signature would notice.

    Breaking: an input, output or param removed, a type or shape changed, a required input
    added, an optional input made required, or the signature dropped. Compatible: an
    output, an optional input or a param added, a required input made optional, or a
    signature recorded for the first time.
    """
    result = SignatureChanges()
    if not old_signature and not new_signature:
        return result
    if not old_signature:
        result.changes.append(SignatureChange("signature", "added", "recorded", False))
        return result
    if not new_signature:
        result.changes.append(SignatureChange("signature", "removed", "no longer recorded", True))
        return result
    for side in ("inputs", "outputs", "params"):
        old, new = _columns(old_signature, side), _columns(new_signature, side)
        for where in [*old, *(k for k in new if k not in old)]:
            before, after = old.get(where), new.get(where)
            if before is None:
                assert after is not None
                breaking = side == "inputs" and not _optional(after)
                kind = "required input" if breaking else "optional input"
                detail = f"{kind if side == 'inputs' else side[:-1]} added: {column_text(after)}"
                result.changes.append(SignatureChange(where, "added", detail, breaking))
            elif after is None:
                result.changes.append(
                    SignatureChange(where, "removed", f"removed: {column_text(before)}", True)
                )
            elif (before.get("type"), before.get("shape")) != (
                after.get("type"),
                after.get("shape"),
            ):
                detail = f"{column_text(before)} → {column_text(after)}"
                result.changes.append(SignatureChange(where, "changed", detail, True))
            elif _optional(before) != _optional(after):
                now_required = side == "inputs" and not _optional(after)
                detail = "now required" if not _optional(after) else "now optional"
                result.changes.append(SignatureChange(where, "changed", detail, now_required))
    return result


# --- artifacts ----------------------------------------------------------------------------


class ArtifactLike(Protocol):
    path: str
    blob_id: str
    size: int


@dataclass(frozen=True)
class FileChange:
    path: str
    old: tuple[str, int] | None  # (sha256, size)
    new: tuple[str, int] | None
    change: Change  # added / removed / changed

    @property
    def size_delta(self) -> int | None:
        if self.old is None or self.new is None:
            return None
        return self.new[1] - self.old[1]


def artifact_changes(
    old_files: Iterable[ArtifactLike], new_files: Iterable[ArtifactLike]
) -> list[FileChange]:
    """Files added, removed and changed (by SHA-256), by path."""
    old = {a.path: (a.blob_id, a.size) for a in old_files}
    new = {a.path: (a.blob_id, a.size) for a in new_files}
    changes = []
    for path in sorted(old.keys() | new.keys()):
        before, after = old.get(path), new.get(path)
        if before == after:
            continue
        change: Change = "added" if before is None else "removed" if after is None else "changed"
        changes.append(FileChange(path, before, after, change))
    return changes


# --- lineage ------------------------------------------------------------------------------

_DATASET_TAGS = ("dataset", "dataset.")
_PARENT_TAGS = ("parent", "parent.")


@dataclass(frozen=True)
class Lineage:
    """Where a version came from, as far as it records today."""

    datasets: tuple[str, ...] = ()
    parents: tuple[str, ...] = ()
    code_repository: str = ""
    code_commit: str = ""
    code_branch: str = ""
    code_entry_point: str = ""
    code_dirty: bool | None = None

    def as_rows(self) -> dict[str, Any]:
        rows: dict[str, Any] = {
            "Datasets": ", ".join(self.datasets),
            "Parent models": ", ".join(self.parents),
            "Code repository": self.code_repository,
            "Code commit": self.code_commit,
            "Branch": self.code_branch,
            "Entry point": self.code_entry_point,
            "Uncommitted changes": "" if self.code_dirty is None else self.code_dirty,
        }
        return {key: value for key, value in rows.items() if value != ""}


def _tag_values(tags: Iterable[Any], prefixes: tuple[str, str]) -> tuple[str, ...]:
    bare, numbered = prefixes
    found = [
        (t.key, t.value)
        for t in tags
        if t.key == bare or (t.key.startswith(numbered) and t.key[len(numbered) :].isdigit())
    ]
    found.sort(key=lambda kv: -1 if kv[0] == bare else int(kv[0][len(numbered) :]))
    return tuple(value for _key, value in found if value)


def lineage_of(version: ModelVersion) -> Lineage:
    """A version's lineage from the references load_versions loaded, or for a version
    registered before the lineage graph, its dataset/parent tags (uses loaded tags)."""
    tags = list(version.tags.all())
    datasets, parents = getattr(version, "_lineage_references", ([], []))
    return Lineage(
        datasets=tuple(datasets) or _tag_values(tags, _DATASET_TAGS),
        parents=tuple(parents) or _tag_values(tags, _PARENT_TAGS),
        code_repository=version.code_repository,
        code_commit=version.code_commit,
        code_branch=version.code_branch,
        code_entry_point=version.code_entry_point,
        code_dirty=version.code_dirty,
    )


def lineage_changes(old: Lineage, new: Lineage) -> list[ValueChange]:
    """Different datasets, code or parents."""
    return _mapping_changes(old.as_rows(), new.as_rows())


# --- version bumps ------------------------------------------------------------------------


@dataclass(frozen=True)
class BumpAdvice:
    bump: Bump
    reason: str


def advise_bump(changes: SignatureChanges) -> BumpAdvice:
    """Signature break → major, compatible addition → minor, otherwise (retrain) patch."""
    if changes.breaking:
        return BumpAdvice("major", "breaking signature change: " + _describe(changes.breaking))
    if changes.compatible:
        return BumpAdvice("minor", "compatible signature change: " + _describe(changes.compatible))
    return BumpAdvice("patch", "same signature (retrain or metadata change)")


def _describe(changes: list[SignatureChange], most: int = 3) -> str:
    text = "; ".join(f"{c.where} {c.detail}" for c in changes[:most])
    return text + (f" and {len(changes) - most} more" if len(changes) > most else "")


FIRST_VERSION = "1.0.0"


def suggest_version(
    previous: str | None,
    previous_signature: Mapping[str, Any],
    signature: Mapping[str, Any],
) -> tuple[str, BumpAdvice]:
    """The next semantic version after `previous` (None: the model's first, 1.0.0) for a
    version with `signature`. Raises versioning.VersionError when no bump fits (the next
    number would exceed the scheme's digits)."""
    if previous is None:
        return FIRST_VERSION, BumpAdvice("major", "first version of the model")
    advice = advise_bump(signature_changes(previous_signature, signature))
    candidates = versioning.suggest_next(versioning.Scheme.SEMANTIC, previous)
    if advice.bump not in candidates:
        raise versioning.VersionError(f"no {advice.bump} version follows {previous}")
    return candidates[advice.bump], advice


# --- the N-way comparison ------------------------------------------------------------------


class Cell(NamedTuple):
    """One version's value in a row, and how it differs from the baseline's. (A named
    tuple: a comparison makes thousands, and tuples are the cheapest to make.)"""

    text: str
    change: Change = ""  # "" for the baseline itself
    delta: float | None = None  # metrics: the difference from the baseline
    title: str = ""  # e.g. a full SHA-256

    @property
    def delta_text(self) -> str:
        return "" if self.delta is None else f"{self.delta:+.4g}"


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    cells: tuple[Cell, ...]
    group: str = ""  # e.g. the metric's split
    note: str = ""  # e.g. "higher is better"

    @cached_property
    def differs(self) -> bool:
        return any(c.change not in ("", "same") for c in self.cells)


@dataclass
class Section:
    key: str
    title: str
    rows: list[Row]
    notes: list[str] = field(default_factory=list)  # per-version summaries, one line each

    @property
    def changed(self) -> int:
        return sum(row.differs for row in self.rows)


@dataclass
class Comparison:
    versions: list[ModelVersion]
    baseline: ModelVersion
    sections: list[Section]
    # Per version, against the baseline (None for the baseline's own column).
    bumps: list[BumpAdvice | None]
    environment: list[EnvironmentChanges | None]
    signatures: list[SignatureChanges | None]

    @property
    def baseline_index(self) -> int:
        return self.versions.index(self.baseline)

    @property
    def models(self) -> list[Any]:
        return list({v.model_id: v.model for v in self.versions}.values())

    @property
    def cross_model(self) -> bool:
        return len(self.models) > 1

    def section(self, key: str) -> Section:
        return next(s for s in self.sections if s.key == key)

    @property
    def changed(self) -> int:
        return sum(s.changed for s in self.sections if s.key != "summary")

    def metric_values(self, key: str) -> list[float | None]:
        """Each version's value of the metric "split.name" (None where it has none)."""
        split, _, name = key.partition(".")
        by_version = [{(m.split, m.name): m.value for m in metrics_of(v)} for v in self.versions]
        return [values.get((split, name)) for values in by_version]


def compare_versions(versions: Sequence[ModelVersion], baseline: ModelVersion) -> Comparison:
    """Compare each version with `baseline` (one of them), every section. Uses the data
    load_versions loaded (metrics, artifacts, tags): no queries."""
    versions = list(versions)
    if baseline not in versions:
        raise CompareError("the baseline must be one of the compared versions")
    base = versions.index(baseline)
    signatures = [
        None if i == base else signature_changes(baseline.signature, v.signature)
        for i, v in enumerate(versions)
    ]
    environment = [
        None
        if i == base
        else package_changes(
            baseline.environment,
            v.environment,
            old_framework=(baseline.framework, baseline.framework_version),
            new_framework=(v.framework, v.framework_version),
        )
        for i, v in enumerate(versions)
    ]
    bumps = [None if changes is None else advise_bump(changes) for changes in signatures]
    sections = [
        _summary(versions, base),
        _metrics(versions, base),
        _keyed_section("params", [v.params for v in versions], base, _value_change, value_text),
        _environment(versions, base, environment),
        _signature(versions, base, signatures),
        _artifacts(versions, base),
        _keyed_section(
            "lineage", [lineage_of(v).as_rows() for v in versions], base, _value_change, value_text
        ),
        _keyed_section(
            "tags",
            [{t.key: t.value for t in v.tags.all()} for v in versions],
            base,
            _value_change,
            lambda value: value or "✓",
        ),
    ]
    return Comparison(versions, baseline, sections, bumps, environment, signatures)


def natural_key(text: str) -> tuple[Any, ...]:
    """Sort key putting "param_2" before "param_10"."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in _DIGITS.split(text))


def _keyed_section(
    key: str,
    values: list[Mapping[str, Any]],
    base: int,
    classify: Callable[[Any, Any], Change],
    text: Callable[[Any], str],
    *,
    order: Callable[[str], Any] | None = None,
) -> Section:
    """Rows for the union of keys; each cell classified against the baseline's value."""
    keys: list[str] = list(dict.fromkeys(k for mapping in values for k in mapping))
    keys.sort(key=order or natural_key)
    rows = []
    for row_key in keys:
        old = values[base].get(row_key, _MISSING)
        cells = []
        for i, mapping in enumerate(values):
            value = mapping.get(row_key, _MISSING)
            cells.append(
                Cell(
                    text="" if value is _MISSING else text(value),
                    change="" if i == base else classify(old, value),
                )
            )
        rows.append(Row(row_key, row_key, tuple(cells)))
    return Section(key, SECTIONS[key], rows)


def _summary(versions: list[ModelVersion], base: int) -> Section:
    # Identity rows are not compared (every version has its own number and date).
    facts: list[tuple[str, list[str], bool]] = []
    if len({v.model_id for v in versions}) > 1:
        facts.append(("Model", [v.model.name for v in versions], False))
    facts += [
        ("Version", [v.version for v in versions], False),
        ("Stage", [Stage(v.stage).label for v in versions], False),
        ("Registered by", [str(v.created_by or "unknown") for v in versions], False),
        ("Registered", [f"{v.created_at:%Y-%m-%d %H:%M}" for v in versions], False),
        (
            "Task",
            [v.get_task_type_display() or v.model.get_task_type_display() for v in versions],
            True,
        ),
        (
            "Framework",
            [" ".join(filter(None, [v.framework, v.framework_version])) for v in versions],
            True,
        ),
    ]
    rows = []
    for label, texts, compared in facts:
        cells = tuple(
            Cell(t, "same" if t == texts[base] else "changed")
            if compared and i != base
            else Cell(t)
            for i, t in enumerate(texts)
        )
        rows.append(Row(label.lower(), label, cells))
    return Section("summary", SECTIONS["summary"], rows)


def number_text(value: float) -> str:
    """A metric value as shown everywhere: six significant digits."""
    return f"{value:.6g}"


def _metrics(versions: list[ModelVersion], base: int) -> Section:
    by_version = [{_metric_key(m): m for m in metrics_of(v)} for v in versions]
    keys = sorted({k for metrics in by_version for k in metrics}, key=_metric_sort)
    split_labels = dict(Split.choices)
    rows = []
    for key in keys:
        old = by_version[base].get(key)
        direction = (old or next(m[key] for m in by_version if key in m)).direction
        cells = []
        for i, metrics in enumerate(by_version):
            metric = metrics.get(key)
            if metric is None:
                cells.append(Cell("", "" if i == base or old is None else "removed"))
            elif i == base:
                cells.append(Cell(number_text(metric.value)))
            elif old is None:
                cells.append(Cell(number_text(metric.value), "added"))
            else:
                change = metric_verdict(old.value, metric.value, metric.direction)
                delta = None if change == "same" else metric.value - old.value
                cells.append(Cell(number_text(metric.value), change, delta))
        rows.append(
            Row(
                f"{key[0]}.{key[1]}",
                key[1],
                tuple(cells),
                group=split_labels.get(key[0], key[0]),
                note="lower is better" if direction == Direction.LOWER else "higher is better",
            )
        )
    return Section("metrics", SECTIONS["metrics"], rows)


def _environment(
    versions: list[ModelVersion], base: int, changes: list[EnvironmentChanges | None]
) -> Section:
    facts = [
        {
            **({"python": v.environment["python"]} if v.environment.get("python") else {}),
            **{k: value_text(v.environment[k]) for k in ("os", "hardware") if v.environment.get(k)},
        }
        for v in versions
    ]

    def classify_fact(old: Any, new: Any) -> Change:
        change = _value_change(old, new)
        if change == "changed" and isinstance(old, str) and isinstance(new, str):
            return version_change(old, new) if old[:1].isdigit() else change
        return change

    rows = _keyed_section("environment", facts, base, classify_fact, str).rows
    packages = _keyed_section(
        "environment",
        [packages_of(v.environment) for v in versions],
        base,
        lambda old, new: _package_change(
            None if old is _MISSING else old, None if new is _MISSING else new
        ),
        str,
    ).rows
    rows += [Row(r.key, r.label, r.cells, group="Packages") for r in packages]
    notes = []
    for v, change in zip(versions, changes, strict=True):
        if change is None:
            continue
        counts = change.counts
        parts = [
            f"{counts[k]} {k}"
            for k in ("added", "removed", "upgraded", "downgraded", "changed")
            if counts.get(k)
        ]
        if change.python:
            parts.append(f"Python {change.python[0] or '—'} → {change.python[1] or '—'}")
        if change.framework:
            parts.append(f"framework {change.framework[0] or '—'} → {change.framework[1] or '—'}")
        notes.append(f"{v.version}: {', '.join(parts) if parts else 'same environment'}")
    return Section("environment", SECTIONS["environment"], rows, notes)


def _signature(
    versions: list[ModelVersion], base: int, changes: list[SignatureChanges | None]
) -> Section:
    columns = [
        {
            k: column_text(c)
            for side in ("inputs", "outputs", "params")
            for k, c in _columns(v.signature, side).items()
        }
        for v in versions
    ]
    section = _keyed_section("signature", columns, base, _value_change, str, order=_signature_order)
    for v, change in zip(versions, changes, strict=True):
        if change is None:
            continue
        if not change:
            section.notes.append(f"{v.version}: same signature")
            continue
        if change.breaking:
            section.notes.append(f"{v.version}: breaking — {_describe(change.breaking, most=6)}")
        if change.compatible:
            section.notes.append(
                f"{v.version}: compatible — {_describe(change.compatible, most=6)}"
            )
    return section


def _signature_order(key: str) -> tuple[int, str]:
    side = key.split(".", 1)[0].split("[", 1)[0]
    return ({"inputs": 0, "outputs": 1, "params": 2}.get(side, 3), key)


def _artifacts(versions: list[ModelVersion], base: int) -> Section:
    files = [{a.path: a for a in v.artifacts.all()} for v in versions]
    paths = sorted({p for by_path in files for p in by_path})
    rows = []
    for path in paths:
        old = files[base].get(path)
        cells = []
        for i, by_path in enumerate(files):
            artifact = by_path.get(path)
            if artifact is None:
                cells.append(Cell("", "" if i == base or old is None else "removed"))
                continue
            if i == base:
                change: Change = ""
            elif old is None:
                change = "added"
            else:
                change = "same" if old.blob_id == artifact.blob_id else "changed"
            text = f"{filesizeformat(artifact.size)} · {artifact.blob_id[:12]}"
            cells.append(Cell(text, change, title=artifact.blob_id))
        rows.append(Row(path, path, tuple(cells)))
    return Section("artifacts", SECTIONS["artifacts"], rows)
