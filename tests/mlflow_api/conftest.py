"""A live Modelgate server driven by the real `mlflow` package's MlflowClient."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from accounts import tokens
from registry.models import PromotionPolicy


@pytest.fixture(autouse=True)
def _mlflow_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    # Errors must surface at once (MLflow retries 5xx and 429 with backoff).
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)


@pytest.fixture
def secret_for() -> Callable[..., str]:
    def make(user: Any, scopes: tuple[str, ...] = ("read", "write")) -> str:
        name = f"mlflow-{uuid.uuid4().hex[:8]}"
        _token, secret = tokens.create(user, name=name, scopes=list(scopes))
        return secret

    return make


@pytest.fixture
def mlflow_as(
    live_server: Any, monkeypatch: pytest.MonkeyPatch, secret_for: Callable[..., str]
) -> Callable[..., Any]:
    """mlflow_as(user) → an MlflowClient acting as that user (MLFLOW_TRACKING_TOKEN)."""
    from mlflow import MlflowClient

    def make(user: Any, scopes: tuple[str, ...] = ("read", "write")) -> Any:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", live_server.url)
        monkeypatch.setenv("MLFLOW_REGISTRY_URI", live_server.url)
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", secret_for(user, scopes))
        return MlflowClient(tracking_uri=live_server.url, registry_uri=live_server.url)

    return make


@pytest.fixture
def open_policies(team: Any) -> None:
    """Staging and Production need no approval in team fraud (changes apply directly)."""
    for stage in ("staging", "production"):
        for purpose in ("promotion", "rollback"):
            PromotionPolicy.objects.create(
                team=team, target_stage=stage, purpose=purpose, required_approvals=0
            )
