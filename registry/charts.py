"""Server-side SVG charts: no JavaScript, no CDN; each page shows the same data as a table."""

from __future__ import annotations

import datetime as dt
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

_STAGE_COLOURS = {
    "development": "#6c757d",
    "staging": "#d39e00",
    "production": "#198754",
    "archived": "#64748b",
}


@dataclass(frozen=True)
class Point:
    label: str
    value: float
    stage: str


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] in 1-2-2.5-5 steps; at most 3*count of them.

    Works for any finite floats, including spans near the float limits and subnormal
    values, where it falls back to the two ends.
    """
    span = high - low
    if not math.isfinite(span) or span < 0:
        return [low, high] if low != high else [low]
    if span == 0:  # one value: pad it by half its size (or 0.5 around zero)
        if abs(low) > sys.float_info.max / 4:
            return [low]
        span = abs(low) or 1.0
        low, high = low - span / 2, high + span / 2
    raw_step = span / max(count - 1, 1)
    if raw_step <= sys.float_info.min:  # subnormal: no meaningful rounding left
        return [low, high]
    magnitude = 10.0 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw_step)
    first = math.floor(low / step)
    if first * step > low:  # low / step underflowed to zero
        first -= 1
    ndigits = max(0, -math.floor(math.log10(step)) + 2)
    ticks = []
    for i in range(3 * count + 1):
        tick = round((first + i) * step, ndigits)
        ticks.append(tick)
        if tick >= high:
            return ticks
    return [low, high]


def _labelled(count: int, most: int = 12) -> list[int]:
    """Indices of the x labels: evenly spaced, always the last, never two crowded together."""
    every = max(1, math.ceil(count / most))
    chosen = list(range(0, count, every))
    if chosen[-1] != count - 1:
        if count - 1 - chosen[-1] < every / 2:
            chosen.pop()
        chosen.append(count - 1)
    return chosen


def _y_scale(ticks: list[float], top: float, plot_h: float) -> Callable[[float], float]:
    """Value → y coordinate, the first tick at the bottom of the plot, the last at the top."""
    y_min, y_max = ticks[0], ticks[-1]

    def y(v: float) -> float:
        # Halved first so spans near the float limits stay finite; a span too small to
        # halve (subnormal) or a single tick puts the point in the middle.
        half_span = y_max / 2 - y_min / 2
        if half_span == 0:
            return top + plot_h / 2
        return top + plot_h - (v / 2 - y_min / 2) / half_span * plot_h

    return y


def _frame(
    title: str,
    width: int,
    height: int,
    left: int,
    right: int,
    ticks: list[float],
    y: Callable[[float], float],
) -> list[str]:
    """The opening <svg> (labelled for screen readers) and a grid line per tick."""
    parts = [
        f'<svg viewBox="0 0 {width} {height}" class="chart" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for tick in ticks:
        ty = y(tick)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{ty:.1f}" y2="{ty:.1f}" class="grid"/>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{ty + 4:.1f}" text-anchor="end" class="tick">{tick:g}</text>'
        )
    return parts


def line_chart(
    points: list[Point], *, title: str, width: int = 720, height: int = 260
) -> SafeString:
    left, right, top, bottom = 56, 16, 16, 48
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [p.value for p in points]
    ticks = nice_ticks(min(values), max(values))

    def x(i: int) -> float:
        return left + (plot_w * i / (len(points) - 1) if len(points) > 1 else plot_w / 2)

    y = _y_scale(ticks, top, plot_h)
    parts = _frame(title, width, height, left, right, ticks, y)
    for i in _labelled(len(points)):
        lx, ly = x(i), height - bottom + 16
        parts.append(
            f'<text x="{lx:.1f}" y="{ly}" text-anchor="end" transform="rotate(-30 {lx:.1f} {ly})" '
            f'class="tick">{escape(points[i].label)}</text>'
        )
    path = " ".join(
        f"{'M' if i == 0 else 'L'}{x(i):.1f},{y(p.value):.1f}" for i, p in enumerate(points)
    )
    parts.append(f'<path d="{path}" class="line"/>')
    for i, point in enumerate(points):
        colour = _STAGE_COLOURS.get(point.stage, "#6c757d")
        parts.append(
            f'<circle cx="{x(i):.1f}" cy="{y(point.value):.1f}" r="4" fill="{colour}">'
            f"<title>{escape(point.label)}: {point.value:g} ({escape(point.stage)})</title>"
            "</circle>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 -- every interpolated text is escaped


# Bar colours by how a version's value compares with the baseline's (DESIGN: better green,
# worse red, by each metric's direction); the baseline and unchanged values are grey.
_CHANGE_COLOURS = {"better": "#198754", "worse": "#dc3545"}


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None  # None: the version has no such value (no bar)
    change: str = ""


def bar_chart(bars: list[Bar], *, title: str, width: int = 340, height: int = 200) -> SafeString:
    """One metric across versions: a bar per version, on a scale that includes zero."""
    left, right, top, bottom = 48, 8, 12, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [b.value for b in bars if b.value is not None]
    ticks = nice_ticks(min(0.0, *values), max(0.0, *values), 4) if values else [0.0, 1.0]
    y = _y_scale(ticks, top, plot_h)
    slot = plot_w / max(len(bars), 1)
    bar_w = min(48.0, slot * 0.6)
    parts = _frame(title, width, height, left, right, ticks, y)
    zero = y(0.0)
    for i, bar in enumerate(bars):
        cx = left + slot * (i + 0.5)
        label_y = height - bottom + 14
        parts.append(
            f'<text x="{cx:.1f}" y="{label_y}" text-anchor="end" '
            f'transform="rotate(-25 {cx:.1f} {label_y})" class="tick">{escape(bar.label)}</text>'
        )
        if bar.value is None:
            continue
        top_y, bottom_y = sorted((y(bar.value), zero))
        colour = _CHANGE_COLOURS.get(bar.change, "#6c757d")
        suffix = f" ({escape(bar.change)})" if bar.change else ""
        parts.append(
            f'<rect x="{cx - bar_w / 2:.1f}" y="{top_y:.1f}" width="{bar_w:.1f}" '
            f'height="{max(bottom_y - top_y, 1):.1f}" fill="{colour}">'
            f"<title>{escape(bar.label)}: {bar.value:g}{suffix}</title></rect>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 -- every interpolated text is escaped


@dataclass(frozen=True)
class TimePoint:
    at: dt.datetime
    mean: float
    low: float
    high: float


def time_chart(
    points: list[TimePoint],
    *,
    title: str,
    since: dt.datetime,
    until: dt.datetime,
    reference: float | None = None,
    reference_label: str = "",
    width: int = 720,
    height: int = 220,
) -> SafeString:
    """A metric over time: the mean as a line, the low-high range of each bucket as a band,
    and an optional reference value (the version's offline metric) as a dashed line."""
    left, right, top, bottom = 56, 16, 16, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [p.low for p in points] + [p.high for p in points]
    if reference is not None:
        values.append(reference)
    ticks = nice_ticks(min(values), max(values))
    span = (until - since).total_seconds() or 1.0

    def x(at: dt.datetime) -> float:
        return left + plot_w * min(1.0, max(0.0, (at - since).total_seconds() / span))

    y = _y_scale(ticks, top, plot_h)
    parts = _frame(title, width, height, left, right, ticks, y)
    for i in range(6):  # dates along the bottom
        at = since + (until - since) * i / 5
        fmt = "%H:%M" if span <= 2 * 86400 else "%d %b"
        parts.append(
            f'<text x="{x(at):.1f}" y="{height - bottom + 18}" text-anchor="middle" '
            f'class="tick">{at:{fmt}}</text>'
        )
    if any(p.low != p.high for p in points):
        upper = [f"{x(p.at):.1f},{y(p.high):.1f}" for p in points]
        lower = [f"{x(p.at):.1f},{y(p.low):.1f}" for p in reversed(points)]
        parts.append(f'<polygon points="{" ".join(upper + lower)}" class="band"/>')
    path = " ".join(
        f"{'M' if i == 0 else 'L'}{x(p.at):.1f},{y(p.mean):.1f}" for i, p in enumerate(points)
    )
    parts.append(f'<path d="{path}" class="line"/>')
    if len(points) == 1:
        parts.append(f'<circle cx="{x(points[0].at):.1f}" cy="{y(points[0].mean):.1f}" r="3"/>')
    if reference is not None:
        ry = y(reference)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{ry:.1f}" y2="{ry:.1f}" class="reference">'
            f"<title>{escape(reference_label)}: {reference:g}</title></line>"
            f'<text x="{width - right - 4}" y="{ry - 4:.1f}" text-anchor="end" class="tick">'
            f"{escape(reference_label)} {reference:g}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 -- every interpolated text is escaped
