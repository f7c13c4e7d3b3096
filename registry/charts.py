"""Server-side SVG charts: no JavaScript, no CDN; each page shows the same data as a table."""

from __future__ import annotations

import math
import sys
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


def line_chart(
    points: list[Point], *, title: str, width: int = 720, height: int = 260
) -> SafeString:
    left, right, top, bottom = 56, 16, 16, 48
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [p.value for p in points]
    ticks = nice_ticks(min(values), max(values))
    y_min, y_max = ticks[0], ticks[-1]

    def x(i: int) -> float:
        return left + (plot_w * i / (len(points) - 1) if len(points) > 1 else plot_w / 2)

    def y(v: float) -> float:
        # Halved first so spans near the float limits stay finite; a span too small to
        # halve (subnormal) or a single tick puts the point in the middle.
        half_span = y_max / 2 - y_min / 2
        if half_span == 0:
            return top + plot_h / 2
        return top + plot_h - (v / 2 - y_min / 2) / half_span * plot_h

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
