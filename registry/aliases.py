"""Aliases: named pointers (champion, candidate…) from a model to one of its versions.

Every view and API endpoint sets, moves, deletes and resolves aliases through these
functions. Contributors may set and delete unprotected aliases; creating a protected
alias, protecting or unprotecting one, and moving or deleting a protected one need a
maintainer. Every change is audited ("alias.set" with the from/to version, "alias.delete").
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404

from accounts import audit
from accounts.policy import Action, require
from registry import webhooks
from registry.models import Alias, AliasEvent, ModelVersion, RegisteredModel, alias_name_validator


class AliasNotFound(Http404):
    """The model has no alias of that name (answered 404)."""


def clean_alias_name(name: str) -> str:
    if not isinstance(name, str):
        raise ValidationError({"name": "an alias name must be text"})
    try:
        alias_name_validator(name)
    except ValidationError as exc:
        raise ValidationError({"name": exc.messages}) from None
    return name


def _version_of(model: RegisteredModel, version: ModelVersion | str) -> ModelVersion:
    if isinstance(version, ModelVersion):
        if version.model_id != model.pk:
            raise ValidationError(
                {"version": f"version {version.version} belongs to another model, not {model.name}"}
            )
        return version
    found = ModelVersion.objects.filter(model=model, version=version).first()
    if found is None:
        raise ValidationError({"version": f"{model.name} has no version {version!r}"})
    return found


def aliases_of(model: RegisteredModel) -> list[Alias]:
    """The model's aliases by name, with their versions (one query)."""
    return list(Alias.objects.filter(model=model).select_related("version").order_by("name"))


def set_alias(
    model: RegisteredModel,
    name: str,
    version: ModelVersion | str,
    actor: Any,
    protected: bool | None = None,
) -> Alias:
    """Create the alias or move it to `version`; `protected` None keeps the current flag
    (False for a new alias). Audited as "alias.set" when anything changed."""
    require(actor, Action.CONTRIBUTE, model)
    name = clean_alias_name(name)
    if protected is not None and not isinstance(protected, bool):
        raise ValidationError({"protected": "must be true or false"})
    target = _version_of(model, version)
    with transaction.atomic():
        # The model's row lock serialises alias changes of one model.
        locked = RegisteredModel.objects.select_for_update().select_related("team").get(pk=model.pk)
        if not ModelVersion.objects.filter(pk=target.pk).exists():  # deleted meanwhile
            raise ValidationError({"version": f"{model.name} has no version {target.version!r}"})
        alias = Alias.objects.filter(model=locked, name=name).select_related("version").first()
        before: dict[str, Any] = (
            {"version": alias.version.version, "protected": alias.protected} if alias else {}
        )
        new_protected = protected if protected is not None else bool(alias and alias.protected)
        if (alias and alias.protected) or new_protected:
            require(actor, Action.MAINTAIN, locked)
        after = {"version": target.version, "protected": new_protected}
        if alias is None:
            alias = Alias(model=locked, name=name)
        elif before == after:
            return alias
        alias.model = locked
        alias.version = target
        alias.protected = new_protected
        alias.updated_by = actor if getattr(actor, "is_authenticated", False) else None
        alias.save()
        AliasEvent.objects.create(model=locked, name=name, version=target, actor=alias.updated_by)
        audit.record(
            "alias.set",
            actor=actor,
            obj=alias,
            team=locked.team,
            changes=audit.diff(before, after),
        )
        webhooks.emit(
            locked.team,
            webhooks.Event.ALIAS_MOVED,
            {
                "alias": name,
                "from_version": before.get("version"),
                "to_version": target.version,
                "protected": new_protected,
            },
            actor=actor,
            model=locked,
            version=target,
        )
    return alias


def delete_alias(model: RegisteredModel, name: str, actor: Any) -> None:
    """Remove the alias (a protected one needs a maintainer); audited as "alias.delete"."""
    require(actor, Action.CONTRIBUTE, model)
    with transaction.atomic():
        locked = RegisteredModel.objects.select_for_update().select_related("team").get(pk=model.pk)
        alias = Alias.objects.filter(model=locked, name=name).select_related("version").first()
        if alias is None:
            raise AliasNotFound(f"{locked.name} has no alias {name!r}.")
        if alias.protected:
            require(actor, Action.MAINTAIN, locked)
        alias.model = locked
        audit.record(
            "alias.delete",
            actor=actor,
            obj=alias,
            team=locked.team,
            changes={
                "version": [alias.version.version, None],
                "protected": [alias.protected, None],
            },
        )
        webhooks.emit(
            locked.team,
            webhooks.Event.ALIAS_MOVED,
            {
                "alias": name,
                "from_version": alias.version.version,
                "to_version": None,
                "protected": alias.protected,
            },
            actor=actor,
            model=locked,
        )
        alias.delete()
        deleted_by = actor if getattr(actor, "is_authenticated", False) else None
        AliasEvent.objects.create(model=locked, name=name, version=None, actor=deleted_by)


def resolve_alias(model: RegisteredModel, name: str) -> ModelVersion:
    """The version the alias points at; AliasNotFound (404) when there is no such alias."""
    alias = (
        Alias.objects.filter(model=model, name=name)
        .select_related("version__model__team", "version__created_by")
        .first()
    )
    if alias is None:
        raise AliasNotFound(f"{model.name} has no alias {name!r}.")
    return alias.version
