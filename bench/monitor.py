"""Monitoring benchmark (issue 10's targets, on PostgreSQL):

- batched live-metric ingest through the API: at least 2,000 points/s;
- evaluating the monitors of 1,000 live deployments: under 5 s;
- a deployment page with a 90-day chart: p95 under 150 ms.

    .venv/bin/python bench/monitor.py [--runs 30] [--batches 30] [--batch 1000]

It creates its own database (modelgate_bench_monitor on 127.0.0.1:5432), 100 models with
10 deployments each (environments e0..e9) and two monitors per model, and drops it at the
end. Requests go through Django's test client in-process (the whole HTTP stack: token
auth, validation, the JSON body), DEBUG off. Exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DB_NAME = "modelgate_bench_monitor"
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
MODELS, ENVIRONMENTS = 100, 10
TARGETS = {"points_per_s": 2000.0, "evaluate_s": 5.0, "page_p95_ms": 150.0}


def _database(action: str) -> None:
    import psycopg

    with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=10, **PG) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        if action == "create":
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def _setup_django() -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=f"postgres://{PG['user']}@{PG['host']}:{PG['port']}/{DB_NAME}",
        MODELGATE_VAR_DIR="/tmp/bench-monitor-var",
        MODELGATE_MODE="development",
        DEBUG="false",
        ALLOWED_HOSTS="127.0.0.1,testserver",
        LOG_LEVEL="WARNING",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",  # breach alerts
    )
    for key in ("REDIS_URL", "MODELGATE_ARTIFACT_DIR", "ARTIFACTS_S3_BUCKET"):
        os.environ.pop(key, None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def make_world() -> tuple[Any, str, list[Any]]:
    """A maintainer, a write token, and 1,000 live deployments of 100 models."""
    from django.utils import timezone

    from accounts import tokens
    from accounts.models import Membership, Team, User
    from lineage import deployments
    from monitoring import monitors
    from registry import services
    from registry.metadata import clean_version_metadata
    from registry.models import ModelVersion

    team = Team.objects.create(name="Bench", slug="bench")
    user = User.objects.create_user("bench-maintainer", "bench@example.invalid", "x")
    Membership.objects.create(user=user, team=team, role=Membership.Role.MAINTAINER)
    _token, secret = tokens.create(user, name="bench", scopes=["read", "write"])
    long_ago = timezone.now() - dt.timedelta(days=120)
    live = []
    for i in range(MODELS):
        model = services.create_model(team=team, name=f"model-{i:03}", actor=user)
        metadata = clean_version_metadata({"metrics": {"test": {"auc": 0.93}}})
        version = services.register_version(model=model, actor=user, version="1.0.0",
                                            metadata=metadata)  # fmt: skip
        ModelVersion.objects.filter(pk=version.pk).update(created_at=long_ago)
        version.created_at = long_ago
        deployed_at = long_ago + dt.timedelta(hours=1)
        for e in range(ENVIRONMENTS):
            live.append(deployments.record_deployment(user, version, f"e{e}", at=deployed_at))
        monitors.create_monitor(user, model, "auc", "live.auc < metrics.test.auc - 0.05 over 1h")
        monitors.create_monitor(user, model, "latency", "live.p95_latency_ms > 250 over 15m")
    return user, secret, live


def bench_ingest(secret: str, live: list[Any], batches: int, size: int) -> float:
    """Points per second through POST /api/v1/deployments/{id}/metrics, in batches."""
    from django.test import Client
    from django.utils import timezone

    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    rng = random.Random(1)
    now = timezone.now()
    payloads = []
    for b in range(batches):
        d = live[b % len(live)]
        points = [{"name": "auc" if i % 2 else "p95_latency_ms",
                   "value": rng.uniform(0.85, 0.95) if i % 2 else rng.uniform(20, 90),
                   "at": (now - dt.timedelta(seconds=rng.randrange(3600))).isoformat()}
                  for i in range(size)]  # fmt: skip
        payloads.append((d.pk, points))
    start = time.perf_counter()
    for deployment_id, points in payloads:
        response = client.post(f"/api/v1/deployments/{deployment_id}/metrics",
                               {"points": points}, content_type="application/json")  # fmt: skip
        assert response.status_code == 201, response.content[:300]
    return batches * size / (time.perf_counter() - start)


def bench_evaluate(user: Any, live: list[Any]) -> tuple[float, int, int]:
    """Seconds for one round of every monitor over every live deployment (the median of
    three), with the deployments judged and the breaches opened."""
    from django.utils import timezone

    from monitoring import evaluate, ingest

    now = timezone.now()
    rng = random.Random(2)
    for d in live:  # a few points in every window, some deployments degraded
        low = rng.random() < 0.05
        ingest.report(user, d, [
            {"name": "auc", "value": (0.80 if low else 0.92) + rng.random() / 100,
             "at": (now - dt.timedelta(minutes=m)).isoformat()}
            for m in range(1, 6)
        ] + [{"name": "p95_latency_ms", "value": 60.0, "at": now.isoformat()}])  # fmt: skip
    times, judged, breached = [], 0, 0
    for _ in range(3):
        start = time.perf_counter()
        outcome = evaluate.evaluate_all()
        times.append(time.perf_counter() - start)
        judged = outcome.judged
        breached += len(outcome.breached)
    return statistics.median(times), judged, breached


def bench_page(user: Any, deployment: Any, runs: int) -> dict[int, tuple[float, float]]:
    """p50/p95 ms of the deployment page with 90 days of two metrics every 10 minutes."""
    from django.test import Client
    from django.utils import timezone

    from monitoring import ingest

    now = timezone.now()
    points = []
    for m in range(0, 90 * 24 * 60, 10):
        at = (now - dt.timedelta(minutes=m + 1)).isoformat()
        points += [{"name": "auc", "value": 0.9 + (m % 70) / 1000, "at": at},
                   {"name": "p95_latency_ms", "value": 40 + m % 13, "at": at}]  # fmt: skip
    for start in range(0, len(points), ingest.MAX_POINTS):
        ingest.report(user, deployment, points[start : start + ingest.MAX_POINTS])
    client = Client()
    client.force_login(user)
    url = deployment.get_absolute_url()
    found = {}
    for days in (90, 7, 1):
        times = []
        for i in range(runs + 5):
            start = time.perf_counter()
            response = client.get(url, {"days": days})
            elapsed = (time.perf_counter() - start) * 1000
            assert response.status_code == 200 and response.content.count(b'class="chart"') == 2
            if i >= 5:
                times.append(elapsed)
        times.sort()
        found[days] = (statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)])
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    _database("create")
    try:
        _setup_django()
        user, secret, live = make_world()
        rate = bench_ingest(secret, live, args.batches, args.batch)
        seconds, judged, breached = bench_evaluate(user, live)
        pages = bench_page(user, live[0], args.runs)
    finally:
        from django.db import connections

        connections.close_all()
        _database("drop")
    results = [
        (f"ingest, batches of {args.batch:,} points via the API", f"{rate:,.0f} points/s",
         rate >= TARGETS["points_per_s"], f">= {TARGETS['points_per_s']:,.0f}"),
        (f"evaluate {len(live)//ENVIRONMENTS * 2} monitors over {len(live):,} deployments",
         f"{seconds:.2f} s ({judged:,} judged, {breached} breaches)",
         seconds < TARGETS["evaluate_s"], f"< {TARGETS['evaluate_s']:g} s"),
    ]  # fmt: skip
    for days, (p50, p95) in pages.items():
        ok = p95 < TARGETS["page_p95_ms"] if days == 90 else True
        results.append((f"deployment page, {days}-day charts (2 metrics)",
                        f"p50 {p50:.1f} ms, p95 {p95:.1f} ms", ok,
                        f"p95 < {TARGETS['page_p95_ms']:g} ms" if days == 90 else ""))  # fmt: skip
    failed = False
    print(f"PostgreSQL, {MODELS} models x {ENVIRONMENTS} deployments")
    for label, figure, ok, target in results:
        failed = failed or not ok
        mark = ("ok" if ok else "MISSED") if target else ""
        print(f"  {label:52} {figure:38} {target:16} {mark}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
