from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry import charts
from registry.charts import Point, line_chart, nice_ticks


@pytest.mark.parametrize(
    ("low", "high"),
    [(0.8, 0.889), (0.0, 1.0), (-3.2, 7.9), (41.0, 41.0), (0.000123, 0.000456), (1e6, 3.7e6)],
)
def test_it_makes_ticks_that_cover_the_data(low, high):
    ticks = nice_ticks(low, high)
    assert ticks[0] <= low and ticks[-1] >= high
    assert 2 <= len(ticks) <= 12
    steps = {round(b - a, 12) for a, b in zip(ticks, ticks[1:], strict=False)}
    assert len(steps) == 1


@given(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(allow_nan=False, allow_infinity=False),
)
def test_it_always_covers_any_finite_range_with_few_ticks(a, b):
    low, high = min(a, b), max(a, b)
    ticks = nice_ticks(low, high)
    assert 1 <= len(ticks) <= 16
    assert ticks[0] <= low and ticks[-1] >= high
    assert ticks == sorted(ticks)


@pytest.mark.parametrize(
    ("low", "high"), [(1e-300, 2e-300), (-1.7e308, 1.7e308), (1e-12, 3e-12), (0.0, 5e-324)]
)
def test_it_draws_extreme_values(low, high):
    svg = str(line_chart([Point("a", low, "development"), Point("b", high, "staging")], title="t"))
    assert svg.startswith("<svg") and svg.count("<circle") == 2
    assert "nan" not in svg and "inf" not in svg


def test_it_keeps_every_point_inside_the_plot():
    points = [Point(f"1.{i}.0", v, "development") for i, v in enumerate([0.81, 0.85, 0.889])]
    svg = str(line_chart(points, title="auc"))
    ys = [float(y) for y in re.findall(r'cy="([0-9.]+)"', svg)]
    assert len(ys) == 3
    assert all(16 <= y <= 260 - 48 for y in ys)


def test_it_escapes_labels():
    svg = str(line_chart([Point("<script>", 1.0, "production")], title='"><b>'))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert 'aria-label="&quot;&gt;&lt;b&gt;"' in svg


def test_a_bar_chart_colours_bars_against_the_baseline_and_skips_missing_values():
    svg = charts.bar_chart(
        [
            charts.Bar("1.0.0", 0.8),
            charts.Bar("1.1.0", 0.9, "better"),
            charts.Bar("<b>2.0.0</b>", -0.1, "worse"),
            charts.Bar("3.0.0", None),
        ],
        title="test.auc by version",
    )
    assert svg.count("<rect") == 3  # no bar for a version without the metric
    assert 'fill="#198754"' in svg and 'fill="#dc3545"' in svg and 'fill="#6c757d"' in svg
    assert "&lt;b&gt;2.0.0&lt;/b&gt;" in svg and "<b>" not in svg
    assert 'aria-label="test.auc by version"' in svg
    assert charts.bar_chart([charts.Bar("1.0.0", None)], title="empty").count("<rect") == 0
