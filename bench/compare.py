"""Compare-page benchmark: server time and query count for 2..6 versions, each with 300
metrics, 300 hyperparameters and 200 packages (the issue's target: p95 under 150 ms, and a
query count that does not grow with the number of versions).

    .venv/bin/python bench/compare.py [--runs 50] [--warmup 5] [--json out.json]

It makes its own data once (team `bench-compare`, model `wide`, six versions registered
through the services) and measures like bench/pages.py: Django's test client in-process,
signed in as the superuser `bench-admin`, DEBUG off. Exits 1 if a page does not answer 200
or a p95 misses the target.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from bench.pages import Bench, bench_admin, report  # noqa: E402

TEAM = "bench-compare"
MODEL = "wide"
VERSIONS = 6
METRICS = 300
PARAMS = 300
PACKAGES = 200
TARGET_P95_MS = 150.0


def make_data(actor: Any) -> list[Any]:
    """The six versions (made on the first run): each retrain moves metrics, params and
    some packages, and the fourth one changes the signature."""
    from accounts.models import Team
    from registry import services
    from registry.metadata import clean_version_metadata
    from registry.models import ModelVersion, RegisteredModel

    team, _ = Team.objects.get_or_create(slug=TEAM, defaults={"name": "Bench compare"})
    model = RegisteredModel.objects.filter(team=team, name=MODEL).first()
    if model is None:
        model = services.create_model(team=team, name=MODEL, actor=actor, framework="xgboost")
    have = ModelVersion.objects.filter(model=model).count()
    for i in range(have, VERSIONS):
        splits = ("train", "validation", "test")
        metrics = {
            split: {
                f"m{j:03d}": 0.5 + ((i + 1) * (j + 3) % 97) / 1000
                for j in range(METRICS)
                if j % len(splits) == k
            }
            for k, split in enumerate(splits)
        }
        inputs = [{"name": f"f{j}", "type": "double"} for j in range(20)]
        if i >= 3:
            inputs[0] = {"name": "f0", "type": "string"}
        services.register_version(
            model=model,
            actor=actor,
            version=f"1.{i}.0",
            metadata=clean_version_metadata(
                {
                    "metrics": metrics,
                    "params": {f"p{j:03d}": (j * (i + 1)) % 50 for j in range(PARAMS)},
                    "environment": {
                        "python": "3.12.4",
                        "packages": [
                            f"pkg{j:03d}==1.{(j + i) % 7 if j % 5 == 0 else 0}.{j}"
                            for j in range(PACKAGES)
                        ],
                    },
                    "signature": {"inputs": inputs, "outputs": [{"type": "double"}]},
                    "tags": {"dataset": f"events-{i}"},
                    "code_commit": f"{i:07x}abc",
                }
            ),
        )
    return list(ModelVersion.objects.filter(model=model).order_by("sort_key")[:VERSIONS])


def run(args: argparse.Namespace) -> int:
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import override_settings

    overrides: dict[str, Any] = {"ALLOWED_HOSTS": ["*"], "DEBUG": False}
    with override_settings(**overrides):
        versions = make_data(bench_admin())
        bench = Bench(args.runs, args.warmup)
        for n in range(2, VERSIONS + 1):
            query = "?" + "&".join(f"v={v.pk}" for v in versions[:n])
            bench.measure(f"compare {n} versions", "compare", query=query)
        everything = "?" + "&".join(f"v={v.pk}" for v in versions)
        bench.measure("compare 6, differences only", "compare", query=everything + "&diff=1")
        htmx = bench.client.defaults
        htmx["HTTP_HX_REQUEST"] = "true"
        bench.measure("compare 6, htmx partial", "compare", query=everything)
        del htmx["HTTP_HX_REQUEST"]
        bench.measure("export 6 as Markdown", "compare-export", ["md"], query=everything)
        bench.measure("export 6 as CSV", "compare-export", ["csv"], query=everything)

    counts = {"versions compared": VERSIONS, "metrics each": METRICS, "params each": PARAMS,
              "packages each": PACKAGES}  # fmt: skip
    args.debug = False
    report(bench.results, connection, counts, [], args)
    slow = [r for r in bench.results if r.p95_ms is not None and r.p95_ms > TARGET_P95_MS]
    queries = {r.queries_max for r in bench.results if r.page.startswith("compare ")}
    print(f"\ntarget p95 < {TARGET_P95_MS:.0f} ms: {'missed by ' if slow else 'met'}"
          f"{', '.join(r.page for r in slow)}")  # fmt: skip
    print(f"compare page queries for 2..6 versions: {sorted(queries)}")
    if args.json:
        payload = {"vendor": connection.vendor, "pages": [asdict(r) for r in bench.results]}
        Path(args.json).write_text(json.dumps(payload, indent=2))
        print(f"wrote {args.json}")
    return 0 if all(r.ok for r in bench.results) and not slow else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50, help="timed requests per page")
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests (query counts)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 1:
        parser.error("--runs and --warmup must be at least 1")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
