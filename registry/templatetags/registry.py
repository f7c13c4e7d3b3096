from __future__ import annotations

from typing import Any

from django import template
from django.utils.safestring import SafeString

from registry.markdown import render_markdown
from registry.models import Stage

register = template.Library()

_STAGE_CLASSES = {
    Stage.DEVELOPMENT: "text-bg-secondary",
    Stage.STAGING: "text-bg-warning",
    Stage.PRODUCTION: "text-bg-success",
    Stage.ARCHIVED: "stage-archived",
}


@register.filter
def markdown(text: str) -> SafeString:
    return render_markdown(text)


@register.inclusion_tag("registry/_stage_badge.html")
def stage_badge(stage: str) -> dict[str, Any]:
    return {"label": Stage(stage).label, "css": _STAGE_CLASSES[Stage(stage)]}


@register.filter
def short_sha(value: str, length: int = 12) -> str:
    return (value or "")[:length]


@register.simple_tag(takes_context=True)
def query_with(context: template.Context, **changes: Any) -> str:
    """The current query string with some parameters replaced (None or '' removes them)."""
    params = context["request"].GET.copy()
    for key, value in changes.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = value
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"
