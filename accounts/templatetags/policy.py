"""`{% can "contribute" model as may_contribute %}`: templates ask the same policy."""

from __future__ import annotations

from typing import Any

from django import template

from accounts import policy

register = template.Library()


@register.simple_tag(takes_context=True)
def can(context: template.Context, action: str, obj: Any) -> bool:
    return policy.can(context["request"].user, action, obj)
