"""A comparison as Markdown (for a pull request or an audit) or CSV (for a spreadsheet)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any, Literal

from accounts.audit_export import csv_cell
from registry.compare import Comparison, Row, Section

Format = Literal["md", "csv"]
CONTENT_TYPES: dict[str, str] = {
    "md": "text/markdown; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
}


def column_labels(comparison: Comparison) -> list[str]:
    """Version labels for headings: "churn 1.1.0" across models, "(baseline)" marked."""
    labels = []
    for v in comparison.versions:
        label = f"{v.model.name} {v.version}" if comparison.cross_model else v.version
        if v == comparison.baseline:
            label += " (baseline)"
        labels.append(label)
    return labels


def _md(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip()


def _md_cell(cell: Any) -> str:
    text = _md(cell.text) or "—"
    if cell.change in ("", "same"):
        return text
    detail = ", ".join(filter(None, [cell.delta_text, cell.change]))
    return f"{text} ({detail})"


def _md_table(section: Section, rows: Sequence[Row], labels: list[str]) -> list[str]:
    grouped = any(row.group for row in rows)
    head = (["Group"] if grouped else []) + ["Name", *labels]
    lines = [
        "| " + " | ".join(_md(h) for h in head) + " |",
        "|" + "---|" * len(head),
    ]
    for row in rows:
        cells = [_md(row.group)] if grouped else []
        name = _md(row.label) + (f" ({_md(row.note)})" if row.note else "")
        cells += [name, *(_md_cell(c) for c in row.cells)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def to_markdown(comparison: Comparison, *, differences_only: bool, url: str) -> str:
    labels = column_labels(comparison)
    models = ", ".join(str(m) for m in comparison.models)
    lines = [
        f"# Comparison of {models}",
        "",
        f"Baseline: **{labels[comparison.baseline_index]}**. "
        f"{comparison.changed} difference{'s' if comparison.changed != 1 else ''} "
        f"from the baseline. [Open in Modelgate]({url})",
        "",
    ]
    bumps = [
        f"- **{label}**: {bump.bump} — {bump.reason}"
        for label, bump in zip(labels, comparison.bumps, strict=True)
        if bump is not None
    ]
    if bumps:
        lines += ["## Suggested version bump", "", *bumps, ""]
    for section in comparison.sections:
        rows = shown_rows(section, differences_only)
        lines += [f"## {section.title}", ""]
        lines += [f"- {_md(note)}" for note in section.notes]
        if section.notes:
            lines.append("")
        if rows:
            lines += _md_table(section, rows, labels)
        else:
            lines.append("No differences." if section.rows else "Nothing recorded.")
        lines.append("")
    return "\n".join(lines)


def shown_rows(section: Section, differences_only: bool) -> list[Row]:
    """The rows a view shows: all, or only those that differ (the summary always in full)."""
    if differences_only and section.key != "summary":
        return [row for row in section.rows if row.differs]
    return section.rows


def to_csv(comparison: Comparison, *, differences_only: bool) -> str:
    """One line per row: section, group, name, note, then per version its value and, for
    the others, how it compares with the baseline and by how much."""
    labels = column_labels(comparison)
    base = comparison.baseline_index
    header = ["section", "group", "name", "note"]
    for i, label in enumerate(labels):
        header.append(label)
        if i != base:
            header += [f"{label} vs baseline", f"{label} delta"]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([csv_cell(h) for h in header])
    for section in comparison.sections:
        for row in shown_rows(section, differences_only):
            line: list[Any] = [csv_cell(v) for v in (section.title, row.group, row.label, row.note)]
            for i, cell in enumerate(row.cells):
                line.append(csv_cell(cell.text))
                if i != base:
                    # A number is never a formula: written as is, sign and all.
                    line += [cell.change, "" if cell.delta is None else cell.delta]
            writer.writerow(line)
    return out.getvalue()
