"""MLflow model names ↔ Modelgate's (team, model).

An MLflow name is `<team>.<model>` (dotted, as in Unity Catalog); a name without a dot,
or whose first part is no team, resolves in the caller's default team (their MLflow
setting, else their only team). Names are percent-decoded and NFC-normalised first, so
spellings that differ only there resolve to one model.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from django.db.models import Exists, OuterRef

from accounts import policy
from accounts.models import Membership, Team
from mlflow_api.errors import invalid
from mlflow_api.models import UserSettings
from registry.models import RegisteredModel

MAX_NAME_LENGTH = 200


def clean_text(value: Any, field: str, *, required: bool = True) -> str:
    if value is None or value == "":
        if required:
            raise invalid(f"Missing value for required parameter '{field}'.")
        return ""
    if not isinstance(value, str):
        raise invalid(f"Parameter '{field}' must be a string, got {type(value).__name__}.")
    return value


def canonical(raw: Any, field: str = "name") -> str:
    text = clean_text(raw, field)
    if len(text) > MAX_NAME_LENGTH * 3:
        raise invalid(f"Parameter '{field}' is too long.")
    text = unicodedata.normalize("NFC", unquote(text)).strip()
    if not text:
        raise invalid(f"Missing value for required parameter '{field}'.")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in text):
        raise invalid(f"Parameter '{field}' must not contain control characters.")
    return text


@dataclass(frozen=True)
class ModelName:
    team: Team
    name: str

    @property
    def full(self) -> str:
        return f"{self.team.slug}.{self.name}"


def full_name(model: RegisteredModel) -> str:
    return f"{model.team.slug}.{model.name}"


def default_team(user: Any) -> Team | None:
    """The user's MLflow default team: their setting, else their only team. One query
    for members (which also primes the permission policy's cache of their roles)."""
    cache = getattr(user, "_mlflow_default_team", False)
    if cache is not False:
        return cache
    chosen = UserSettings.objects.filter(user_id=user.pk).values("default_team_id")
    rows = list(
        Membership.objects.filter(user_id=user.pk)
        .order_by()
        .select_related("team")
        .annotate(is_default=Exists(chosen.filter(default_team_id=OuterRef("team_id"))))
    )
    policy.prime_memberships(user, {m.team_id: m.role for m in rows})
    team = next((m.team for m in rows if m.is_default), None)
    if team is None and len(rows) == 1:
        team = rows[0].team
    if team is None and user.is_superuser:  # may choose a team they are no member of
        setting = UserSettings.objects.filter(user_id=user.pk).select_related("default_team")
        team = next((s.default_team for s in setting), None)
    user._mlflow_default_team = team
    return team


def _team_by_slug(user: Any, slug: str) -> Team | None:
    cache = user.__dict__.setdefault("_mlflow_teams", {})
    if slug not in cache:
        cache[slug] = Team.objects.filter(slug=slug).first()
    return cache[slug]


def resolve(user: Any, raw: Any, field: str = "name") -> ModelName:
    """The team and model name an MLflow name means for this user."""
    text = canonical(raw, field)
    prefix, dot, rest = text.partition(".")
    if dot:
        team = _team_by_slug(user, prefix)
        if team is not None:
            if not rest:
                raise invalid(f"Model name {text!r} names a team but no model.")
            return ModelName(team, rest)
    team = default_team(user)
    if team is None:
        raise invalid(
            f"Model name {text!r} names no team: use '<team>.<model>', or choose a default "
            "team for MLflow names on your profile page."
        )
    return ModelName(team, text)
