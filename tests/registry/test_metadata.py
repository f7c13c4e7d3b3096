"""clean_version_metadata: the rules for each metadata group, and errors that name the field
and the rule. How the cleaned metadata is stored is covered in test_register_version.py."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from registry.metadata import (
    MetricValue,
    clean_tags,
    clean_version_metadata,
    infer_direction,
    parse_requirements_text,
)


def errors_of(data: dict[str, Any]) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as excinfo:
        clean_version_metadata(data)
    return excinfo.value.message_dict


def test_it_returns_empty_metadata_for_no_input() -> None:
    meta = clean_version_metadata({})

    assert meta.metrics == []
    assert meta.params == meta.signature == meta.environment == meta.tags == {}
    assert meta.code_dirty is None
    assert meta.training_started_at is None


def test_it_strips_the_text_fields() -> None:
    meta = clean_version_metadata({"description": "  hi  ", "code_branch": " main\n"})

    assert (meta.description, meta.code_branch) == ("hi", "main")


@pytest.mark.parametrize("field", ["description", "framework", "code_commit", "code_branch"])
def test_it_rejects_a_text_field_that_is_not_a_string(field: str) -> None:
    assert errors_of({field: 12}) == {field: ["must be a string"]}


@pytest.mark.parametrize("field", ["framework", "framework_version", "code_branch", "source"])
def test_it_rejects_control_characters_in_one_line_text(field: str) -> None:
    assert errors_of({field: "x\ty"}) == {
        field: ["must not contain control characters (tabs, newlines, …)"]
    }


def test_a_description_may_have_several_lines() -> None:
    assert clean_version_metadata({"description": "a\n\nb"}).description == "a\n\nb"


# --- metrics -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "direction"),
    [
        ("loss", "lower"),
        ("val_loss", "lower"),
        ("Log_Loss", "lower"),
        ("error_rate", "lower"),
        ("mae", "lower"),
        ("MSE", "lower"),
        ("rmse", "lower"),
        ("mape", "lower"),
        ("latency_p99_ms", "lower"),
        ("perplexity", "lower"),
        ("auc", "higher"),
        ("accuracy", "higher"),
        ("f1", "higher"),
        ("recall_at_10", "higher"),
        ("ndcg", "higher"),
    ],
)
def test_it_infers_the_direction_from_the_metric_name(name: str, direction: str) -> None:
    assert infer_direction(name) == direction
    meta = clean_version_metadata({"metrics": {"test": {name: 1}}})
    assert meta.metrics == [MetricValue("test", name, 1.0, direction)]


def test_it_lets_an_explicit_direction_override_the_inferred_one() -> None:
    meta = clean_version_metadata(
        {"metrics": {"validation": {"loss_reduction": {"value": 0.3, "direction": "higher"}}}}
    )

    assert meta.metrics == [MetricValue("validation", "loss_reduction", 0.3, "higher")]


def test_it_accepts_numeric_strings_and_integers_as_metric_values() -> None:
    meta = clean_version_metadata({"metrics": {"train": {"a": "0.25", "b": 3, "c": "-1e3"}}})

    assert [(m.name, m.value) for m in meta.metrics] == [("a", 0.25), ("b", 3.0), ("c", -1000.0)]
    assert all(isinstance(m.value, float) for m in meta.metrics)


def test_it_accepts_every_split() -> None:
    meta = clean_version_metadata(
        {"metrics": {s: {"auc": 0.5} for s in ("train", "validation", "test", "business")}}
    )

    assert [m.split for m in meta.metrics] == ["train", "validation", "test", "business"]


def test_it_names_the_metric_and_the_rule_for_each_bad_value() -> None:
    errors = errors_of(
        {"metrics": {"test": {"auc": "high", "f1": math.nan, "ok": 1, "flag": False}}}
    )

    assert errors == {
        "metrics": [
            "metrics.test.auc: must be a finite number, got 'high'",
            "metrics.test.f1: must be a finite number, got nan",
            "metrics.test.flag: must be a finite number, got False",
        ]
    }


def test_it_names_the_allowed_splits_for_an_unknown_split() -> None:
    assert errors_of({"metrics": {"holdout": {"auc": 0.9}}}) == {
        "metrics": ["unknown split 'holdout': use one of train, validation, test, business"]
    }


@pytest.mark.parametrize(
    ("metrics", "message"),
    [
        ([1, 2], 'must be an object of splits, e.g. {"test": {"auc": 0.93}}'),
        ({"test": [0.9]}, "metrics.test must be an object of metric names to numbers"),
        ({"test": {"": 1}}, "metrics.test.: names are 1–100 characters"),
        ({"test": {"m" * 101: 1}}, f"metrics.test.{'m' * 101}: names are 1–100 characters"),
        ({"test": {" ": 1}}, "metrics.test. : names are 1–100 characters"),
        ({"test": {"\x07bell": 1}}, "'metrics.test.\\x07bell': names have no control characters"),
    ],
    ids=["not-an-object", "split-not-an-object", "empty-name", "long-name", "blank", "control"],
)
def test_it_rejects_badly_shaped_metrics(metrics: Any, message: str) -> None:
    assert errors_of({"metrics": metrics}) == {"metrics": [message]}


# --- params, signature, code, task -------------------------------------------------------


def test_it_keeps_params_as_given() -> None:
    params = {"depth": 6, "lr": 0.1, "layers": [64, 32], "opt": {"name": "adam", "beta": 0.9}}

    assert clean_version_metadata({"params": params}).params == params


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (["lr", 0.1], "must be a JSON object of names to values"),
        ({"lr": math.inf}, "values must be finite numbers (NaN/Infinity given for: lr)"),
        ({"opt": {"beta": [0.9, math.nan]}}, "values must be finite numbers"),
    ],
    ids=["not-an-object", "inf", "nested-nan"],
)
def test_it_rejects_bad_params(params: Any, message: str) -> None:
    [error] = errors_of({"params": params})["params"]
    assert error.startswith(message)


def test_it_accepts_a_signature_of_typed_columns() -> None:
    signature = {
        "inputs": [{"name": "x", "type": "double", "shape": [-1, 3]}],
        "outputs": [{"type": "long"}],
        "params": {"k": 5},
    }

    assert clean_version_metadata({"signature": signature}).signature == signature


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        ("x:double", 'must be an object with "inputs" and "outputs" lists'),
        ({"inputs": [], "extra": []}, 'must be an object with "inputs" and "outputs" lists'),
        ({"inputs": {"x": "double"}}, "signature.inputs must be a list of columns"),
        ({"outputs": [{"name": "y"}]}, 'signature.outputs[0] must be an object with a "type"'),
        ({"inputs": [{"name": 1, "type": "long"}]}, "signature.inputs[0] must be an object"),
    ],
    ids=["string", "unknown-key", "inputs-not-list", "column-without-type", "name-not-string"],
)
def test_it_rejects_a_badly_shaped_signature(signature: Any, message: str) -> None:
    [error] = errors_of({"signature": signature})["signature"]
    assert error.startswith(message)


def test_it_rejects_an_unknown_task_type_naming_the_choices() -> None:
    [error] = errors_of({"task_type": "vibes"})["task_type"]
    assert error.startswith("must be one of: classification, regression")


@pytest.mark.parametrize(("given", "stored"), [(True, True), (False, False), (None, None)])
def test_it_takes_code_dirty_as_a_boolean(given: bool | None, stored: bool | None) -> None:
    assert clean_version_metadata({"code_dirty": given}).code_dirty is stored


def test_it_rejects_a_code_dirty_that_is_not_a_boolean() -> None:
    assert errors_of({"code_dirty": "yes"}) == {"code_dirty": ["must be true or false"]}


# --- environment -------------------------------------------------------------------------


def test_it_normalises_the_python_version_with_packaging() -> None:
    meta = clean_version_metadata({"environment": {"python": " 3.12.01 "}})

    assert meta.environment == {"python": "3.12.1"}


def test_it_parses_canonicalises_and_sorts_packages() -> None:
    env = clean_version_metadata(
        {
            "environment": {
                "packages": [
                    "Torch==2.1.0",
                    "  # pinned by hand",
                    "requests[socks]>=2.31; python_version >= '3.8'",
                    "",
                    "Scikit_Learn==1.5.1",
                ]
            }
        }
    ).environment

    assert env["packages"] == [
        {
            "name": "requests",
            "requirement": 'requests[socks]>=2.31; python_version >= "3.8"',
        },
        {"name": "scikit-learn", "requirement": "Scikit_Learn==1.5.1", "version": "1.5.1"},
        {"name": "torch", "requirement": "Torch==2.1.0", "version": "2.1.0"},
    ]


def test_it_keeps_the_last_requirement_when_a_package_is_listed_twice() -> None:
    env = clean_version_metadata(
        {"environment": {"packages": ["numpy==1.26.0", "NumPy==1.26.4"]}}
    ).environment

    assert env["packages"] == [
        {"name": "numpy", "requirement": "NumPy==1.26.4", "version": "1.26.4"}
    ]


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"packages": ["numpy=>1"]}, "environment.packages: 'numpy=>1' is not a valid requirement"),
        ({"packages": "numpy==1"}, "environment.packages must be a list of requirements"),
        ({"packages": ["numpy", 1]}, "environment.packages must be a list of requirements"),
        ({"python": "three"}, "environment.python: 'three' is not a Python version"),
        ({"cuda": "12.1"}, "unknown keys: cuda (use python, os, hardware, packages)"),
        ("python 3.12", "must be an object with python, os, hardware and packages"),
    ],
    ids=["bad-operator", "packages-string", "packages-mixed", "python", "unknown-key", "string"],
)
def test_it_rejects_a_bad_environment(environment: Any, message: str) -> None:
    [error] = errors_of({"environment": environment})["environment"]
    assert error.startswith(message)


def test_it_reads_requirement_lines_from_pip_freeze_text() -> None:
    text = "# generated\nnumpy==1.26.4  # pinned\n-e git+https://x/y.git#egg=y\n\npandas>=2\n"

    assert parse_requirements_text(text) == ["numpy==1.26.4", "pandas>=2"]


# --- training times ----------------------------------------------------------------------


def test_it_parses_training_times_and_treats_naive_ones_as_utc() -> None:
    meta = clean_version_metadata(
        {
            "training_started_at": "2025-01-31T14:30:00",
            "training_ended_at": dt.datetime(
                2025, 1, 31, 17, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))
            ),
        }
    )

    assert meta.training_started_at == dt.datetime(2025, 1, 31, 14, 30, tzinfo=dt.UTC)
    assert meta.training_ended_at - meta.training_started_at == dt.timedelta(minutes=30)


def test_it_accepts_a_training_run_that_ends_when_it_starts() -> None:
    meta = clean_version_metadata(
        {"training_started_at": "2025-01-31T14:30:00Z", "training_ended_at": "2025-01-31T14:30Z"}
    )

    assert meta.training_started_at == meta.training_ended_at


@pytest.mark.parametrize(
    "value", ["yesterday", "31/01/2025 14:30", "2025-13-01T00:00:00", 1738333800]
)
def test_it_rejects_a_training_time_that_is_not_an_iso_datetime(value: Any) -> None:
    assert errors_of({"training_started_at": value}) == {
        "training_started_at": ["must be an ISO 8601 date-time, e.g. 2025-01-31T14:30:00Z"]
    }


def test_it_rejects_training_that_ends_before_it_starts() -> None:
    assert errors_of(
        {
            "training_started_at": "2025-01-31T14:30:00+00:00",
            "training_ended_at": "2025-01-31T15:29:00+01:00",
        }
    ) == {"training_ended_at": ["training must not end before it started"]}


# --- tags --------------------------------------------------------------------------------


def test_it_takes_tags_as_keys_to_text_values() -> None:
    tags = clean_tags({"owner": "fraud", "candidate": None, "k8s.io/zone:eu-1": 3, "A" * 63: ""})

    assert tags == {"owner": "fraud", "candidate": "", "k8s.io/zone:eu-1": "3", "A" * 63: ""}


@pytest.mark.parametrize("key", ["", "-x", ".x", "has space", "k" * 64, "ünïcode", "a=b"])
def test_it_rejects_an_invalid_tag_key(key: str) -> None:
    [error] = errors_of({"tags": {key: "v"}})["tags"]
    assert error == f"tag key {key!r}: Tag keys start with a letter or digit and use only " + (
        "letters, digits and . _ : / -"
    )


def test_it_rejects_a_tag_key_with_a_trailing_newline() -> None:
    assert "tags" in errors_of({"tags": {"owner\n": "x"}})


def test_it_rejects_a_tag_value_over_255_characters() -> None:
    assert errors_of({"tags": {"owner": "x" * 256}}) == {
        "tags": ["tag 'owner': values are at most 255 characters"]
    }


def test_it_rejects_tags_that_are_not_an_object() -> None:
    with pytest.raises(ValidationError) as excinfo:
        clean_tags(["owner"])

    assert excinfo.value.message_dict == {
        "tags": ['must be an object of keys to values, e.g. {"owner": "fraud"}']
    }


# --- size limit and reporting ------------------------------------------------------------


@pytest.mark.parametrize("field", ["params", "signature", "environment", "metrics", "tags"])
def test_it_rejects_each_json_group_over_the_size_limit(settings: Any, field: str) -> None:
    settings.MODELGATE_MAX_METADATA_BYTES = 1000

    errors = errors_of({field: {"k": "x" * 992}})

    assert errors == {
        field: [
            "is 1,001 bytes of JSON, over the limit of 1,000 bytes (MODELGATE_MAX_METADATA_BYTES)"
        ]
    }


def test_it_measures_the_size_limit_in_bytes_not_characters(settings: Any) -> None:
    settings.MODELGATE_MAX_METADATA_BYTES = 1000

    # 330 × "é" is 330 characters but (JSON-escaped as \u00e9) 1,980 bytes.
    assert "params" in errors_of({"params": {"k": "é" * 330}})


def test_it_reports_every_bad_field_at_once() -> None:
    errors = errors_of(
        {
            "task_type": "vibes",
            "code_dirty": "no",
            "metrics": {"holdout": {"a": 1}},
            "tags": {" bad": "x"},
            "environment": {"python": "x"},
        }
    )

    assert set(errors) == {"task_type", "code_dirty", "metrics", "tags", "environment"}
