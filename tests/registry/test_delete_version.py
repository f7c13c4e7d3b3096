"""Deleting a version registered by mistake (registry.services.delete_version): maintainers
only, a version nothing refers to, audited; counters kept right, numbers never reused."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied

from accounts.models import AuditEvent
from lineage.models import Edge, NodeType
from monitoring.models import RetrainRequest
from registry import aliases, promotions, services
from registry.errors import Conflict
from registry.models import (
    Artifact,
    Blob,
    Job,
    Metric,
    ModelVersion,
    RegisteredModel,
    StageTransition,
    VersionTag,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def model(make_model):
    return make_model("churn")


@pytest.fixture
def scratch(model, make_version):
    """1.0.0 (kept) and 1.1.0, the latest, registered by mistake."""
    make_version(model, "1.0.0", files={"model.bin": b"shared"})
    return make_version(
        model,
        "1.1.0",
        files={"model.bin": b"shared", "extra.bin": b"only mine"},
        metrics={"test": {"auc": 0.5}},
        tags={"oops": "yes"},
        params={"lr": 0.1},
    )


def _model(model: RegisteredModel) -> RegisteredModel:
    return RegisteredModel.objects.get(pk=model.pk)


def test_it_deletes_a_version_nothing_refers_to(model, scratch, maintainer):
    services.delete_version(version=scratch, actor=maintainer)
    assert list(ModelVersion.objects.values_list("version", flat=True)) == ["1.0.0"]
    assert not Metric.objects.filter(version_id=scratch.pk).exists()
    assert not VersionTag.objects.filter(version_id=scratch.pk).exists()
    assert not Artifact.objects.filter(version_id=scratch.pk).exists()
    assert not StageTransition.objects.filter(version_id=scratch.pk).exists()


def test_it_keeps_the_models_counters_right(model, scratch, maintainer):
    assert _model(model).latest_version_id == scratch.pk
    services.delete_version(version=scratch, actor=maintainer)
    after = _model(model)
    assert after.version_count == 1
    assert after.latest_version == ModelVersion.objects.get(version="1.0.0")
    assert after.last_sequence == 2  # kept: number 2 is a gap


def test_deleting_a_lower_version_keeps_the_latest(model, scratch, maintainer):
    first = ModelVersion.objects.get(version="1.0.0")
    services.delete_version(version=first, actor=maintainer)
    after = _model(model)
    assert (after.version_count, after.latest_version_id) == (1, scratch.pk)


def test_deleting_the_only_version_leaves_no_latest(model, make_version, maintainer):
    only = make_version(model, "1.0.0")
    services.delete_version(version=only, actor=maintainer)
    after = _model(model)
    assert (after.version_count, after.latest_version_id, after.last_sequence) == (0, None, 1)
    services.delete_model(model=after, actor=maintainer)  # now empty: may go too
    assert not RegisteredModel.objects.exists()


def test_a_new_registration_never_reuses_a_deleted_number(model, scratch, make_version, maintainer):
    services.delete_version(version=scratch, actor=maintainer)
    again = make_version(model, "1.1.0")  # the same string may be registered again
    assert again.sequence == 3
    newer = make_version(model, "1.2.0")
    assert newer.sequence == 4
    after = _model(model)
    assert (after.version_count, after.latest_version_id, after.last_sequence) == (3, newer.pk, 4)


def test_a_numbered_registration_after_a_delete_takes_a_fresh_number(
    model, make_version, maintainer, contributor
):
    from registry.metadata import clean_version_metadata

    first = services.register_version(
        model=model, actor=contributor, metadata=clean_version_metadata({}), numbered=True
    )
    assert first.version == "1.0.0"
    services.delete_version(version=first, actor=maintainer)
    second = services.register_version(
        model=model, actor=contributor, metadata=clean_version_metadata({}), numbered=True
    )
    assert (second.sequence, second.version) == (2, "2.0.0")


def test_it_records_a_snapshot_in_the_audit_log(model, scratch, maintainer):
    services.delete_version(version=scratch, actor=maintainer)
    event = AuditEvent.objects.get(action="version.delete")
    assert event.actor == maintainer
    assert event.team_slug == "fraud"
    assert event.model_id == model.pk
    before = {key: old for key, (old, new) in event.changes.items()}
    assert all(new is None for _old, new in event.changes.values())
    assert before["version"] == "1.1.0"
    assert before["sequence"] == 2
    assert before["tags"] == {"oops": "yes"}
    assert before["params"] == {"lr": 0.1}
    assert before["metrics"] == [["test", "auc", 0.5, "higher"]]
    assert set(before["artifacts"]) == {"model.bin", "extra.bin"}


def test_it_leaves_the_blobs_alone(model, scratch, maintainer):
    blobs = set(Blob.objects.values_list("sha256", flat=True))
    services.delete_version(version=scratch, actor=maintainer)
    assert set(Blob.objects.values_list("sha256", flat=True)) == blobs
    shared = Artifact.objects.get(version__version="1.0.0")
    assert shared.blob_id in blobs  # the kept version still reads its bytes


def test_it_removes_the_lineage_into_the_version(model, scratch, make_version, maintainer):
    parent = ModelVersion.objects.get(version="1.0.0")
    Edge.objects.create(
        kind="derived_from",
        src_type=NodeType.VERSION,
        src_id=parent.pk,
        dst_type=NodeType.VERSION,
        dst_id=scratch.pk,
    )
    services.delete_version(version=scratch, actor=maintainer)
    assert not Edge.objects.exists()
    event = AuditEvent.objects.get(action="version.delete")
    assert event.changes["lineage"][0] == [f"version:{parent.pk} derived_from"]


@pytest.mark.parametrize("persona", ["viewer", "contributor", "reviewer", "outsider"])
def test_only_maintainers_may_delete(request, model, scratch, persona):
    with pytest.raises(PermissionDenied):
        services.delete_version(version=scratch, actor=request.getfixturevalue(persona))
    assert ModelVersion.objects.filter(pk=scratch.pk).exists()


def test_a_site_admin_may_delete(model, scratch, site_admin):
    services.delete_version(version=scratch, actor=site_admin)
    assert not ModelVersion.objects.filter(pk=scratch.pk).exists()


def _rows() -> tuple:
    """What a refused deletion must leave as it was."""
    return (
        ModelVersion.objects.count(),
        StageTransition.objects.count(),
        Artifact.objects.count(),
        Edge.objects.count(),
        list(
            RegisteredModel.objects.values_list(
                "version_count", "latest_version_id", "last_sequence"
            )
        ),
    )


def _stage(version, maintainer):
    services.apply_transition(version=version, to_stage="staging", actor=maintainer)


def _back_to_development(version, maintainer):
    services.apply_transition(version=version, to_stage="staging", actor=maintainer)
    services.apply_transition(version=version, to_stage="development", actor=maintainer)


def _alias(version, maintainer):
    aliases.set_alias(version.model, "champion", version.version, maintainer)


def _alias_removed(version, maintainer):
    aliases.set_alias(version.model, "champion", version.version, maintainer)
    aliases.delete_alias(version.model, "champion", maintainer)


def _request(version, maintainer):
    promotions.request_promotion(
        version=version, to_stage="staging", actor=maintainer, justification="ready"
    )


def _deployment(version, maintainer):
    from lineage import deployments

    deployments.record_deployment(maintainer, version, "prod-eu")


def _child(version, maintainer):
    other = ModelVersion.objects.get(version="1.0.0")
    Edge.objects.create(
        kind="derived_from",
        src_type=NodeType.VERSION,
        src_id=version.pk,
        dst_type=NodeType.VERSION,
        dst_id=other.pk,
    )


def _retrain_from(version, maintainer):
    RetrainRequest.objects.create(
        model=version.model, version=version, metric="auc", reason="drop", since=version.created_at
    )


def _retrain_for(version, maintainer):
    other = ModelVersion.objects.get(version="1.0.0")
    RetrainRequest.objects.create(
        model=version.model,
        version=other,
        new_version=version,
        metric="auc",
        reason="drop",
        since=version.created_at,
        state="in_progress",
    )


def _archive_job(version, maintainer):
    Job.objects.create(kind="archive", team=version.model.team, version=version, state="done")


def _cold(version, maintainer):
    ModelVersion.objects.filter(pk=version.pk).update(
        cold_since=version.created_at, cold_reason="retention"
    )


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_stage, "it has left Development"),
        (_back_to_development, "it has left Development"),
        (_alias, "an alias points at it"),
        (_alias_removed, "an alias pointed at it once"),
        (_request, "promotion was requested for it"),
        (_deployment, "it has been deployed"),
        (_child, "descend from it in the lineage graph"),
        (_retrain_from, "a retrain request names it"),
        (_retrain_for, "it was registered for a retrain request"),
        (_archive_job, "its files were archived or restored"),
        (_cold, "its files are in cold storage"),
    ],
)
def test_it_refuses_a_version_with_history(model, scratch, maintainer, make, reason):
    make(scratch, maintainer)
    assert any(reason in r for r in services.version_deletion_blockers(scratch))
    before = _rows()
    with pytest.raises(Conflict, match=reason):
        services.delete_version(version=scratch, actor=maintainer)
    assert not AuditEvent.objects.filter(action="version.delete").exists()
    assert _rows() == before


def test_a_fresh_version_has_no_blockers(scratch):
    assert services.version_deletion_blockers(scratch) == []


def test_the_refusal_names_every_reason(model, scratch, maintainer):
    _alias(scratch, maintainer)
    _request(scratch, maintainer)
    with pytest.raises(Conflict) as caught:
        services.delete_version(version=scratch, actor=maintainer)
    assert "an alias points at it" in caught.value.message
    assert "pointed at it once" not in caught.value.message  # implied by the alias
    assert "promotion was requested for it" in caught.value.message
    assert "archive it instead" in caught.value.message


# --- races (PostgreSQL row locks) ----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_deletes_and_registrations_racing_keep_numbers_and_counters_right(
    is_postgres, make_model, make_version, maintainer, contributor
):
    if not is_postgres:
        pytest.skip("row locks need PostgreSQL")
    from accounts.models import User
    from registry.metadata import clean_version_metadata
    from tests.threads import run_at_once

    model = make_model("churn")
    doomed = [make_version(model, f"0.{i}.0") for i in range(4)]

    def prepare(index: int) -> Any:
        if index < 4:
            version = ModelVersion.objects.select_related("model__team").get(pk=doomed[index].pk)
            actor = User.objects.get(pk=maintainer.pk)
            return lambda: services.delete_version(version=version, actor=actor)
        fresh = RegisteredModel.objects.select_related("team").get(pk=model.pk)
        actor = User.objects.get(pk=contributor.pk)
        return lambda: services.register_version(
            model=fresh, actor=actor, version=f"1.{index}.0", metadata=clean_version_metadata({})
        )

    run_at_once(8, prepare, lambda act: act())
    after = _model(model)
    kept = ModelVersion.objects.filter(model=model)
    assert sorted(kept.values_list("sequence", flat=True)) == [5, 6, 7, 8]
    assert (after.version_count, after.last_sequence) == (4, 8)
    assert after.latest_version == kept.order_by("-sort_key").first()


def _archive(version, actor):
    services.change_stage(version=version, to_stage="archived", actor=actor)


def _register_child(version, actor):
    """A version of another model registered with `version` as its parent."""
    from lineage import graph
    from registry.metadata import clean_version_metadata

    child_model = RegisteredModel.objects.select_related("team").get(name="child")
    parents = [graph.ParentRef(version, "derived_from")]
    services.register_version(
        model=child_model, actor=actor, metadata=clean_version_metadata({}),
        references=lambda mv: graph.record_version_lineage(mv, parents=parents),
    )  # fmt: skip


def _link_child(version, actor):
    """An existing version given `version` as a parent."""
    from lineage import graph

    child = ModelVersion.objects.select_related("model__team").get(model__name="child")
    graph.link_parent(child, version, actor)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "other", [_alias, _request, _deployment, _archive, _register_child, _link_child]
)
def test_a_deletion_racing_a_reference_to_the_version_ends_one_way_or_the_other(
    is_postgres, make_model, make_version, maintainer, other
):
    """Both take the model's lock: whichever comes second sees what the first did and is
    refused with a 4xx-mapped error (never a foreign key violation at commit)."""
    if not is_postgres:
        pytest.skip("row locks need PostgreSQL")
    from django.core.exceptions import ValidationError

    from accounts.models import User
    from tests.threads import run_at_once

    model = make_model("churn")
    make_version(make_model("child"), "0.1.0")
    for round_ in range(3):
        version = make_version(model, f"1.{round_}.0")

        def prepare(index: int, pk: int = version.pk) -> Any:
            mv = ModelVersion.objects.select_related("model__team").get(pk=pk)
            actor = User.objects.get(pk=maintainer.pk)
            if index == 0:
                return lambda: services.delete_version(version=mv, actor=actor)
            return lambda: other(mv, actor)

        def act(call: Any) -> str:
            try:
                call()
            except (Conflict, ValidationError):
                return "refused"
            return "done"

        outcome = run_at_once(2, prepare, act)
        assert sorted(outcome) == ["done", "refused"]
        deleted = not ModelVersion.objects.filter(pk=version.pk).exists()
        assert deleted is (outcome[0] == "done")
        # No lineage edge is left pointing at a deleted version.
        assert not (
            deleted and Edge.objects.filter(src_type=NodeType.VERSION, src_id=version.pk).exists()
        )
