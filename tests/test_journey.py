"""The seed workflow as one journey (scripts/journey.py, what `make journey` runs against
`make run`): through the Python client against the live server, with a real Celery worker
when there is a broker (the archive job of the replaced version runs there)."""

from __future__ import annotations

import contextlib
import importlib.util
import os
from pathlib import Path

import pytest

from accounts import tokens
from accounts.models import Membership
from registry.models import Blob, ModelVersion

pytestmark = pytest.mark.django_db(transaction=True)
SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "journey.py"


def _journey():
    spec = importlib.util.spec_from_file_location("journey", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _workers():
    if not os.environ.get("REDIS_URL"):
        return contextlib.nullcontext()  # tasks run in-process, as with `make run`
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    return start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10)


@pytest.fixture
def people(team, contributor, reviewer, maintainer, django_user_model):
    second = django_user_model.objects.create_user("reviewer2", "r2@example.com", "pw")
    Membership.objects.create(user=second, team=team, role=Membership.Role.REVIEWER)
    scopes = {contributor: ["read", "write"], reviewer: ["read", "review"],
              second: ["read", "review"], maintainer: ["read", "write", "review"]}  # fmt: skip
    return {user.username: tokens.create(user, name="journey", scopes=s)[1]
            for user, s in scopes.items()}  # fmt: skip


def test_the_whole_workflow_as_one_journey(live_server, people, team, capsys):
    lines: list[str] = []
    with _workers():
        result = _journey().run(live_server.url, people, team=team.slug, say=lines.append)
    assert result["stages"] == {"1.0.0": "archived", "1.1.0": "archived", "1.2.0": "production"}
    assert result["archived"] == "1.0.0"
    old = ModelVersion.objects.get(model__name=result["model"].split("/")[1], version="1.0.0")
    assert old.artifacts.exists()
    assert not Blob.objects.filter(artifacts__version=old, location="hot").exists()
    assert result["parents"] == [f"{result['model']}@1.1.0"]
    assert result["retrain_state"] == "done"
    stages = [(e["version"], e["to_stage"]) for e in result["history"] if e["kind"] == "stage"]
    assert stages[-1] == ("1.2.0", "production")
    assert ("1.0.0", "archived") in stages and ("1.1.0", "archived") in stages
    assert lines[0].startswith("1. Train") and lines[-1].strip().startswith(
        result["history"][-1]["at"][:19]
    )
