"""A bounded schemathesis run over /api/v1/openapi.json: no operation answers 5xx.

The schema is loaded from the Django app in-process (WSGI), requests carry a read+write
token of a maintainer of team "fraud", and path parameters are sometimes swapped for real
objects (fraud/churn 1.0.0, an open upload) so the fuzzing reaches past the 404s.
Derandomized and capped per operation so CI is reproducible and quick.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import schemathesis  # a plain import: CI must fail, not skip, without schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts import tokens
from config.wsgi import application
from registry import uploads
from registry.models import Stage

SCHEMA_PATH = "/api/v1/openapi.json"
MAX_EXAMPLES = 30

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@contextmanager
def _keep_test_connection() -> Iterator[None]:
    """Django closes "old" connections at each request's start and end; inside the test's
    transaction that would break it, so do what django.test.Client does: skip that."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


# Loaded once, at import, from the app itself (no database needed for the schema).
with _keep_test_connection():
    schema = schemathesis.openapi.from_wsgi(SCHEMA_PATH, application)
# Our token (sent by the test), not generated ones: those only ever reach the 401 path.
schema.config.generation.update(with_security_parameters=False)

# Filled per test by the auth_headers fixture: path parameters naming existing objects.
REAL: dict[str, str] = {}


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> Any:
    """Half the time, the real objects for whichever path parameters the operation has."""
    known = {key: REAL[key] for key in path_parameters or {} if key in REAL}
    if not known:
        return st.just(path_parameters)
    return st.sampled_from([path_parameters, {**path_parameters, **known}])


@schema.hook
def flatmap_body(context: Any, body: Any) -> Any:
    """Sometimes a JSON body names our team, a valid model name or version and a real stage,
    so creates and stage changes get past validation too (random strings rarely do)."""
    if not isinstance(body, dict) or not PLAUSIBLE.keys() & body.keys():
        return st.just(body)
    return st.one_of(st.just(body), _plausible(body))


@schema.hook
def flatmap_query(context: Any, query: dict[str, Any] | None) -> Any:
    """Sometimes a real stage (list, resolve) or offset 0 (PUT /uploads/{id})."""
    if not query or not PLAUSIBLE.keys() & query.keys():
        return st.just(query)
    return st.one_of(st.just(query), _plausible(query))


PLAUSIBLE: dict[str, st.SearchStrategy[str]] = {
    "team": st.just("fraud"),
    "stage": st.sampled_from(Stage.values),
    "offset": st.just("0"),
    "name": st.from_regex(r"\Am[a-z0-9]{0,8}\Z"),  # POST /models
    "version": st.integers(2, 99).map(lambda major: f"{major}.0.0"),  # POST …/versions
}


def _plausible(values: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    swaps = {key: PLAUSIBLE[key] for key in values if key in PLAUSIBLE}
    return st.fixed_dictionaries(swaps).map(lambda swapped: {**values, **swapped})


@pytest.fixture
def auth_headers(maintainer: Any, make_model: Any, make_version: Any) -> Iterator[dict[str, str]]:
    """fraud/churn 1.0.0 (with model.bin) and an open upload exist; a read+write token of
    fraud's maintainer."""
    make_version(make_model("churn"), "1.0.0", files={"model.bin": b"weights"}, accuracy=0.9)
    data = b"0123456789"
    upload, _ = uploads.create_upload(
        actor=maintainer, sha256=hashlib.sha256(data).hexdigest(), size=len(data)
    )
    _, secret = tokens.create(maintainer, name="schemathesis", scopes=["read", "write"])
    REAL.update(team="fraud", name="churn", version="1.0.0", path="model.bin",
                upload_id=str(upload.pk))  # fmt: skip
    with _keep_test_connection():
        yield {"Authorization": f"Bearer {secret}"}
    REAL.clear()


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: CI reports the first failure
    suppress_health_check=list(HealthCheck),
)
def test_api_never_answers_5xx(case: Any, auth_headers: dict[str, str]) -> None:
    response = case.call(headers=auth_headers)
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text}"
    case.validate_response(response, checks=CHECKS)  # status, content type, body schema
