"""The registry services the MLflow API added: kept sequence numbers, rename, delete."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from accounts.models import AuditEvent
from registry import services
from registry.errors import Conflict
from registry.metadata import clean_version_metadata
from registry.models import RegisteredModel

pytestmark = pytest.mark.django_db


def test_register_version_keeps_a_given_number_above_the_last(make_model, contributor):
    model = make_model("churn")
    meta = clean_version_metadata({})
    mv = services.register_version(
        model=model, actor=contributor, metadata=meta, version="3.0.0", sequence=3
    )
    assert mv.sequence == 3
    model.refresh_from_db()
    assert model.last_sequence == 3
    nxt = services.register_version(model=model, actor=contributor, metadata=meta, version="4.0.0")
    assert nxt.sequence == 4
    with pytest.raises(ValidationError, match="cannot be kept"):
        services.register_version(
            model=model, actor=contributor, metadata=meta, version="9.0.0", sequence=2
        )
    assert model.versions.count() == 2


def test_rename_model_is_for_maintainers_and_audited(make_model, contributor, maintainer):
    model = make_model("churn")
    make_model("other")
    with pytest.raises(PermissionDenied):
        services.rename_model(model=model, actor=contributor, name="churn2")
    with pytest.raises(ValidationError, match="already has"):
        services.rename_model(model=model, actor=maintainer, name="OTHER")
    with pytest.raises(ValidationError):
        services.rename_model(model=model, actor=maintainer, name="bad name")
    renamed = services.rename_model(model=model, actor=maintainer, name="churn2")
    assert renamed.name == "churn2"
    event = AuditEvent.objects.get(action="model.rename")
    assert event.changes == {"name": ["churn", "churn2"]}


def test_delete_model_only_without_versions(make_model, make_version, contributor, maintainer):
    kept = make_model("churn")
    make_version(kept, "1.0.0")
    empty = make_model("empty")
    with pytest.raises(PermissionDenied):
        services.delete_model(model=empty, actor=contributor)
    with pytest.raises(Conflict):
        services.delete_model(model=kept, actor=maintainer)
    services.delete_model(model=empty, actor=maintainer)
    assert list(RegisteredModel.objects.values_list("name", flat=True)) == ["churn"]
    assert AuditEvent.objects.filter(action="model.delete").count() == 1


def test_numbered_versions_are_named_after_their_number(make_model, contributor):
    model = make_model("churn")
    meta = clean_version_metadata({})
    first = services.register_version(model=model, actor=contributor, metadata=meta, numbered=True)
    assert (first.sequence, first.version) == (1, "1.0.0")
    # Someone registers the next number's string by hand: the numbered one is told apart.
    services.register_version(model=model, actor=contributor, metadata=meta, version="3.0.0")
    third = services.register_version(model=model, actor=contributor, metadata=meta, numbered=True)
    assert third.sequence == 3
    assert third.version.startswith("3.0.0+") and len(third.version) == len("3.0.0+") + 8
    fourth = services.register_version(model=model, actor=contributor, metadata=meta, numbered=True)
    assert (fourth.sequence, fourth.version) == (4, "4.0.0")
    model.refresh_from_db()
    assert model.latest_version_id == fourth.pk


def test_numbered_needs_a_semantic_model_and_no_version(make_model, contributor):
    meta = clean_version_metadata({})
    semantic = make_model("churn")
    with pytest.raises(ValueError):
        services.register_version(
            model=semantic, actor=contributor, metadata=meta, version="1.0.0", numbered=True
        )
    stamped = make_model("stamped", scheme="timestamp")
    with pytest.raises(ValueError):
        services.register_version(model=stamped, actor=contributor, metadata=meta, numbered=True)
    assert not semantic.versions.exists() and not stamped.versions.exists()


def test_team_model_for_user_applies_the_policy(make_model, team, contributor, viewer, outsider):
    from django.http import Http404

    from accounts.policy import Action
    from registry.access import team_model_for_user

    private = make_model("churn")
    found = team_model_for_user(contributor, team, "churn", Action.CONTRIBUTE)
    assert found.pk == private.pk and found.team is team
    assert team_model_for_user(viewer, team, "churn").pk == private.pk
    with pytest.raises(PermissionDenied):  # readable, but a viewer may not contribute
        team_model_for_user(viewer, team, "churn", Action.CONTRIBUTE)
    with pytest.raises(Http404):  # not readable: its existence is not revealed
        team_model_for_user(outsider, team, "churn")
    with pytest.raises(Http404):
        team_model_for_user(contributor, team, "missing")
    private.visibility = "internal"
    private.save(update_fields=["visibility"])
    assert team_model_for_user(outsider, team, "churn").pk == private.pk
    with pytest.raises(PermissionDenied):
        team_model_for_user(outsider, team, "churn", Action.CONTRIBUTE)
