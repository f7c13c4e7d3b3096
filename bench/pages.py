"""Server-side page benchmark: time and query count of the main pages on the configured DB.

Run from the repository root after `manage.py seed_scale` (1,000 models x 100 versions and a
`scale-wide` model make the numbers meaningful)::

    .venv/bin/python bench/pages.py [--runs 50] [--warmup 5] [--json out.json]

Besides the pages, it times the search page for each kind of term of the search language
(registry.search), including terms that match nothing, where a term without an index would
read every version.

It uses Django's test client in-process (no HTTP server, no network), signed in as a
superuser `bench-admin` (created if missing), with DEBUG off like production. Timings are
wall-clock per request around `client.get`; query counts come from separate captured
requests (the warm-up ones), because capturing formats every SQL statement and would inflate
the timings. Exits 1 if any page does not answer 200 (or cannot be measured).
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import math
import os
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

SCALE_PREFIX = "scale-"
WIDE_MODEL = "scale-wide"
_ANCHOR = re.compile(r"<a\b([^>]*)>(.*?)</a>", re.S | re.I)
_CURSOR_ATTR = re.compile(r'(?:href|hx-get)="([^"]*[?&](?:amp;)?cursor=[^"]*)"', re.I)
# The search page (registry.search) over seed_scale's data: each kind of term, matching
# many rows, few, or none (the case where an unindexed filter would read every row).
SEARCHES = [
    ("versions", "issue example (none)", 'metrics.test.auc >= 0.9 and tags.owner = "fraud" '
     'and stage = "Production" and created > "2025-01-01"'),
    ("versions", "metric threshold", "metrics.test.auc >= 0.9"),
    ("versions", "metric threshold (none)", "metrics.test.auc > 2"),
    ("versions", "stage", "stage = production"),
    ("versions", "tag value (few)", 'tags.dataset = "events-50"'),
    ("versions", "tag value (none)", 'tags.owner = "fraud"'),
    ("versions", "created (recent)", "created > {recent}"),
    ("versions", "model name", "model = scale-0500"),
    ("versions", "version string", 'version = "1.0.0"'),
    ("versions", "sequence", "sequence = 50"),
    ("versions", "team", "team = scale-b"),
    ("versions", "team (none)", "team = nobody"),
    ("versions", "framework", "framework = onnx"),
    ("versions", "description (none)", 'description ~ "gradient"'),
    ("versions", "param (none)", "params.max_depth > 100"),
    ("versions", "param text (none)", 'params.optimizer = "sgd"'),
    ("models", "tag and stage", "tags.domain = ads and stage = production"),
    ("models", "name contains", 'name ~ "scale-05"'),
    ("models", "description (none)", 'description ~ "no such words"'),
]  # fmt: skip


@dataclass
class Result:
    page: str
    url: str = ""
    runs: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    max_ms: float | None = None
    queries_min: int | None = None
    queries_max: int | None = None
    status: str = ""
    note: str = ""
    ok: bool = False
    timings_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def queries(self) -> str:
        if self.queries_min is None:
            return "-"
        if self.queries_min == self.queries_max:
            return str(self.queries_min)
        return f"{self.queries_min}-{self.queries_max}"


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (p50 of 50 runs is the 25th smallest)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def find_next_link(content: str, base_url: str) -> str | None:
    """The 'next page' cursor link of a version history page, or None.

    Looks at anchors (href or hx-get) carrying a `cursor=` parameter; prefers one that says
    next/older (rel, label or text), avoids one that says previous/newer.
    """
    candidates: list[tuple[int, int, str]] = []
    for position, (attrs, text) in enumerate(_ANCHOR.findall(content)):
        match = _CURSOR_ATTR.search(attrs)
        if match is None:
            continue
        words = (attrs + " " + re.sub(r"<[^>]+>", " ", text)).lower()
        score = 0
        if any(w in words for w in ('rel="next"', "next", "older", "›", "»")):
            score = 2
        if any(w in words for w in ('rel="prev"', "prev", "newer", "‹", "«")):
            score = -1
        candidates.append((score, -position, html.unescape(match.group(1))))
    if not candidates:
        match = _CURSOR_ATTR.search(content)  # e.g. an hx-get on a non-anchor "load more"
        if match is None:
            return None
        return urljoin(base_url, html.unescape(match.group(1)))
    score, _, href = max(candidates)
    return urljoin(base_url, href) if score >= 0 else None


class Bench:
    def __init__(self, runs: int, warmup: int) -> None:
        from django.db import connection
        from django.test import Client

        self.runs = runs
        self.warmup = warmup
        self.connection = connection
        self.client = Client(raise_request_exception=False)
        self.client.force_login(bench_admin())
        self.results: list[Result] = []
        self.last_content = ""

    def measure(
        self,
        page: str,
        url_name: str,
        args: list[Any] | None = None,
        query: str = "",
        url: str | None = None,
    ) -> Result:
        from django.test.utils import CaptureQueriesContext
        from django.urls import NoReverseMatch, reverse

        result = Result(page=page)
        self.results.append(result)
        self.last_content = ""
        if url is None:
            try:
                url = reverse(url_name, args=args or [])
            except NoReverseMatch as exc:
                result.status = "no route"
                result.note = f"reverse({url_name!r}) failed: {exc}"
                return result
            url += query
        result.url = url
        statuses: set[int] = set()
        queries: list[int] = []
        response = None
        for _ in range(max(1, self.warmup)):
            with CaptureQueriesContext(self.connection) as ctx:
                response = self.client.get(url)
            queries.append(len(ctx.captured_queries))
            statuses.add(response.status_code)
        timings = []
        for _ in range(self.runs):
            started = time.perf_counter()
            response = self.client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
            statuses.add(response.status_code)
        assert response is not None
        if response.status_code == 200 and hasattr(response, "content"):
            self.last_content = response.content.decode("utf-8", "replace")
        exc_info = getattr(response, "exc_info", None)
        if exc_info:
            result.note = f"{exc_info[0].__name__}: {exc_info[1]}"[:200]
        result.runs = len(timings)
        result.timings_ms = [round(t, 3) for t in timings]
        if timings:
            result.p50_ms = round(percentile(timings, 0.50), 2)
            result.p95_ms = round(percentile(timings, 0.95), 2)
            result.max_ms = round(max(timings), 2)
        result.queries_min, result.queries_max = min(queries), max(queries)
        result.status = ",".join(str(s) for s in sorted(statuses))
        result.ok = statuses == {200}
        return result

    def missing(self, page: str, note: str) -> None:
        self.results.append(Result(page=page, status="no data", note=note))


def bench_admin() -> Any:
    from accounts.models import User

    user, created = User.objects.get_or_create(
        username="bench-admin",
        defaults={"email": "bench-admin@example.com", "is_superuser": True, "is_staff": True},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    elif not user.is_superuser:
        user.is_superuser = user.is_staff = True
        user.save(update_fields=["is_superuser", "is_staff"])
    return user


def pick_targets() -> tuple[Any, Any, Any, list[str]]:
    """(history model, a regular version of it, the wide version, notes)."""
    from registry.models import ModelVersion, RegisteredModel, Stage

    notes = []
    models = RegisteredModel.objects.select_related("team")
    model = (
        models.filter(team__slug__startswith=SCALE_PREFIX)
        .exclude(name=WIDE_MODEL)
        .order_by("-version_count", "name")
        .first()
    )
    if model is None:
        model = models.order_by("-version_count", "name").first()
        if model is not None:
            notes.append(f"no seed_scale data: using {model} ({model.version_count} versions)")
    version = None
    if model is not None:
        version = (
            ModelVersion.objects.filter(model=model, stage=Stage.PRODUCTION).first()
            or ModelVersion.objects.filter(model=model).order_by("-sequence").first()
        )
    wide = (
        ModelVersion.objects.filter(
            model__name=WIDE_MODEL, model__team__slug__startswith=SCALE_PREFIX
        )
        .order_by("-sequence")
        .first()
    )
    return model, version, wide, notes


def run(args: argparse.Namespace) -> int:
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import override_settings
    from django.utils import timezone

    from registry.models import Metric, ModelVersion, RegisteredModel

    overrides: dict[str, Any] = {"ALLOWED_HOSTS": ["*"]}
    if not args.debug:
        overrides["DEBUG"] = False
    counts = {
        "models": RegisteredModel.objects.count(),
        "versions": ModelVersion.objects.count(),
        "metrics": Metric.objects.count(),
    }
    with override_settings(**overrides):
        from django.conf import settings

        args.debug = settings.DEBUG
        bench = Bench(args.runs, args.warmup)
        model, version, wide, notes = pick_targets()

        bench.measure("models list", "models")
        bench.measure("models ?q=scale-00", "models", query="?q=scale-00")
        bench.measure("models ?stage=production", "models", query="?stage=production")
        bench.measure(f"models ?page={args.deep_page}", "models", query=f"?page={args.deep_page}")
        bench.measure("models ?sort=-updated", "models", query="?sort=-updated")

        if model is None:
            bench.missing("version history p1", "no registered models at all")
            bench.missing("version history (cursor)", "no registered models at all")
        else:
            first = bench.measure(
                f"history {model.name} p1", "model-detail", [model.team.slug, model.name]
            )
            next_url = find_next_link(bench.last_content, first.url) if bench.last_content else None
            hops = 1
            while next_url and hops < args.cursor_hops:
                # Walk further back in history before measuring (page 2 + hops - 1).
                page = bench.client.get(next_url)
                content = page.content.decode("utf-8", "replace") if page.status_code == 200 else ""
                next_url = find_next_link(content, next_url) if content else None
                hops += 1
            if next_url:
                bench.measure(f"history {model.name} p{hops + 1} (cursor)", "", url=next_url)
            else:
                bench.missing(
                    "history (cursor)",
                    "no next-page link with a cursor= parameter found in the history page"
                    if first.ok
                    else "first history page did not answer 200",
                )

        if version is None:
            bench.missing("version page", "no version to show")
        else:
            bench.measure(
                f"version {model.name} {version.version}",
                "version-detail",
                [model.team.slug, model.name, version.version],
            )
        if wide is None:
            bench.missing("version page (wide)", f"no {WIDE_MODEL} model: seed_scale --wide 1")
        else:
            bench.measure(
                f"version {WIDE_MODEL} {wide.version} (wide)",
                "version-detail",
                [wide.model.team.slug, WIDE_MODEL, wide.version],
            )

        recent = (timezone.now() - dt.timedelta(days=2)).date().isoformat()
        for kind, label, query in SEARCHES:
            q = urlencode({"q": query.format(recent=recent), "kind": kind})
            bench.measure(f"search {kind}: {label}", "search", query=f"?{q}")

    report(bench.results, connection, counts, notes, args)
    if args.json:
        payload = {
            "vendor": connection.vendor,
            "counts": counts,
            "runs": args.runs,
            "warmup": args.warmup,
            "notes": notes,
            "pages": [asdict(r) for r in bench.results],
        }
        Path(args.json).write_text(json.dumps(payload, indent=2))
        print(f"\nwrote {args.json}")
    return 0 if all(r.ok for r in bench.results) else 1


def report(
    results: list[Result],
    connection: Any,
    counts: dict[str, int],
    notes: list[str],
    args: argparse.Namespace,
) -> None:
    import django

    print(
        f"Database: {connection.vendor} ({connection.settings_dict['NAME']}), "
        f"Django {django.get_version()}, DEBUG={'on' if args.debug else 'off'}"
    )
    print(", ".join(f"{n:,} {label}" for label, n in counts.items()))
    for note in notes:
        print(f"note: {note}")
    width = max(len(r.page) for r in results)
    header = (
        f"{'page':<{width}}  {'runs':>4}  {'p50 ms':>8}  {'p95 ms':>8}  {'max ms':>8}  "
        f"{'queries':>7}  status"
    )
    print()
    print(header)
    print("-" * len(header))

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    for r in results:
        print(
            f"{r.page:<{width}}  {r.runs:>4}  {ms(r.p50_ms):>8}  {ms(r.p95_ms):>8}  "
            f"{ms(r.max_ms):>8}  {r.queries:>7}  {r.status}"
        )
    problems = [r for r in results if not r.ok]
    if problems:
        print()
        for r in problems:
            print(f"NOT OK {r.page}: {r.status} {r.url} {r.note}".rstrip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50, help="timed requests per page")
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests (query counts)")
    parser.add_argument("--deep-page", type=int, default=30, help="models list page number")
    parser.add_argument(
        "--cursor-hops", type=int, default=1, help="next-page links to follow in the history"
    )
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--debug", action="store_true", help="keep settings.DEBUG as configured")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be at least 1 and --warmup at least 0")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
