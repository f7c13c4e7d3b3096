"""Settings come from the environment; production mode is hardened and fails loudly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "MODELGATE_MODE": "production",
    "SECRET_KEY": "x9!" * 20 + "production-secret-for-the-deploy-check",
    "ALLOWED_HOSTS": "models.example.com",
    "DATABASE_URL": "postgres://modelgate@db.example.com/modelgate",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DATABASE_URL",
            "REDIS_URL",
            "DEBUG",
            "SECRET_KEY",
            "MODELGATE_MODE",
            "MODELGATE_DEMO",
            "DJANGO_ALLOW_ASYNC_UNSAFE",
        }
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_passes_the_deploy_check_in_production_mode():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_it_refuses_production_without_a_secret_key():
    env = {**PRODUCTION, "SECRET_KEY": ""}
    result = manage("check", **env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_it_refuses_demo_mode_in_production():
    result = manage("check", **PRODUCTION, MODELGATE_DEMO="1")
    assert result.returncode != 0 and "MODELGATE_DEMO" in result.stderr


@pytest.mark.parametrize(("name", "value"), [("DEBUG", "maybe"), ("MODELGATE_MODE", "prod")])
def test_it_rejects_malformed_values(name, value):
    result = manage("check", **{name: value})
    assert result.returncode != 0 and name in result.stderr


def test_it_runs_the_embedded_default_with_nothing_set(tmp_path):
    result = manage("check", MODELGATE_VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("task", "queue"),
    [
        ("registry.tasks.deliver_webhook", "webhooks"),
        ("lineage.tasks.render_graph", "render"),
        ("registry.tasks.archive_version", "archive"),
        ("registry.tasks.restore_version", "archive"),
        ("registry.tasks.expire_promotion_requests", "celery"),
        ("registry.tasks.sweep_webhooks", "celery"),
    ],
)
def test_each_kind_of_slow_work_has_its_own_queue(task, queue):
    from config.celery import app

    assert app.amqp.router.route({}, task)["queue"].name == queue
    assert queue in app.amqp.queues  # a worker started without --queues consumes it
