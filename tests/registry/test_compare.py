"""registry.compare: the diff logic, on plain data and on loaded versions."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from registry import compare
from registry.compare import (
    CompareError,
    VersionsNotFound,
    advise_bump,
    artifact_changes,
    compare_versions,
    load_versions,
    metric_deltas,
    metric_verdict,
    package_changes,
    param_changes,
    signature_changes,
    suggest_version,
    version_change,
)


def metric(split: str, name: str, value: float, direction: str = "higher") -> SimpleNamespace:
    return SimpleNamespace(split=split, name=name, value=value, direction=direction)


def env(*packages: str, python: str | None = None) -> dict:
    result: dict = {
        "packages": [
            {"name": p.split("==")[0], "requirement": p, "version": p.split("==")[1]}
            if "==" in p
            else {"name": p.split(">")[0], "requirement": p}
            for p in packages
        ]
    }
    if python:
        result["python"] = python
    return result


def sig(inputs: list[dict], outputs: list[dict] | None = None) -> dict:
    return {"inputs": inputs, "outputs": outputs or [{"type": "double"}]}


# --- metric direction ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "direction", "verdict"),
    [
        (0.90, 0.93, "higher", "better"),
        (0.93, 0.90, "higher", "worse"),
        (0.40, 0.35, "lower", "better"),  # a loss going down is an improvement
        (0.35, 0.40, "lower", "worse"),
        (0.5, 0.5, "lower", "same"),
    ],
)
def test_it_judges_metrics_by_their_direction_not_up_or_down(old, new, direction, verdict):
    assert metric_verdict(old, new, direction) == verdict


def test_it_lists_metric_deltas_by_split_with_added_and_removed():
    deltas = metric_deltas(
        [
            metric("test", "auc", 0.9),
            metric("train", "logloss", 0.3, "lower"),
            metric("test", "f1", 0.5),
        ],
        [
            metric("test", "auc", 0.92),
            metric("train", "logloss", 0.35, "lower"),
            metric("validation", "auc", 0.9),
        ],
    )
    by_key = {(d.split, d.name): d for d in deltas}
    assert [(d.split, d.name) for d in deltas] == [
        ("train", "logloss"),
        ("validation", "auc"),
        ("test", "auc"),
        ("test", "f1"),
    ]  # splits in their natural order, not alphabetical
    assert by_key["test", "auc"].change == "better"
    assert by_key["test", "auc"].delta == pytest.approx(0.02)
    assert by_key["test", "auc"].relative == pytest.approx(0.02 / 0.9)
    assert by_key["train", "logloss"].change == "worse"
    assert by_key["validation", "auc"].change == "added"
    assert by_key["test", "f1"].change == "removed"
    assert by_key["test", "f1"].delta is None


# --- packages -----------------------------------------------------------------------------


def test_it_classifies_package_upgrades_downgrades_additions_and_removals():
    changes = package_changes(
        env("numpy==1.26.4", "pandas==2.2.0", "scipy==1.11.0", "torch==2.1.0"),
        env("numpy==2.0.0", "pandas==2.1.4", "torch==2.1.0", "xgboost==2.0.3"),
    )
    assert {p.name: p.change for p in changes.packages} == {
        "numpy": "upgraded",
        "pandas": "downgraded",
        "scipy": "removed",
        "xgboost": "added",
    }  # torch is unchanged: not listed
    assert changes.counts == {"upgraded": 1, "downgraded": 1, "removed": 1, "added": 1}


@pytest.mark.parametrize(
    ("old", "new", "change"),
    [
        ("2.0.0rc1", "2.0.0", "upgraded"),  # a pre-release comes before its release
        ("2.0.0", "2.0.0rc1", "downgraded"),
        ("2.0.0a1", "2.0.0b1", "upgraded"),
        ("1.10.0", "1.9.0", "downgraded"),  # numeric, not string, order
        ("1.0", "1.0.0", "same"),
        ("1.0.post1", "1.0", "downgraded"),
        ("not-a-version", "1.0", "changed"),
    ],
)
def test_it_orders_versions_by_pep_440(old, new, change):
    assert version_change(old, new) == change


def test_it_reports_python_and_framework_changes():
    changes = package_changes(
        env(python="3.11.9"),
        env(python="3.12.4"),
        old_framework=("xgboost", "2.0.3"),
        new_framework=("xgboost", "1.7.6"),
    )
    assert changes.python == ("3.11.9", "3.12.4", "upgraded")
    assert changes.framework == ("xgboost 2.0.3", "xgboost 1.7.6", "downgraded")
    other = package_changes(
        {}, {}, old_framework=("xgboost", "2.0"), new_framework=("lightgbm", "4.0")
    )
    assert other.framework == ("xgboost 2.0", "lightgbm 4.0", "changed")
    assert not package_changes(env("numpy==1.0"), env("numpy==1.0"))


def test_it_compares_unpinned_requirements_as_text():
    changes = package_changes(env("numpy>=1.20"), env("numpy>=1.26"))
    assert [(p.name, p.old, p.new, p.change) for p in changes.packages] == [
        ("numpy", "numpy>=1.20", "numpy>=1.26", "changed")
    ]


# --- signature ----------------------------------------------------------------------------

AGE = {"name": "age", "type": "long"}


def test_it_finds_no_change_in_an_identical_signature():
    same = sig([{"name": "age", "type": "long"}])
    assert not signature_changes(same, same)
    assert advise_bump(signature_changes(same, same)).bump == "patch"


@pytest.mark.parametrize(
    ("new_inputs", "breaking"),
    [
        ([{"name": "age", "type": "double"}], True),  # type changed
        ([], True),  # input removed
        ([{"name": "age", "type": "long"}, {"name": "city", "type": "string"}], True),  # required
        ([AGE, {"name": "city", "type": "string", "optional": True}], False),
        ([AGE, {"name": "city", "type": "string", "required": False}], False),
        ([{"name": "age", "type": "long", "shape": [-1, 2]}], True),  # shape changed
        ([{"name": "age", "type": "long", "optional": True}], False),  # relaxed
    ],
)
def test_it_tells_breaking_from_compatible_input_changes(new_inputs, breaking):
    changes = signature_changes(sig([{"name": "age", "type": "long"}]), sig(new_inputs))
    assert changes
    assert bool(changes.breaking) is breaking
    assert advise_bump(changes).bump == ("major" if breaking else "minor")


def test_it_treats_an_added_output_as_compatible_and_a_removed_one_as_breaking():
    base = sig([{"name": "x", "type": "long"}], [{"name": "score", "type": "double"}])
    more = sig(
        [{"name": "x", "type": "long"}],
        [{"name": "score", "type": "double"}, {"name": "label", "type": "string"}],
    )
    added = signature_changes(base, more)
    assert [(c.where, c.change, c.breaking) for c in added.changes] == [
        ("outputs.label", "added", False)
    ]
    removed = signature_changes(more, base)
    assert [(c.where, c.breaking) for c in removed.changes] == [("outputs.label", True)]
    advice = advise_bump(removed)
    assert advice.bump == "major"
    assert "outputs.label" in advice.reason


def test_it_keys_unnamed_columns_by_position():
    changes = signature_changes(sig([{"type": "long"}]), sig([{"type": "double"}]))
    assert [(c.where, c.detail) for c in changes.changes] == [("inputs[0]", "long → double")]


def test_it_handles_a_signature_recorded_or_dropped():
    assert advise_bump(signature_changes({}, sig([{"type": "long"}]))).bump == "minor"
    assert advise_bump(signature_changes(sig([{"type": "long"}]), {})).bump == "major"
    assert not signature_changes({}, {})


def test_it_suggests_the_next_semantic_version_with_the_reason():
    old = sig([{"name": "age", "type": "long"}])
    assert suggest_version(None, {}, old) == (
        "1.0.0",
        compare.BumpAdvice("major", "first version of the model"),
    )
    assert suggest_version("1.4.2", old, old)[0] == "1.4.3"
    minor = sig(
        [{"name": "age", "type": "long"}], [{"type": "double"}, {"name": "p", "type": "double"}]
    )
    assert suggest_version("1.4.2", old, minor)[0] == "1.5.0"
    version, advice = suggest_version("1.4.2", old, sig([{"name": "age", "type": "string"}]))
    assert (version, advice.bump) == ("2.0.0", "major")
    assert "inputs.age long → string" in advice.reason
    assert suggest_version("2.0.0-rc.1", old, old)[0] == "2.0.0"  # releases the pre-release


# --- hyperparameters and artifacts ---------------------------------------------------------


def test_it_compares_hyperparameters_as_json():
    changes = param_changes(
        {"lr": 0.1, "depth": 6, "seed": 1}, {"lr": 0.1, "depth": "6", "es": True}
    )
    assert [(c.key, c.change) for c in changes] == [
        ("depth", "changed"),  # 6 and "6" differ
        ("es", "added"),
        ("seed", "removed"),
    ]


def test_it_compares_files_by_sha256():
    def file(path, sha, size):
        return SimpleNamespace(path=path, blob_id=sha, size=size)

    changes = artifact_changes(
        [
            file("model.bin", "a" * 64, 10),
            file("vocab.txt", "b" * 64, 5),
            file("old.txt", "c" * 64, 1),
        ],
        [
            file("model.bin", "d" * 64, 12),
            file("vocab.txt", "b" * 64, 5),
            file("new.txt", "e" * 64, 2),
        ],
    )
    assert [(c.path, c.change, c.size_delta) for c in changes] == [
        ("model.bin", "changed", 2),
        ("new.txt", "added", None),
        ("old.txt", "removed", None),
    ]


# --- loading and the N-way comparison -------------------------------------------------------


@pytest.fixture
def three(make_model, make_version):
    model = make_model("churn")
    base_sig = {"inputs": [{"name": "age", "type": "long"}], "outputs": [{"type": "double"}]}
    v1 = make_version(
        model,
        "1.0.0",
        metrics={"test": {"auc": 0.90, "logloss": 0.40}},
        params={"lr": 0.1},
        signature=base_sig,
        environment={"python": "3.11.9", "packages": ["numpy==1.26.4", "scipy==1.11.0"]},
        tags={"dataset": "events-2024-01", "owner": "fraud"},
        files={"model.bin": b"one"},
    )
    v2 = make_version(
        model,
        "1.1.0",
        metrics={"test": {"auc": 0.92, "logloss": 0.45}},
        params={"lr": 0.05},
        signature={
            **base_sig,
            "outputs": [{"type": "double"}, {"name": "label", "type": "string"}],
        },
        environment={"python": "3.12.4", "packages": ["numpy==2.0.0"]},
        tags={"dataset": "events-2024-02", "owner": "fraud"},
        files={"model.bin": b"two", "vocab.txt": b"v"},
    )
    v3 = make_version(
        model,
        "2.0.0",
        metrics={"test": {"auc": 0.91}},
        params={"lr": 0.05},
        signature={"inputs": [{"name": "age", "type": "string"}], "outputs": [{"type": "double"}]},
        environment={"python": "3.12.4", "packages": ["numpy==2.0.0"]},
        files={"model.bin": b"two"},
    )
    return v1, v2, v3


def test_it_loads_any_number_of_versions_in_constant_queries(
    three, viewer, django_assert_num_queries
):
    ids = [v.pk for v in reversed(three)]
    # memberships, versions (+ model, team, author), metrics, artifacts, tags,
    # lineage references
    with django_assert_num_queries(6):
        versions = load_versions(viewer, ids)
        comparison = compare_versions(versions, versions[0])
        for section in comparison.sections:
            list(section.rows)
    assert [v.version for v in versions] == ["1.0.0", "1.1.0", "2.0.0"]  # version order


def test_it_compares_each_section_against_the_baseline(three, viewer):
    versions = load_versions(viewer, [v.pk for v in three])
    comparison = compare_versions(versions, versions[0])
    metrics = {row.key: row for row in comparison.section("metrics").rows}
    auc = metrics["test.auc"].cells
    assert [c.change for c in auc] == ["", "better", "better"]
    assert auc[1].delta_text == "+0.02"
    logloss = metrics["test.logloss"].cells  # lower is better: up is worse
    assert [c.change for c in logloss] == ["", "worse", "removed"]

    packages = {r.key: r for r in comparison.section("environment").rows if r.group == "Packages"}
    assert [c.change for c in packages["numpy"].cells] == ["", "upgraded", "upgraded"]
    assert [c.change for c in packages["scipy"].cells] == ["", "removed", "removed"]
    python = next(r for r in comparison.section("environment").rows if r.key == "python")
    assert python.cells[1].change == "upgraded"

    assert [b and b.bump for b in comparison.bumps] == [None, "minor", "major"]
    signature_notes = comparison.section("signature").notes
    assert any(n.startswith("2.0.0: breaking") for n in signature_notes)

    files = {row.key: row for row in comparison.section("artifacts").rows}
    assert [c.change for c in files["model.bin"].cells] == ["", "changed", "changed"]
    assert [c.change for c in files["vocab.txt"].cells] == ["", "added", ""]
    lineage = {row.key: row for row in comparison.section("lineage").rows}
    assert [c.text for c in lineage["Datasets"].cells] == ["events-2024-01", "events-2024-02", ""]


def test_it_compares_against_another_baseline(three, viewer):
    versions = load_versions(viewer, [v.pk for v in three])
    comparison = compare_versions(versions, versions[2])
    auc = next(r for r in comparison.section("metrics").rows if r.key == "test.auc")
    assert [c.change for c in auc.cells] == ["worse", "better", ""]
    assert comparison.baseline_index == 2


@pytest.mark.parametrize("count", [0, 1, 7])
def test_it_refuses_too_few_or_too_many_versions(count, viewer):
    with pytest.raises(CompareError, match="pick 2 to 6 versions"):
        load_versions(viewer, list(range(1, count + 1)))


def test_it_hides_versions_the_user_cannot_read(three, outsider):
    with pytest.raises(VersionsNotFound) as info:
        load_versions(outsider, [three[0].pk, three[1].pk])
    assert info.value.ids == [three[0].pk, three[1].pk]


def test_it_refuses_versions_of_two_teams(three, make_version, site_admin, other_team):
    from registry import services

    other = services.create_model(team=other_team, name="ranker", actor=site_admin)
    theirs = make_version(other, "1.0.0", actor=site_admin)
    with pytest.raises(CompareError, match="different teams"):
        load_versions(site_admin, [three[0].pk, theirs.pk])


def test_it_compares_two_models_of_one_team_labelled_by_model(
    three, make_model, make_version, viewer
):
    ranker = make_version(make_model("ranker"), "0.1.0", metrics={"test": {"auc": 0.7}})
    versions = load_versions(viewer, [three[0].pk, ranker.pk])
    comparison = compare_versions(versions, versions[0])
    assert comparison.cross_model
    summary = comparison.section("summary").rows
    assert summary[0].label == "Model"
    assert [c.text for c in summary[0].cells] == ["churn", "ranker"]
