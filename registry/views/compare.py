"""The compare page: two to six versions side by side; its URL holds the whole view."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from django.http import HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header, urlencode
from django.views.decorators.http import require_GET

from registry import charts, compare
from registry.compare import CompareError, Comparison, VersionsNotFound
from registry.compare_export import (
    CONTENT_TYPES,
    Format,
    column_labels,
    shown_rows,
    to_csv,
    to_markdown,
)
from registry.models import ModelVersion
from registry.views.common import HtmxHttpRequest, wants_partial

MAX_CHART_METRICS = 6
DEFAULT_CHART_METRICS = 3
ADD_CHOICES = 50  # versions offered in "add a version"
NAME_HEADERS = {"summary": "", "metrics": "Metric", "artifacts": "File", "tags": "Tag"}


@dataclass(frozen=True)
class CompareState:
    """What the URL says: the versions, the baseline, differences only, collapsed sections
    and the charted metrics. Every link on the page is this state with one change."""

    ids: tuple[int, ...] = ()
    base: int | None = None
    diff: bool = False
    hidden: tuple[str, ...] = ()
    chart: tuple[str, ...] = ()

    @classmethod
    def from_query(cls, query: QueryDict) -> CompareState:
        """Parse ?v=1&v=2 (or v=1,2), base, diff=1, hide=<section>, chart=<split.name>."""
        ids = []
        for raw in (part for value in query.getlist("v") for part in value.split(",")):
            if raw.strip():
                ids.append(_version_id(raw, "v"))
        base = query.get("base", "").strip()
        return cls(
            ids=tuple(dict.fromkeys(ids)),
            base=_version_id(base, "base") if base else None,
            diff=query.get("diff") == "1",
            hidden=tuple(dict.fromkeys(h for h in query.getlist("hide") if h in compare.SECTIONS)),
            chart=tuple(dict.fromkeys(query.getlist("chart")))[:MAX_CHART_METRICS],
        )

    def query(self, **changes: Any) -> str:
        state = replace(self, **changes)
        if state.base is not None and state.base not in state.ids:
            state = replace(state, base=None)
        params: list[tuple[str, Any]] = [("v", pk) for pk in state.ids]
        if state.base is not None:
            params.append(("base", state.base))
        if state.diff:
            params.append(("diff", 1))
        params += [("hide", key) for key in state.hidden]
        params += [("chart", key) for key in state.chart]
        return "?" + urlencode(params)

    def toggled(self, section: str) -> str:
        hidden = tuple(h for h in self.hidden if h != section)
        return self.query(hidden=hidden if section in self.hidden else (*hidden, section))


def _version_id(raw: str, name: str) -> int:
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise CompareError(f"{name}: version ids are whole numbers, got {raw[:40]!r}")
    return int(raw)


@require_GET
def compare_page(request: HtmxHttpRequest) -> HttpResponse:
    try:
        state = CompareState.from_query(request.GET)
        if not state.ids:
            return render(request, "registry/compare.html", {"state": state})
        comparison = _compare(request, state)
    except VersionsNotFound as exc:
        return _problem(request, state, _not_found_message(exc), 404)
    except CompareError as exc:
        return _problem(request, CompareState(), str(exc), 400)
    context = _context(request, state, comparison)
    if wants_partial(request):
        return render(request, "registry/compare.html#comparison", context | {"oob": True})
    return render(request, "registry/compare.html", context)


@require_GET
def compare_export(request: HtmxHttpRequest, fmt: Format) -> HttpResponse:
    try:
        state = CompareState.from_query(request.GET)
        comparison = _compare(request, state)
    except VersionsNotFound as exc:
        return HttpResponse(_not_found_message(exc), status=404, content_type="text/plain")
    except CompareError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain")
    if fmt == "md":
        url = request.build_absolute_uri(reverse("compare") + state.query())
        body = to_markdown(comparison, differences_only=state.diff, url=url)
    else:
        body = to_csv(comparison, differences_only=state.diff)
    response = HttpResponse(body, content_type=CONTENT_TYPES[fmt])
    names = "-".join(dict.fromkeys(v.model.name for v in comparison.versions))
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"compare-{names}-{stamp}.{fmt}"
    )
    return response


def _compare(request: HtmxHttpRequest, state: CompareState) -> Comparison:
    versions = compare.load_versions(request.user, state.ids)
    if state.base is None:
        baseline = compare.default_baseline(versions)
    else:
        baseline = next((v for v in versions if v.pk == state.base), None)
        if baseline is None:
            raise CompareError("base: the baseline must be one of the compared versions")
    return compare.compare_versions(versions, baseline)


def _not_found_message(exc: VersionsNotFound) -> str:
    ids = ", ".join(map(str, exc.ids))
    return (
        f"No version with id {ids} exists, or you may not see it. "
        "Pick the versions again from a model's version history."
    )


def _problem(
    request: HtmxHttpRequest, state: CompareState, message: str, status: int
) -> HttpResponse:
    return render(
        request, "registry/compare.html", {"state": state, "problem": message}, status=status
    )


def _context(
    request: HtmxHttpRequest, state: CompareState, comparison: Comparison
) -> dict[str, Any]:
    labels = column_labels(comparison)
    sections = [
        {
            "section": s,
            "open": s.key not in state.hidden,
            "rows": shown_rows(s, state.diff) if s.key not in state.hidden else [],
            "toggle_url": state.toggled(s.key),
            "name_header": NAME_HEADERS.get(s.key, "Name"),
            "numeric": s.key == "metrics",
        }
        for s in comparison.sections
    ]
    columns = [
        {
            "version": v,
            "label": label,
            "is_baseline": v == comparison.baseline,
            "bump": bump,
            "baseline_url": state.query(base=v.pk),
            "remove_url": state.query(ids=tuple(pk for pk in state.ids if pk != v.pk)),
        }
        for v, label, bump in zip(comparison.versions, labels, comparison.bumps, strict=True)
    ]
    models = ", ".join(m.name for m in comparison.models)
    status = (
        f"{len(comparison.versions)} versions of {models} against "
        f"{labels[comparison.baseline_index].removesuffix(' (baseline)')}: "
        f"{comparison.changed} difference{'s' if comparison.changed != 1 else ''}"
        + (" (showing differences only)" if state.diff else "")
    )
    charted = _chart_context(state, comparison)
    # The view the add-a-version and chart forms carry along (each adds its own field).
    keep = [("v", pk) for pk in state.ids]
    keep += [("base", state.base)] if state.base is not None else []
    keep += [("diff", 1)] if state.diff else []
    keep += [("hide", key) for key in state.hidden]
    keep += [("chart", key) for key in charted["chart_keys"]]
    return {
        "state": state,
        "status": status,
        "keep": keep,
        "comparison": comparison,
        "columns": columns,
        "sections": sections,
        "may_remove": len(comparison.versions) > compare.MIN_VERSIONS,
        "diff_url": state.query(diff=not state.diff),
        "export_md": reverse("compare-export", args=["md"]) + state.query(),
        "export_csv": reverse("compare-export", args=["csv"]) + state.query(),
        "add_choices": _add_choices(comparison),
        **charted,
    }


def _add_choices(comparison: Comparison) -> list[ModelVersion]:
    """Other versions of the compared models, highest first (one query)."""
    if len(comparison.versions) >= compare.MAX_VERSIONS:
        return []
    chosen = [v.pk for v in comparison.versions]
    return list(
        ModelVersion.objects.filter(model__in=[m.pk for m in comparison.models])
        .exclude(pk__in=chosen)
        .select_related("model")
        .order_by("model__name", "-sort_key")[:ADD_CHOICES]
    )


def _chart_context(state: CompareState, comparison: Comparison) -> dict[str, Any]:
    """Bar charts of the chosen metrics (by default the first few that differ, test first)."""
    rows = comparison.section("metrics").rows
    keys = [row.key for row in rows]
    chosen = [key for key in state.chart if key in keys]
    if not chosen:
        differing = sorted(
            (row for row in rows if row.differs), key=lambda r: not r.key.startswith("test.")
        )
        chosen = [row.key for row in (differing or rows)[:DEFAULT_CHART_METRICS]]
    by_key = {row.key: row for row in rows}
    labels = [v.version for v in comparison.versions]
    charts_ = []
    for key in chosen:
        values = comparison.metric_values(key)
        bars = [
            charts.Bar(label, value, cell.change)
            for label, value, cell in zip(labels, values, by_key[key].cells, strict=True)
        ]
        charts_.append(
            {
                "key": key,
                "note": by_key[key].note,
                "svg": charts.bar_chart(bars, title=f"{key} by version"),
                "bars": bars,
                "remove_url": state.query(chart=tuple(k for k in chosen if k != key)),
            }
        )
    return {"metric_keys": keys, "chart_keys": chosen, "charts": charts_}
