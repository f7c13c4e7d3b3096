"""Request bodies as JSON, from the values training code has at hand.

Metrics and params often hold NumPy scalars and arrays (`np.float32(0.91)`,
`np.int64(100)`), dates or paths; the standard `json` module refuses them. They are
converted here by duck typing (`.tolist()`, `.item()`), so NumPy is never imported, and
anything else fails before a request is sent, naming the field that holds it.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import struct
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

# Floats narrower than Python's, by their dtype's itemsize: struct formats to round-trip.
_NARROW_FLOATS = {2: "e", 4: "f"}


def _where(field: str) -> str:
    return field or "the request body"


def _join(field: str, key: str) -> str:
    return f"{field}.{key}" if field else key


def _shortest(value: float, fmt: str) -> float:
    """The shortest decimal that is the same float32 (or float16) as `value`: 0.91 for
    np.float32(0.91), rather than the float64 0.9100000262260437 it widens to."""
    if not math.isfinite(value):
        return value
    exact = struct.pack(fmt, value)
    for digits in range(1, 18):
        candidate = float(f"{value:.{digits}g}")
        if struct.pack(fmt, candidate) == exact:
            return candidate
    return value


def _narrowed(data: Any, fmt: str) -> Any:
    if isinstance(data, float):
        return _shortest(data, fmt)
    if isinstance(data, list):
        return [_narrowed(item, fmt) for item in data]
    return data


def _array_like(value: Any) -> Any:
    """A NumPy-like scalar or array as Python values, or None when `value` is neither."""
    convert = getattr(value, "tolist", None) or getattr(value, "item", None)
    if not callable(convert):
        return None
    data = convert()
    dtype = getattr(value, "dtype", None)
    fmt = (
        _NARROW_FLOATS.get(getattr(dtype, "itemsize", 0))
        if getattr(dtype, "kind", "") == "f"
        else None
    )
    return _narrowed(data, fmt) if fmt else data


def plain(value: Any, field: str = "") -> Any:
    """`value` as plain JSON values (dict, list, str, int, float, bool, None).

    NumPy-like scalars and arrays become numbers and lists, dates and times ISO 8601
    text, paths text. Raises TypeError (a value JSON has no form for) or ValueError (NaN
    or infinity, which JSON cannot carry) naming the field, e.g. "metrics.test.auc".
    """
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{_where(field)}: {value} is not a JSON number")
        return float(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for raw_key, item in value.items():
            key = _key(raw_key, field)
            out[key] = plain(item, _join(field, key))
        return out
    if isinstance(value, list | tuple):
        return [plain(item, f"{field}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, PurePath):
        return value.as_posix()
    if isinstance(value, os.PathLike):
        return os.fsdecode(value)
    data = _array_like(value)
    if data is not None and data is not value:
        return plain(data, field)
    raise TypeError(
        f"{_where(field)}: {type(value).__name__} is not a JSON type "
        "(give numbers, text, lists or objects)"
    )


def _key(raw: Any, field: str) -> str:
    """An object key as text: numbers, booleans and null as json.dumps writes them."""
    if isinstance(raw, str):
        return raw
    try:
        key = plain(raw, field)
    except (TypeError, ValueError):
        key = raw
    if key is not None and not isinstance(key, str | bool | int | float):
        raise TypeError(f"{_where(field)}: the key {raw!r} is not text or a number")
    return key if isinstance(key, str) else json.dumps(key)


def dumps(body: Any) -> bytes:
    """The JSON request body for `body` (see `plain`)."""
    return json.dumps(plain(body), allow_nan=False).encode("utf-8")
