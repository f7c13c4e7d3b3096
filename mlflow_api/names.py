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

from django.db import connection

from accounts import policy, rows
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
    """The user's MLflow default team: their setting, else their only team. One plain-SQL
    read of their memberships (accounts.rows: every MLflow call makes it), which also
    primes the permission policy's cache of their roles."""
    cache = getattr(user, "_mlflow_default_team", False)
    if cache is not False:
        return cache
    q = connection.ops.quote_name
    found = rows.fetch(
        f"SELECT m.{q('role')}, EXISTS(SELECT 1 FROM {rows.table(UserSettings)} s "
        f"WHERE s.{q('user_id')} = m.{q('user_id')} "
        f"AND s.{q('default_team_id')} = m.{q('team_id')}), {rows.columns(Team, 't')} "
        f"FROM {rows.table(Membership)} m INNER JOIN {rows.table(Team)} t "
        f"ON t.{q('id')} = m.{q('team_id')} WHERE m.{q('user_id')} = %s",
        [user.pk],
    )
    teams = [(role, is_default, rows.instance(Team, rest)) for role, is_default, *rest in found]
    policy.prime_memberships(user, {team.pk: role for role, _default, team in teams})
    team = next((team for _role, is_default, team in teams if is_default), None)
    if team is None and len(teams) == 1:
        team = teams[0][2]
    if team is None and user.is_superuser:  # may choose a team they are no member of
        setting = UserSettings.objects.filter(user_id=user.pk).select_related("default_team")
        team = next((s.default_team for s in setting), None)
    user._mlflow_default_team = team
    return team


def _team_by_slug(user: Any, slug: str) -> Team | None:
    cache = user.__dict__.setdefault("_mlflow_teams", {})
    if slug not in cache:
        found = rows.fetch(
            f"SELECT {rows.columns(Team, 't')} FROM {rows.table(Team)} t WHERE t.slug = %s", [slug]
        )
        cache[slug] = rows.instance(Team, found[0]) if found else None
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
