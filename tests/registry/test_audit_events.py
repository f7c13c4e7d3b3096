"""The registry's workflows write audit events, in one valid chain."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from accounts.audit import verify_chain
from accounts.models import AuditEvent
from registry.services import apply_transition, change_stage

pytestmark = pytest.mark.django_db


def test_it_audits_creating_registering_and_promoting(make_model, make_version, maintainer):
    model = make_model("churn", tags={"owner": "fraud"})
    v1 = make_version(model, "1.0.0", files={"model.bin": b"w"}, metrics={"test": {"auc": 1}})
    v2 = make_version(model, "1.1.0")
    apply_transition(version=v1, to_stage="production", actor=maintainer, comment="go")
    apply_transition(version=v2, to_stage="production", actor=maintainer)

    events = list(AuditEvent.objects.order_by("id"))
    assert [e.action for e in events] == [
        "model.create", "version.register", "version.register",
        "version.stage", "version.stage", "version.stage",
    ]  # fmt: skip
    create, register = events[0], events[1]
    assert create.changes["tags"] == [None, {"owner": "fraud"}]
    assert register.object_repr == "churn 1.0.0" and register.team_slug == "fraud"
    assert register.changes["artifacts"][1]["model.bin"] == v1.artifacts.get().blob_id
    assert register.changes["metrics"] == [None, 1]
    # Promoting 1.1.0 archives 1.0.0 first, each a separate event by the maintainer.
    assert [e.changes["stage"] for e in events[3:]] == [
        ["development", "production"], ["production", "archived"],
        ["development", "production"],
    ]  # fmt: skip
    assert {e.model_id for e in events} == {model.pk}
    assert verify_chain() == (6, None)


def test_it_writes_no_event_for_a_refused_change(make_model, make_version, viewer):
    model = make_model()
    version = make_version(model, "1.0.0")
    before = AuditEvent.objects.count()
    with pytest.raises(PermissionDenied):
        change_stage(version=version, to_stage="staging", actor=viewer)
    assert AuditEvent.objects.count() == before
