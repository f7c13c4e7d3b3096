"""Model cards: editing the written sections, assembling what Modelgate knows, exporting.

save_card(actor, version, sections) -> ModelCard     contributors; audited
assemble(user, version) -> Card                        sections + known facts
to_markdown(card) -> str                               the export
missing_sections(version, fields) -> list[str]         for the promotion gate
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts import audit
from accounts.policy import Action, require
from cards.models import MAX_SECTION, SECTIONS, ModelCard
from lineage import graph
from registry.models import Decision, ModelVersion, Review, Split

SECTION_FIELDS = tuple(name for name, _title, _help in SECTIONS)
TITLES = {name: title for name, title, _help in SECTIONS}


def save_card(actor: Any, version: ModelVersion, sections: Mapping[str, Any]) -> ModelCard:
    """Set the written sections sent (others keep their text)."""
    require(actor, Action.CONTRIBUTE, version)
    unknown = set(sections) - set(SECTION_FIELDS)
    if unknown:
        raise ValidationError({sorted(unknown)[0]: "is not a section of a model card"})
    clean = {}
    for name, text in sections.items():
        if not isinstance(text, str):
            raise ValidationError({name: "must be text (Markdown)"})
        if len(text) > MAX_SECTION:
            raise ValidationError({name: f"may have at most {MAX_SECTION:,} characters"})
        clean[name] = text.strip()
    with transaction.atomic():
        card, _ = ModelCard.objects.select_for_update().get_or_create(version=version)
        before = {name: getattr(card, name) for name in clean}
        for name, text in clean.items():
            setattr(card, name, text)
        card.updated_by = actor
        card.save()
        changed = {n: [before[n] or None, t or None] for n, t in clean.items() if before[n] != t}
        if changed:
            audit.record("card.update", actor=actor, obj=version, team=version.model.team,
                         changes=changed)  # fmt: skip
    return card


@dataclass
class Approval:
    reviewer: str
    to_stage: str
    at: dt.datetime
    comment: str


@dataclass
class Card:
    version: ModelVersion
    sections: list[tuple[str, str, str]]  # (field, title, text)
    updated_at: dt.datetime | None
    updated_by: str
    lineage: graph.VersionLineage
    metrics: list[tuple[str, list[tuple[str, float]]]]  # (split label, [(name, value)])
    environment: list[tuple[str, str]]
    approvals: list[Approval] = field(default_factory=list)

    @property
    def missing(self) -> list[str]:
        return [title for _f, title, text in self.sections if not text]


def assemble(user: Any, version: ModelVersion) -> Card:
    """The card as the page and the export show it (a constant number of queries)."""
    card = ModelCard.objects.select_related("updated_by").filter(version=version).first()
    metrics = list(version.metrics.all())
    by_split = [
        (label, [(m.name, m.value) for m in metrics if m.split == split])
        for split, label in Split.choices
        if any(m.split == split for m in metrics)
    ]
    env = version.environment or {}
    environment = [
        (label, str(env[key]))
        for key, label in (("python", "Python"), ("platform", "Platform"), ("gpu", "GPU"))
        if env.get(key)
    ]
    if version.framework:
        environment.insert(0, ("Framework", f"{version.framework} {version.framework_version}"))
    if env.get("packages"):
        environment.append(("Packages", f"{len(env['packages'])} pinned"))
    approvals = [
        Approval(r.reviewer.get_username() if r.reviewer else "(deleted user)",
                 r.request.get_to_stage_display(), r.created_at, r.comment)
        for r in Review.objects.filter(request__version=version, decision=Decision.APPROVE)
        .select_related("reviewer", "request").order_by("created_at")
    ]  # fmt: skip
    return Card(
        version=version,
        sections=[(f, TITLES[f], getattr(card, f) if card else "") for f in SECTION_FIELDS],
        updated_at=card.updated_at if card else None,
        updated_by=card.updated_by.get_username() if card and card.updated_by else "",
        lineage=graph.version_lineage(user, version),
        metrics=by_split,
        environment=environment,
        approvals=approvals,
    )


def missing_sections(version: ModelVersion, fields: Sequence[str]) -> list[str]:
    """The titles of `fields` the version's card leaves empty (all of them without one)."""
    card = ModelCard.objects.filter(version=version).first()
    return [TITLES[f] for f in fields if not (card and getattr(card, f).strip())]


def to_markdown(card: Card) -> str:
    """The card as a Markdown document: written sections as written, facts as lists."""
    v = card.version
    lines = [f"# Model card: {v.model.team.slug}/{v.model.name} {v.version}", ""]
    lines += [f"- Stage: {v.get_stage_display()}", f"- Registered: {v.created_at:%Y-%m-%d}"]
    if v.created_by:
        lines.append(f"- Registered by: {v.created_by.get_username()}")
    if card.updated_at:
        lines.append(f"- Card last edited: {card.updated_at:%Y-%m-%d} by {card.updated_by or '—'}")
    lines.append("")
    for _field, title, text in card.sections:
        lines += [f"## {title}", "", text or "_Not written yet._", ""]
    lines += ["## Training data", ""]
    found = card.lineage
    data = [f"- Dataset {d} ({d.uri})" if d.uri else f"- Dataset {d}" for d in found.datasets]
    data += [f"- Feature set {f}" for f in found.features]
    data += [f"- Training run {r.external_id} ({r.url or r.job})" for r in found.runs]
    data += [f"- Code {c.repository}@{c.commit}" for c in found.code]
    data += [
        f"- Parent {p.model.name} {p.version} ({depth} generation{'s' * (depth > 1)} back)"
        for p, depth in found.ancestors
    ]
    lines += (data or ["_No lineage recorded._"]) + [""]
    lines += ["## Evaluation", ""]
    for label, values in card.metrics:
        lines += [f"### {label}", "", "| Metric | Value |", "| --- | --- |"]
        lines += [f"| {name} | {value:.6g} |" for name, value in values] + [""]
    if not card.metrics:
        lines += ["_No metrics recorded._", ""]
    lines += ["## Environment", ""]
    lines += [f"- {label}: {value}" for label, value in card.environment] or ["_Not captured._"]
    lines += ["", "## Approvals", ""]
    lines += [
        f"- {a.reviewer} approved {a.to_stage} on {a.at:%Y-%m-%d %H:%M} UTC"
        + (f": {a.comment}" if a.comment else "")
        for a in card.approvals
    ] or ["_No approvals yet._"]
    return "\n".join(lines).rstrip() + "\n"
