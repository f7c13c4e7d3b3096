"""Fixtures for the client and CLI: a live server, a model, and a token for its team."""

from __future__ import annotations

from typing import Any

import pytest

from accounts import tokens
from registry.models import RegisteredModel


@pytest.fixture
def churn(make_model: Any) -> RegisteredModel:
    return make_model("churn", framework="xgboost", task_type="classification")


@pytest.fixture
def token(contributor: Any) -> str:
    _token, secret = tokens.create(contributor, name="training", scopes=["read", "write"])
    return secret


@pytest.fixture
def server(live_server: Any, churn: RegisteredModel) -> str:
    return live_server.url


@pytest.fixture
def client(server: str, token: str) -> Any:
    from modelgate_client import Client

    return Client(server, token, backoff=0, progress=False)


@pytest.fixture
def model_dir(tmp_path: Any) -> Any:
    """A small artifact directory with a nested path."""
    root = tmp_path / "model"
    (root / "config").mkdir(parents=True)
    (root / "model.bin").write_bytes(b"weights " * 100)
    (root / "config" / "params.json").write_text('{"depth": 6}')
    (root / "README.md").write_text("churn model\n")
    return root
