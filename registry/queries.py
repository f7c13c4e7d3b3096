"""Read-side queries the pages share: the models list filters and a model's summary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from registry.models import ModelTag, ModelVersion, RegisteredModel, Stage, TaskType

SORTS = {
    "-updated": ("-updated_at", "Recently updated"),
    "name": ("name", "Name"),
    "-versions": ("-version_count", "Most versions"),
    "team": ("team__name", "Team"),
}
DEFAULT_SORT = "-updated"


@dataclass(frozen=True)
class ModelFilters:
    q: str = ""
    team: str = ""
    framework: str = ""
    task: str = ""
    tag: str = ""
    stage: str = ""
    sort: str = DEFAULT_SORT

    @classmethod
    def from_query(cls, params: dict[str, str]) -> ModelFilters:
        get = {k: _clean_param(params.get(k)) for k in cls.__dataclass_fields__}
        if get["sort"] not in SORTS:
            get["sort"] = DEFAULT_SORT
        if get["stage"] not in Stage.values:
            get["stage"] = ""
        if get["task"] not in TaskType.values:
            get["task"] = ""
        return cls(**get)

    @property
    def active(self) -> bool:
        return any((self.q, self.team, self.framework, self.task, self.tag, self.stage))


def _clean_param(value: str | None) -> str:
    """A filter value as typed, or nothing when it holds characters no field can hold."""
    text = (value or "").strip()[:200]
    return text if text.isprintable() else ""


def filter_models(filters: ModelFilters, user: Any) -> QuerySet[RegisteredModel]:
    qs = RegisteredModel.objects.visible_to(user).select_related("team", "latest_version")
    if filters.q:
        tagged = ModelTag.objects.filter(model=OuterRef("pk"), value__iexact=filters.q)
        qs = qs.filter(Q(name__icontains=filters.q) | Exists(tagged))
    if filters.team:
        qs = qs.filter(team__slug=filters.team)
    if filters.framework:
        qs = qs.filter(framework=filters.framework.lower())
    if filters.task:
        qs = qs.filter(task_type=filters.task)
    if filters.tag:
        key, _, value = filters.tag.partition("=")
        tag_q = Q(model=OuterRef("pk"), key=key.strip())
        if value:
            tag_q &= Q(value=value.strip())
        qs = qs.filter(Exists(ModelTag.objects.filter(tag_q)))
    if filters.stage:
        qs = qs.filter(
            Exists(ModelVersion.objects.filter(model=OuterRef("pk"), stage=filters.stage))
        )
    return qs.order_by(SORTS[filters.sort][0], "pk")


def frameworks(user: Any) -> list[str]:
    return list(
        RegisteredModel.objects.visible_to(user)
        .exclude(framework="")
        .order_by("framework")
        .values_list("framework", flat=True)
        .distinct()
    )
