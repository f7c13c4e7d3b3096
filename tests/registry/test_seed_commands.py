"""seed_demo (idempotent demo data through the services) and seed_scale (bulk benchmark data)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.db.models import Count
from django.test import override_settings

from accounts.models import Membership, Team, User
from registry import versioning
from registry.models import (
    Artifact,
    Blob,
    Metric,
    ModelTag,
    ModelVersion,
    RegisteredModel,
    Stage,
    StageTransition,
    VersionTag,
)
from registry.storage import artifact_storage
from tests.conftest import FAST_HASHERS, local_storages

pytestmark = pytest.mark.django_db

ANCHOR = "2025-06-30"
ROLES = {
    "maintainer": Membership.Role.MAINTAINER,
    "reviewer": Membership.Role.REVIEWER,
    "reviewer2": Membership.Role.REVIEWER,
    "contributor": Membership.Role.CONTRIBUTOR,
    "viewer": Membership.Role.VIEWER,
}
TABLES = [
    Team,
    User,
    Membership,
    RegisteredModel,
    ModelTag,
    ModelVersion,
    VersionTag,
    Metric,
    Blob,
    Artifact,
    StageTransition,
]


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def seed_demo(**kwargs: Any) -> str:
    out = StringIO()
    call_command("seed_demo", "--today", ANCHOR, stdout=out, **kwargs)
    return out.getvalue()


def seed_scale(*args: str) -> str:
    out = StringIO()
    call_command("seed_scale", *args, stdout=out)
    return out.getvalue()


def row_counts() -> dict[str, int]:
    return {model.__name__: model._base_manager.count() for model in TABLES}


# -- seed_demo ------------------------------------------------------------------------------


@pytest.fixture(scope="class")
def seeded_demo(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """seed_demo's output and files, seeded once for the class (it takes half a minute) in a
    transaction rolled back after the class's last test. Each test using `demo` runs in a savepoint
    inside it (pytest-django's `db`), rolled back after it, with its own copy of the files:
    every such test starts from the demo as seeded, whatever the tests before it changed."""
    storage = tmp_path_factory.mktemp("demo")
    with (
        django_db_blocker.unblock(),
        transaction.atomic(),
        override_settings(
            DEMO_MODE=True, PASSWORD_HASHERS=FAST_HASHERS, STORAGES=local_storages(storage)
        ),
    ):
        yield seed_demo(), storage
        transaction.set_rollback(True)


@pytest.fixture
def demo(seeded_demo: tuple[str, Path], settings: Any, tmp_path: Path) -> str:
    """The seeded demo (DEMO_MODE on, as when it was seeded)."""
    output, storage = seeded_demo
    shutil.copytree(storage, tmp_path, dirs_exist_ok=True)  # where this test's storages are
    settings.DEMO_MODE = True
    return output


class TestTheSeededDemo:
    """Tests of what seed_demo made, all on one seeding (`seeded_demo`)."""

    def test_it_creates_the_demo_teams_users_and_roles(self, demo: str) -> None:
        assert set(Team.objects.values_list("slug", flat=True)) >= {"fraud", "growth", "vision"}
        admin = User.objects.get(username="admin")
        assert admin.is_superuser and admin.is_staff and admin.check_password("demo")
        assert not admin.memberships.exists()
        for username, role in ROLES.items():
            user = User.objects.get(username=username)
            assert user.check_password("demo")
            assert not user.is_superuser
            memberships = {m.team.slug: m.role for m in user.memberships.select_related("team")}
            assert memberships == {"fraud": role, "growth": role, "vision": role}
        assert "admin" in demo and "viewer" in demo and "demo" in demo

    def test_it_creates_models_across_teams_frameworks_and_all_schemes(self, demo: str) -> None:
        models = list(RegisteredModel.objects.select_related("team"))
        assert len(models) >= 8
        assert {m.versioning_scheme for m in models} == {s.value for s in versioning.Scheme}
        assert {m.team.slug for m in models} == {"fraud", "growth", "vision"}
        assert len({m.framework for m in models}) >= 6
        assert len({m.task_type for m in models}) >= 6
        for m in models:
            assert m.description.startswith("# ") and "| --- |" in m.description
            assert "`" in m.description and "\n- " in m.description
            assert {"owner", "domain", "pii"} <= set(m.tags.values_list("key", flat=True))
        assert sum("<script>alert(1)</script>" in m.description for m in models) == 1

    def test_it_registers_versions_with_metrics_metadata_and_artifacts(self, demo: str) -> None:
        for model in RegisteredModel.objects.all():
            versions = list(model.versions.order_by("sequence"))
            assert 10 <= len(versions) <= 60
            assert [v.sequence for v in versions] == list(range(1, len(versions) + 1))
            assert model.last_sequence == model.version_count == len(versions)
            assert model.latest_version == versions[-1]
            for v in versions:
                assert 10 <= len(v.params) <= 30, v
                assert 15 <= len(v.environment["packages"]) <= 40
                assert {"python", "os", "hardware"} <= set(v.environment)
                assert v.signature["inputs"] and v.signature["outputs"]
                assert re.fullmatch(r"[0-9a-f]{40}", v.code_commit)
                assert v.code_repository.startswith("https://") and v.code_entry_point
                assert v.training_started_at < v.training_ended_at <= v.created_at
                assert v.tags.exists()
        splits = Metric.objects.values("version").annotate(n=Count("split", distinct=True))
        assert splits.count() == ModelVersion.objects.count()
        assert min(row["n"] for row in splits) >= 2
        assert set(Metric.objects.values_list("split", flat=True)) == {
            "train", "validation", "test", "business"
        }  # fmt: skip
        assert Metric.objects.filter(name="p95_latency_ms", direction="lower").exists()
        per_version = ModelVersion.objects.annotate(n=Count("artifacts")).values_list(
            "n", flat=True
        )
        assert set(per_version) <= {1, 2, 3} and 0 not in per_version
        # Identical files (weights of consecutive retrains, READMEs) are stored once.
        assert Blob.objects.count() < Artifact.objects.count()
        blob = Blob.objects.first()
        assert blob is not None and artifact_storage.size(blob.storage_name) == blob.size

    def test_it_shows_a_metric_trend_with_a_regression(self, demo: str) -> None:
        model = RegisteredModel.objects.get(name="card-fraud-xgb")
        aucs = list(
            Metric.objects.filter(model=model, split="test", name="auc")
            .order_by("version__sequence")
            .values_list("value", flat=True)
        )
        assert aucs[-1] > aucs[0] + 0.03
        regressed = model.versions.get(tags__key="regression")
        previous = model.versions.get(sequence=regressed.sequence - 1)
        assert regressed.metrics.get(split="test", name="auc").value < (
            previous.metrics.get(split="test", name="auc").value - 0.01
        )

    def test_it_populates_every_stage_with_at_most_one_production(self, demo: str) -> None:
        assert set(ModelVersion.objects.values_list("stage", flat=True)) == set(Stage.values)
        with_production = 0
        for model in RegisteredModel.objects.all():
            stages = list(model.versions.values_list("stage", flat=True))
            assert stages.count(Stage.PRODUCTION) <= 1
            with_production += stages.count(Stage.PRODUCTION)
            assert Stage.STAGING in stages and Stage.DEVELOPMENT in stages
        assert 0 < with_production < RegisteredModel.objects.count()
        # Stage changes are real transitions by the demo personas, with comments.
        moved = StageTransition.objects.exclude(comment="registered")
        promotions = moved.filter(to_stage=Stage.PRODUCTION)
        assert set(promotions.values_list("actor__username", flat=True)) == {"maintainer"}
        assert promotions.filter(comment__contains="Signed off by reviewer").exists()
        assert moved.filter(from_stage=Stage.PRODUCTION, to_stage=Stage.ARCHIVED).exists()
        assert moved.filter(from_stage=Stage.STAGING, to_stage=Stage.DEVELOPMENT).exists()
        assert not moved.filter(comment="").exists()
        for v in ModelVersion.objects.exclude(stage=Stage.DEVELOPMENT):
            assert v.transitions.order_by("-created_at", "-id").first().to_stage == v.stage

    def test_it_gives_versions_valid_for_their_scheme_in_order(self, demo: str) -> None:
        for model in RegisteredModel.objects.all():
            scheme = model.versioning_scheme
            versions = list(model.versions.order_by("sequence"))
            for v in versions:
                assert versioning.validate(scheme, v.version) == v.version
                assert v.sort_key == versioning.sort_key(scheme, v.version, v.sequence)
            strings = [v.version for v in versions]
            if scheme == versioning.Scheme.SEMANTIC:
                assert any("-rc." in s for s in strings)
            elif scheme == versioning.Scheme.GIT:
                assert all(re.fullmatch(r"[0-9a-f]{12}", s) for s in strings)
            elif scheme == versioning.Scheme.TIMESTAMP:
                assert strings == sorted(strings)
            else:
                assert all(re.fullmatch(r"v\d+\.\d+\.\d+-\d{8}-[0-9a-f]{12}", s) for s in strings)
        # A backported hotfix: registered after a newer minor, sorted before it.
        semantic = RegisteredModel.objects.get(name="card-fraud-xgb")
        by_key = list(semantic.versions.order_by("sort_key").values_list("sequence", flat=True))
        assert by_key != sorted(by_key)

    def test_it_spreads_the_history_over_the_past_eighteen_months(self, demo: str) -> None:
        created = list(ModelVersion.objects.values_list("created_at", flat=True))
        newest, oldest = max(created), min(created)
        assert newest.date().isoformat() < ANCHOR
        assert (newest - oldest).days > 365
        transitions = StageTransition.objects.values_list("created_at", flat=True)
        assert max(transitions).date().isoformat() <= ANCHOR

    def test_it_changes_nothing_when_run_twice(self, demo: str) -> None:
        User.objects.filter(username="viewer").update(password="changed-by-someone")
        before = row_counts()
        output = seed_demo()
        assert row_counts() == before
        assert User.objects.get(username="viewer").password == "changed-by-someone"
        assert "nothing to do" in output


def test_it_completes_a_database_where_part_of_the_demo_exists(settings: Any) -> None:
    settings.DEMO_MODE = True
    team = Team.objects.create(name="Fraud", slug="fraud")
    user = User.objects.create_user("reviewer", "r@example.com", "own-password")
    Membership.objects.create(user=user, team=team, role=Membership.Role.MAINTAINER)
    seed_demo()
    user.refresh_from_db()
    assert user.check_password("own-password")
    assert user.memberships.get(team=team).role == Membership.Role.MAINTAINER
    assert user.memberships.count() == 3
    assert RegisteredModel.objects.filter(team=team).count() >= 3


def test_it_refuses_to_seed_the_demo_without_demo_mode(settings: Any) -> None:
    settings.DEMO_MODE = False
    with pytest.raises(CommandError, match="DEMO_MODE"):
        seed_demo()
    assert not User.objects.exists()
    assert not RegisteredModel.objects.exists()


# -- seed_scale -----------------------------------------------------------------------------

SMALL = ("--models", "3", "--versions", "5", "--wide", "1")


def scale_models() -> list[RegisteredModel]:
    return list(RegisteredModel.objects.filter(team__slug__startswith="scale-").order_by("name"))


def test_it_bulk_creates_scale_models_with_consistent_counters() -> None:
    output = seed_scale(*SMALL)
    models = scale_models()
    assert [m.name for m in models] == ["scale-0001", "scale-0002", "scale-0003", "scale-wide"]
    assert {m.team.slug for m in models} == {"scale-a", "scale-b", "scale-c"}
    assert {m.versioning_scheme for m in models[:3]} == {"semantic", "git", "timestamp"}
    assert User.objects.get(username="scale-bot").memberships.count() == 3
    for m in models:
        sequences = list(m.versions.order_by("sequence").values_list("sequence", flat=True))
        expected = 1 if m.name == "scale-wide" else 5
        assert sequences == list(range(1, expected + 1))
        assert m.last_sequence == m.version_count == expected
        assert m.latest_version == m.versions.get(sequence=expected)
        assert m.tags.filter(key="owner", value=m.team.slug).exists()
    assert ModelVersion.objects.count() == 16
    assert Metric.objects.count() == 3 * 5 * 5 + 200
    assert VersionTag.objects.count() >= 16
    assert "16 versions" in output and "275 metrics" in output


def test_it_puts_exactly_one_scale_version_in_production() -> None:
    seed_scale(*SMALL)
    for model in scale_models():
        assert model.versions.filter(stage=Stage.PRODUCTION).count() == 1
    assert set(ModelVersion.objects.values_list("stage", flat=True)) == set(Stage.values)
    for v in ModelVersion.objects.exclude(stage=Stage.DEVELOPMENT):
        assert list(v.transitions.values_list("to_stage", flat=True)) == [v.stage]
        assert v.stage_changed_at is not None
    assert not StageTransition.objects.filter(version__stage=Stage.DEVELOPMENT).exists()


def test_it_orders_scale_versions_by_sort_key_like_their_scheme() -> None:
    seed_scale("--models", "8", "--versions", "30", "--wide", "0")
    models = scale_models()
    assert {m.versioning_scheme for m in models} == {s.value for s in versioning.Scheme}
    for model in models:
        versions = list(model.versions.order_by("sort_key"))
        assert [v.sequence for v in versions] == list(range(1, 31))
        for v in versions:
            assert versioning.validate(model.versioning_scheme, v.version) == v.version
            assert v.sort_key == versioning.sort_key(model.versioning_scheme, v.version, v.sequence)
        assert model.latest_version == versions[-1]
    created = list(ModelVersion.objects.order_by("model", "sequence").values_list("created_at"))
    assert len(set(created)) > 1  # real spread, not one bulk-insert timestamp


def test_it_gives_every_scale_metric_its_version_model() -> None:
    seed_scale(*SMALL, "--metrics", "7")
    assert Metric.objects.filter(model__name="scale-0001").count() == 5 * 7
    mismatched = [
        m for m in Metric.objects.select_related("version") if m.model_id != m.version.model_id
    ]
    assert mismatched == []
    assert Metric.objects.filter(direction="lower").exists()


def test_it_makes_the_wide_scale_version_wide() -> None:
    seed_scale(*SMALL)
    wide = ModelVersion.objects.get(model__name="scale-wide")
    assert wide.metrics.count() == 200
    assert set(wide.metrics.values_list("split", flat=True)) == {
        "train", "validation", "test", "business"
    }  # fmt: skip
    assert len(wide.params) == 200
    assert len(wide.environment["packages"]) == 200


def test_it_refuses_a_second_scale_run_without_reset() -> None:
    seed_scale(*SMALL)
    before = row_counts()
    with pytest.raises(CommandError, match="--reset"):
        seed_scale(*SMALL)
    assert row_counts() == before


def test_it_replaces_scale_data_with_reset(make_model: Any, make_version: Any) -> None:
    other = make_model("kept")
    make_version(other, "1.0.0", metrics={"test": {"auc": 0.9}})
    seed_scale(*SMALL)
    before = row_counts()
    old_ids = set(ModelVersion.objects.filter(model__name="scale-0001").values_list("pk"))
    seed_scale(*SMALL, "--reset")
    assert row_counts() == before
    assert not old_ids & set(
        ModelVersion.objects.filter(model__name="scale-0001").values_list("pk")
    )
    assert other.versions.get().metrics.count() == 1


def test_it_leaves_nothing_behind_when_a_scale_run_fails(monkeypatch: Any) -> None:
    from registry.management.commands import seed_scale as command

    def fail(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(command.Command, "create_wide", fail)
    with pytest.raises(RuntimeError):
        seed_scale(*SMALL)
    assert not RegisteredModel.objects.exists()
    assert not ModelVersion.objects.exists()
    # The timestamp fields were handed back to Django's auto_now handling.
    assert ModelVersion._meta.get_field("created_at").auto_now_add
    assert RegisteredModel._meta.get_field("updated_at").auto_now
