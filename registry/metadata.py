"""Validation of the metadata a version carries, shared by the register form and the API.

`clean_version_metadata` takes plain JSON-like data and returns a VersionMetadata, or raises
a ValidationError whose dict names each bad field and the rule it broke.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_datetime
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from registry.markdown import MAX_DESCRIPTION_LENGTH
from registry.models import Direction, ModelTag, ModelVersion, Split, TaskType

# Metric names that conventionally mean "lower is better" when no direction is given.
_LOWER_IS_BETTER = ("loss", "error", "err", "mae", "mse", "rmse", "mape", "latency", "perplexity")
MAX_METRIC_NAME = 100
# Tags per model or version: labels to filter by, not a key-value store (params and
# metrics are); as many as a version may name datasets or parents.
MAX_TAGS = 100
# A git object id: abbreviated (7+) or full SHA-1, or a SHA-256 repository's full id.
COMMIT_RE = re.compile(r"[0-9a-f]{7,40}|[0-9a-f]{64}")
COMMIT_RULE = "must be a git commit id: 7 to 40 hexadecimal digits, or 64 (SHA-256)"


@dataclass(frozen=True)
class MetricValue:
    split: str
    name: str
    value: float
    direction: str


@dataclass
class VersionMetadata:
    description: str = ""
    task_type: str = ""
    framework: str = ""
    framework_version: str = ""
    signature: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    code_repository: str = ""
    code_commit: str = ""
    code_branch: str = ""
    code_entry_point: str = ""
    code_dirty: bool | None = None
    source: str = ""
    training_started_at: dt.datetime | None = None
    training_ended_at: dt.datetime | None = None
    metrics: list[MetricValue] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)


def infer_direction(metric_name: str) -> str:
    lowered = metric_name.lower()
    if any(word in lowered for word in _LOWER_IS_BETTER):
        return Direction.LOWER
    return Direction.HIGHER


class _Errors:
    def __init__(self) -> None:
        self.by_field: dict[str, list[str]] = {}

    def add(self, name: str, message: str) -> None:
        self.by_field.setdefault(name, []).append(message)

    def raise_if_any(self) -> None:
        if self.by_field:
            raise ValidationError(self.by_field)


# String fields and their length limits (the column's, or the description cap).
_STRING_FIELDS = {
    name: ModelVersion._meta.get_field(name).max_length or MAX_DESCRIPTION_LENGTH
    for name in (
        "description",
        "framework",
        "framework_version",
        "code_repository",
        "code_commit",
        "code_branch",
        "code_entry_point",
        "source",
    )
}


def clean_version_metadata(data: Mapping[str, Any]) -> VersionMetadata:
    errors = _Errors()
    meta = VersionMetadata()
    _check_json_size(data, errors)
    for name, max_length in _STRING_FIELDS.items():
        value = data.get(name) or ""
        if not isinstance(value, str):
            errors.add(name, "must be a string")
        elif max_length and len(value.strip()) > max_length:
            errors.add(name, f"must be at most {max_length} characters")
        else:
            setattr(meta, name, value.strip())
    for name in _STRING_FIELDS:
        if name != "description" and CONTROL_CHARS.search(getattr(meta, name)):
            errors.add(name, "must not contain control characters (tabs, newlines, …)")
    if meta.code_commit:
        meta.code_commit = meta.code_commit.lower()
        if not COMMIT_RE.fullmatch(meta.code_commit):
            errors.add("code_commit", COMMIT_RULE)
    meta.task_type = _clean_task_type(data.get("task_type"), errors)
    meta.code_dirty = _clean_optional_bool(data.get("code_dirty"), "code_dirty", errors)
    meta.params = _clean_object(data.get("params"), "params", errors)
    meta.signature = _clean_signature(data.get("signature"), errors)
    meta.environment = _clean_environment(data.get("environment"), errors)
    meta.metrics = _clean_metrics(data.get("metrics"), errors)
    meta.tags = clean_tags(data.get("tags"), errors)
    meta.training_started_at = _clean_datetime(
        data.get("training_started_at"), "training_started_at", errors
    )
    meta.training_ended_at = _clean_datetime(
        data.get("training_ended_at"), "training_ended_at", errors
    )
    if (
        meta.training_started_at
        and meta.training_ended_at
        and meta.training_ended_at < meta.training_started_at
    ):
        errors.add("training_ended_at", "training must not end before it started")
    errors.raise_if_any()
    return meta


MAX_JSON_DEPTH = 32
# C0 and C1 control characters and DEL: not part of any URI, and they would garble a page.
CONTROL_CHARS = re.compile("[\x00-\x1f\x7f-\x9f]")


# Text no database column can store: NUL (PostgreSQL) and lone UTF-16 surrogates (which
# JSON escapes like "\ud800" can produce; no encoding can write them).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_MESSAGE = "must not contain NUL characters or lone surrogates"


def unstorable_text(value: Any, path: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
    """Where JSON-like data holds a string or key that cannot be stored, or None."""
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str) and _UNSTORABLE.search(item):
            return where
        if isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and _UNSTORABLE.search(key):
                    return where
                stack.append((child, (*where, key)))
        elif isinstance(item, list | tuple):
            stack.extend((child, (*where, i)) for i, child in enumerate(item))
    return None


def _structure_problem(value: Any) -> str | None:
    """Why a JSON value cannot be stored, or None: too deep, or unstorable text.

    Iterative, so no input can exhaust the interpreter's stack (the checks after it
    recurse, safely, once this has bounded the depth).
    """
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return f"is nested more than {MAX_JSON_DEPTH} levels deep"
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list | tuple):
            stack.extend((child, depth + 1) for child in item)
    if unstorable_text(value) is not None:
        return UNSTORABLE_MESSAGE
    return None


def _check_json_size(data: Mapping[str, Any], errors: _Errors) -> None:
    limit = settings.MODELGATE_MAX_METADATA_BYTES
    for name, value in data.items():
        problem = _structure_problem(value)
        if problem:
            errors.add(name, problem)
    errors.raise_if_any()
    for name in ("params", "signature", "environment", "metrics", "tags"):
        value = data.get(name)
        if value is None:
            continue
        try:
            size = len(json.dumps(value, allow_nan=True, default=str).encode())
        except (TypeError, ValueError):
            errors.add(name, "must be JSON data")
            continue
        if size > limit:
            errors.add(
                name,
                f"is {size:,} bytes of JSON, over the limit of {limit:,} bytes "
                "(MODELGATE_MAX_METADATA_BYTES)",
            )
    errors.raise_if_any()


def _clean_task_type(value: Any, errors: _Errors) -> str:
    if value in (None, ""):
        return ""
    if value not in TaskType.values:
        errors.add("task_type", f"must be one of: {', '.join(TaskType.values)}")
        return ""
    return str(value)


def _clean_optional_bool(value: Any, name: str, errors: _Errors) -> bool | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        return value
    errors.add(name, "must be true or false")
    return None


def _clean_object(value: Any, name: str, errors: _Errors) -> dict[str, Any]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        errors.add(name, "must be a JSON object of names to values")
        return {}
    bad = [key for key, item in value.items() if _has_non_finite(item)]
    if bad:
        errors.add(
            name, f"values must be finite numbers (NaN/Infinity given for: {', '.join(bad)})"
        )
    huge = [key for key, item in value.items() if _has_huge_int(item)]
    if huge:
        errors.add(
            name,
            "numbers must fit a 64-bit float, within ±1.8e308 "
            f"(larger given for: {', '.join(huge)})",
        )
    return value


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_non_finite(v) for v in value)
    return False


def _has_huge_int(value: Any) -> bool:
    """An integer no float can hold (10**400): JSON readers, the search language and
    charts take numbers as 64-bit floats."""
    if isinstance(value, int) and not isinstance(value, bool):
        return abs(value) > _MAX_FLOAT_INT
    if isinstance(value, dict):
        return any(_has_huge_int(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_huge_int(v) for v in value)
    return False


_MAX_FLOAT_INT = int(sys.float_info.max)


def _clean_datetime(value: Any, name: str, errors: _Errors) -> dt.datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        parsed: dt.datetime | None = value
    elif isinstance(value, str):
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
    else:
        parsed = None
    if parsed is None:
        errors.add(name, "must be an ISO 8601 date-time, e.g. 2025-01-31T14:30:00Z")
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    try:  # stored in UTC: a time near year 1 or 9999 may not exist there
        utc = parsed.astimezone(dt.UTC)
    except OverflowError:
        utc = None
    if utc is None or not 1900 <= utc.year <= 9998:
        errors.add(name, "must be a date-time between the years 1900 and 9998")
        return None
    return utc


def _clean_metrics(value: Any, errors: _Errors) -> list[MetricValue]:
    """Metrics come as {split: {name: number | {"value": number, "direction": ...}}}."""
    if value in (None, ""):
        return []
    if not isinstance(value, dict):
        errors.add("metrics", 'must be an object of splits, e.g. {"test": {"auc": 0.93}}')
        return []
    cleaned: list[MetricValue] = []
    for split, by_name in value.items():
        if split not in Split.values:
            errors.add("metrics", f"unknown split {split!r}: use one of {', '.join(Split.values)}")
            continue
        if not isinstance(by_name, dict):
            errors.add("metrics", f"metrics.{split} must be an object of metric names to numbers")
            continue
        for name, raw in by_name.items():
            where = f"metrics.{split}.{name}"
            if not isinstance(name, str) or not name.strip() or len(name) > MAX_METRIC_NAME:
                errors.add("metrics", f"{where}: names are 1–{MAX_METRIC_NAME} characters")
                continue
            if CONTROL_CHARS.search(name):
                errors.add("metrics", f"{where!r}: names have no control characters")
                continue
            direction = infer_direction(name)
            if isinstance(raw, dict):
                direction = raw.get("direction", direction)
                raw = raw.get("value")
                if direction not in Direction.values:
                    errors.add("metrics", f"{where}: direction must be 'higher' or 'lower'")
                    continue
            number = _finite_number(raw)
            if number is None:
                errors.add("metrics", f"{where}: must be a finite number, got {raw!r}")
                continue
            cleaned.append(MetricValue(split, name, number, direction))
    return cleaned


def _finite_number(raw: Any) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        return None
    try:
        number = float(raw)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def clean_tags(value: Any, errors: _Errors | None = None) -> dict[str, str]:
    """Tags come as {key: value} (value may be empty, for a plain label)."""
    own = errors or _Errors()
    tags: dict[str, str] = {}
    if value in (None, ""):
        return tags
    if not isinstance(value, dict):
        own.add("tags", 'must be an object of keys to values, e.g. {"owner": "fraud"}')
    elif len(value) > MAX_TAGS:
        own.add("tags", f"at most {MAX_TAGS} tags (got {len(value)})")
    else:
        key_validator = ModelTag._meta.get_field("key").validators[0]
        for key, item in value.items():
            try:
                key_validator(key)
            except ValidationError:
                own.add("tags", f"tag key {key!r}: {key_validator.message}")
                continue
            text = "" if item is None else str(item)
            if len(text) > 255:
                own.add("tags", f"tag {key!r}: values are at most 255 characters")
                continue
            tags[key] = text
    if errors is None:
        own.raise_if_any()
    return tags


def _clean_signature(value: Any, errors: _Errors) -> dict[str, Any]:
    """A signature is {"inputs": [{"name", "type", "shape"?}], "outputs": [...]}."""
    if value in (None, ""):
        return {}
    if not isinstance(value, dict) or not set(value) <= {"inputs", "outputs", "params"}:
        errors.add("signature", 'must be an object with "inputs" and "outputs" lists')
        return {}
    for side in ("inputs", "outputs"):
        columns = value.get(side, [])
        if not isinstance(columns, list):
            errors.add("signature", f"signature.{side} must be a list of columns")
            continue
        for index, column in enumerate(columns):
            if not (
                isinstance(column, dict)
                and isinstance(column.get("type"), str)
                and isinstance(column.get("name", ""), str)
            ):
                errors.add(
                    "signature",
                    f"signature.{side}[{index}] must be an object with a "
                    '"type" string (and an optional "name" and "shape")',
                )
    return value


def _clean_environment(value: Any, errors: _Errors) -> dict[str, Any]:
    """Normalise an environment; packages are parsed with `packaging` (PEP 508 / PEP 440)."""
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        errors.add("environment", "must be an object with python, os, hardware and packages")
        return {}
    env: dict[str, Any] = {}
    python = value.get("python")
    if python not in (None, ""):
        try:
            env["python"] = str(Version(str(python)))
        except InvalidVersion:
            errors.add("environment", f"environment.python: {python!r} is not a Python version")
    for key in ("os", "hardware"):
        if value.get(key) not in (None, ""):
            env[key] = value[key]
    packages = value.get("packages")
    if packages not in (None, "", [], {}):
        env["packages"] = _clean_packages(packages, errors)
    unknown = set(value) - {"python", "os", "hardware", "packages"}
    if unknown:
        errors.add(
            "environment",
            f"unknown keys: {', '.join(sorted(unknown))} (use python, os, hardware, packages)",
        )
    return env


def _clean_packages(packages: Any, errors: _Errors) -> list[dict[str, str]]:
    if isinstance(packages, dict):
        lines = [f"{name}=={version}" for name, version in packages.items()]
    elif isinstance(packages, list) and all(isinstance(p, str) for p in packages):
        lines = packages
    else:
        errors.add(
            "environment",
            "environment.packages must be a list of requirements "
            '("numpy==1.26.4") or an object of names to versions',
        )
        return []
    cleaned: dict[str, dict[str, str]] = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement as exc:
            errors.add(
                "environment",
                f"environment.packages: {line!r} is not a valid requirement (PEP 508): {exc}",
            )
            continue
        pinned = [s.version for s in requirement.specifier if s.operator in ("==", "===")]
        entry = {"name": canonicalize_name(requirement.name), "requirement": str(requirement)}
        if pinned:
            entry["version"] = pinned[0]
        cleaned[entry["name"]] = entry
    return sorted(cleaned.values(), key=lambda e: e["name"])


def parse_requirements_text(text: str) -> list[str]:
    """Lines of a requirements.txt / `pip freeze` output, without comments and options."""
    lines = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith(("#", "-")):
            lines.append(line)
    return lines
