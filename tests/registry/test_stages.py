"""Stage transitions: apply_transition (the engine every change goes through) records them,
keeps one Production version per model and history append-only; change_stage (a direct
change) checks who may move a version. The policies that gate direct changes are tested in
test_promotions.py; here the team allows direct changes (0 approvals)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError

from registry.errors import Conflict
from registry.models import ModelVersion, PromotionPolicy, RegisteredModel, Stage, StageTransition
from registry.services import apply_transition, change_stage

pytestmark = pytest.mark.django_db

MakeModel = Callable[..., RegisteredModel]
MakeVersion = Callable[..., ModelVersion]


@pytest.fixture
def model(make_model: MakeModel) -> RegisteredModel:
    model = make_model("churn")
    for stage in ("staging", "production"):
        PromotionPolicy.objects.create(team=model.team, target_stage=stage, required_approvals=0)
    return model


@pytest.fixture
def v1(model: RegisteredModel, make_version: MakeVersion) -> ModelVersion:
    return make_version(model, "1.0.0")


@pytest.fixture
def v2(model: RegisteredModel, make_version: MakeVersion) -> ModelVersion:
    return make_version(model, "2.0.0")


def stages(model: RegisteredModel) -> dict[str, str]:
    return dict(model.versions.values_list("version", "stage"))


def moves(version: ModelVersion) -> list[tuple[str, str]]:
    """The version's transitions, oldest first, as (from, to)."""
    return [
        (t.from_stage, t.to_stage)
        for t in StageTransition.objects.filter(version=version).order_by("id")
    ]


def test_it_moves_a_version_and_records_who_from_to_and_why(
    v1: ModelVersion, reviewer: Any
) -> None:
    transition = apply_transition(
        version=v1, to_stage=Stage.STAGING, actor=reviewer, comment="passed offline eval"
    )

    assert transition.pk is not None
    assert (transition.version, transition.from_stage, transition.to_stage) == (
        v1,
        "development",
        "staging",
    )
    assert transition.actor == reviewer
    assert transition.comment == "passed offline eval"
    stored = ModelVersion.objects.get(pk=v1.pk)
    assert stored.stage == "staging"
    assert stored.stage_changed_at is not None
    assert (v1.stage, v1.stage_changed_at) == (stored.stage, stored.stage_changed_at)
    assert moves(v1) == [("", "development"), ("development", "staging")]


def test_it_takes_the_from_stage_from_the_database_not_a_stale_object(
    v1: ModelVersion, v2: ModelVersion, maintainer: Any
) -> None:
    stale = ModelVersion.objects.get(pk=v1.pk)
    apply_transition(version=v1, to_stage=Stage.PRODUCTION, actor=maintainer)
    apply_transition(version=v2, to_stage=Stage.PRODUCTION, actor=maintainer)  # archives v1

    transition = apply_transition(version=stale, to_stage=Stage.PRODUCTION, actor=maintainer)

    assert (transition.from_stage, transition.to_stage) == ("archived", "production")
    assert stages(v1.model) == {"1.0.0": "production", "2.0.0": "archived"}


def test_it_archives_the_previous_production_version_in_the_same_call(
    v1: ModelVersion, v2: ModelVersion, maintainer: Any
) -> None:
    apply_transition(version=v1, to_stage=Stage.PRODUCTION, actor=maintainer)
    before = StageTransition.objects.count()

    transition = apply_transition(version=v2, to_stage=Stage.PRODUCTION, actor=maintainer)

    assert StageTransition.objects.count() == before + 2
    assert stages(v1.model) == {"1.0.0": "archived", "2.0.0": "production"}
    demotion = StageTransition.objects.filter(version=v1).order_by("id").last()
    assert (demotion.from_stage, demotion.to_stage) == ("production", "archived")
    assert demotion.actor == maintainer
    assert demotion.comment == "replaced by 2.0.0"
    assert (transition.from_stage, transition.to_stage) == ("development", "production")
    assert ModelVersion.objects.get(pk=v1.pk).stage_changed_at is not None


def test_it_keeps_one_production_version_through_several_promotions(
    model: RegisteredModel, make_version: MakeVersion, maintainer: Any
) -> None:
    versions = [make_version(model, f"1.{i}.0") for i in range(4)]
    order = [0, 1, 2, 1, 3, 0]

    for index in order:
        apply_transition(version=versions[index], to_stage=Stage.PRODUCTION, actor=maintainer)
        assert list(model.versions.filter(stage=Stage.PRODUCTION)) == [versions[index]]

    assert stages(model) == {
        "1.0.0": "production",
        "1.1.0": "archived",
        "1.2.0": "archived",
        "1.3.0": "archived",
    }
    # 4 registrations + 6 promotions + 5 demotions (the first promotion replaced nothing).
    assert StageTransition.objects.filter(version__model=model).count() == 15


def test_it_does_not_archive_production_versions_of_other_models(
    make_model: MakeModel, make_version: MakeVersion, maintainer: Any
) -> None:
    churn, fraud = make_model("churn"), make_model("fraud")
    churn_v1 = make_version(churn, "1.0.0")
    fraud_v1 = make_version(fraud, "1.0.0")
    apply_transition(version=churn_v1, to_stage=Stage.PRODUCTION, actor=maintainer)

    apply_transition(version=fraud_v1, to_stage=Stage.PRODUCTION, actor=maintainer)

    assert ModelVersion.objects.get(pk=churn_v1.pk).stage == "production"


@pytest.mark.parametrize("to_stage", ["staging", "archived", "development"])
def test_it_leaves_production_alone_when_another_version_moves_elsewhere(
    v1: ModelVersion, v2: ModelVersion, maintainer: Any, to_stage: str
) -> None:
    apply_transition(version=v1, to_stage=Stage.PRODUCTION, actor=maintainer)
    if to_stage == "development":
        apply_transition(version=v2, to_stage=Stage.STAGING, actor=maintainer)

    apply_transition(version=v2, to_stage=to_stage, actor=maintainer)

    assert stages(v1.model) == {"1.0.0": "production", "2.0.0": to_stage}


def test_it_allows_rollback_and_restore(v1: ModelVersion, maintainer: Any) -> None:
    for stage in ("staging", "production", "staging", "archived", "development"):
        apply_transition(version=v1, to_stage=stage, actor=maintainer)

    assert moves(v1) == [
        ("", "development"),
        ("development", "staging"),
        ("staging", "production"),
        ("production", "staging"),
        ("staging", "archived"),
        ("archived", "development"),
    ]


@pytest.mark.parametrize("stage", ["development", "staging", "production", "archived"])
def test_it_refuses_to_move_a_version_to_the_stage_it_is_in(
    v1: ModelVersion, maintainer: Any, stage: str
) -> None:
    if stage != "development":
        apply_transition(version=v1, to_stage=stage, actor=maintainer)
    before = StageTransition.objects.count()

    with pytest.raises(Conflict) as excinfo:
        apply_transition(version=v1, to_stage=stage, actor=maintainer)

    assert excinfo.value.message == f"version 1.0.0 is already in {Stage(stage).label}"
    assert StageTransition.objects.count() == before
    assert ModelVersion.objects.get(pk=v1.pk).stage == stage


def test_it_does_not_archive_production_when_promoting_the_production_version_again(
    v1: ModelVersion, maintainer: Any
) -> None:
    apply_transition(version=v1, to_stage=Stage.PRODUCTION, actor=maintainer)

    with pytest.raises(Conflict):
        apply_transition(version=v1, to_stage=Stage.PRODUCTION, actor=maintainer)

    assert ModelVersion.objects.get(pk=v1.pk).stage == "production"
    assert moves(v1)[-1] == ("development", "production")


@pytest.mark.parametrize("to_stage", ["Production", "prod", "", "deleted"])
def test_it_rejects_an_unknown_stage_naming_the_valid_ones(
    v1: ModelVersion, maintainer: Any, to_stage: str
) -> None:
    with pytest.raises(ValidationError) as excinfo:
        apply_transition(version=v1, to_stage=to_stage, actor=maintainer)

    assert excinfo.value.message_dict == {
        "to_stage": [
            f"unknown stage {to_stage!r}: use one of development, staging, production, archived"
        ]
    }
    assert moves(v1) == [("", "development")]
    assert ModelVersion.objects.get(pk=v1.pk).stage == "development"


# --- append-only history -----------------------------------------------------------------


def test_it_refuses_to_change_a_recorded_transition(v1: ModelVersion) -> None:
    transition = StageTransition.objects.get(version=v1)
    transition.comment = "rewritten history"

    with pytest.raises(ValueError, match="append-only"):
        transition.save()

    assert StageTransition.objects.get(pk=transition.pk).comment == "registered"


def test_it_refuses_to_delete_a_recorded_transition(v1: ModelVersion) -> None:
    transition = StageTransition.objects.get(version=v1)

    with pytest.raises(ValueError, match="append-only"):
        transition.delete()

    assert StageTransition.objects.filter(pk=transition.pk).exists()


# --- permissions -------------------------------------------------------------------------


def persona(request: pytest.FixtureRequest, name: str) -> Any:
    return AnonymousUser() if name == "anonymous" else request.getfixturevalue(name)


@pytest.mark.parametrize("who", ["contributor", "reviewer", "maintainer", "site_admin"])
def test_it_lets_contributors_and_above_change_stages(
    request: pytest.FixtureRequest, v1: ModelVersion, who: str
) -> None:
    actor = persona(request, who)

    transition = change_stage(version=v1, to_stage=Stage.STAGING, actor=actor)

    assert transition.actor == actor
    assert ModelVersion.objects.get(pk=v1.pk).stage == "staging"


@pytest.mark.parametrize("who", ["viewer", "outsider", "anonymous"])
def test_it_refuses_stage_changes_to_viewers_outsiders_and_anonymous(
    request: pytest.FixtureRequest, v1: ModelVersion, v2: ModelVersion, who: str
) -> None:
    apply_transition(version=v1, to_stage=Stage.PRODUCTION, actor=None)
    apply_transition(version=v2, to_stage=Stage.STAGING, actor=None)
    actor = persona(request, who)
    before = StageTransition.objects.count()

    with pytest.raises(PermissionDenied):
        change_stage(version=v2, to_stage=Stage.PRODUCTION, actor=actor)

    assert StageTransition.objects.count() == before
    assert stages(v1.model) == {"1.0.0": "production", "2.0.0": "staging"}


@pytest.mark.parametrize("to_stage", [Stage.PRODUCTION, Stage.ARCHIVED])
@pytest.mark.parametrize("who", ["contributor", "reviewer"])
def test_it_keeps_putting_versions_into_and_out_of_service_for_maintainers(
    request: pytest.FixtureRequest, v1: ModelVersion, who: str, to_stage: str
) -> None:
    with pytest.raises(PermissionDenied, match="maintainer"):
        change_stage(version=v1, to_stage=to_stage, actor=persona(request, who))

    assert ModelVersion.objects.get(pk=v1.pk).stage == "development"


@pytest.mark.parametrize("to_stage", [Stage.PRODUCTION, Stage.ARCHIVED])
@pytest.mark.parametrize("who", ["maintainer", "site_admin"])
def test_it_lets_maintainers_put_versions_into_and_out_of_service(
    request: pytest.FixtureRequest, v1: ModelVersion, who: str, to_stage: str
) -> None:
    apply_transition(version=v1, to_stage=Stage.STAGING, actor=None)

    change_stage(version=v1, to_stage=to_stage, actor=persona(request, who))

    assert ModelVersion.objects.get(pk=v1.pk).stage == to_stage


# --- cost --------------------------------------------------------------------------------


def test_it_promotes_with_a_fixed_number_of_queries(
    v1: ModelVersion, v2: ModelVersion, maintainer: Any, django_assert_max_num_queries: Any
) -> None:
    apply_transition(version=v1, to_stage=Stage.PRODUCTION, actor=maintainer)
    apply_transition(version=v2, to_stage=Stage.STAGING, actor=maintainer)

    # the actor's memberships, the policy in force and its gates, savepoint, model row lock,
    # re-read the version (+team), current Production versions (+team), archive it
    # (transition, audit event: lock head + insert + move head, update, the team's webhooks
    # for stage.changed), its archive job (insert, read back: registry.archiving), promote
    # (the same six), close the retrain requests it answers (monitoring), touch the model,
    # release: 24.
    with django_assert_max_num_queries(24):
        change_stage(version=v2, to_stage=Stage.PRODUCTION, actor=maintainer)


def test_it_refuses_bulk_updates_and_deletes_of_history(
    make_model: Callable[..., RegisteredModel], make_version: Callable[..., ModelVersion]
) -> None:
    make_version(make_model(), "1.0.0")
    history = StageTransition.objects.all()

    with pytest.raises(ValueError, match="append-only"):
        history.update(comment="rewritten")
    with pytest.raises(ValueError, match="append-only"):
        history.delete()
    assert history.get().comment == "registered"
