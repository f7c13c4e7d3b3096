"""`manage.py seed_scale --models N --versions M`: bulk data for benchmarks.

Rows are written with `bulk_create` in batches, one transaction per chunk of models, never
through `registry.services` (that path is for real registrations and is ~100x slower). The
result is still consistent with what the services would produce: gap-free sequences, sort
keys from `registry.versioning.sort_key`, `last_sequence` / `version_count` /
`latest_version` maintained, exactly one Production version per model, one transition per
version that left Development, and metrics carrying their model.

Scale data lives in teams whose slug starts with ``scale-``; `--reset` deletes every model
of those teams (and their versions, metrics, tags and transitions) first.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections, router, transaction
from django.db import models as djm
from django.utils import timezone

from accounts.models import Membership, Team, User
from registry import versioning
from registry.metadata import clean_version_metadata
from registry.models import (
    Artifact,
    Metric,
    ModelTag,
    ModelVersion,
    RegisteredModel,
    Stage,
    StageTransition,
    VersionTag,
)
from registry.versioning import Scheme

TEAM_PREFIX = "scale-"
BOT = "scale-bot"
WIDE_MODEL = "scale-wide"
WIDE_SIZE = 200
SCHEMES = [Scheme.SEMANTIC, Scheme.GIT, Scheme.TIMESTAMP, Scheme.HYBRID]
FRAMEWORKS = [
    ("sklearn", "classification"),
    ("xgboost", "classification"),
    ("lightgbm", "regression"),
    ("pytorch", "object_detection"),
    ("tensorflow", "recommendation"),
    ("transformers", "text_generation"),
    ("onnx", "classification"),
    ("prophet", "forecasting"),
]
DOMAINS = ["payments", "marketing", "search", "logistics", "support", "risk", "ads"]
H, L = "higher", "lower"
# Metrics in the order --metrics K takes them: the headline ones first, on several splits.
METRICS = [
    ("test", "auc", H),
    ("test", "log_loss", L),
    ("validation", "auc", H),
    ("validation", "log_loss", L),
    ("business", "p95_latency_ms", L),
    ("train", "auc", H),
    ("train", "log_loss", L),
    ("test", "accuracy", H),
    ("test", "f1", H),
    ("validation", "accuracy", H),
    ("validation", "f1", H),
    ("test", "precision", H),
    ("test", "recall", H),
    ("business", "conversion_uplift_pct", H),
    ("business", "error_rate", L),
]
SPLITS = ["train", "validation", "test", "business"]
PACKAGES = [
    "numpy", "pandas", "scipy", "scikit-learn", "pyarrow", "requests", "pyyaml", "joblib",
    "protobuf", "boto3", "pydantic", "tqdm",
]  # fmt: skip
# Models that reference versions / registered models and that --reset knows how to clear.
KNOWN_CHILDREN = {Metric, VersionTag, Artifact, StageTransition, ModelTag, ModelVersion}


def stage_for(sequence: int, count: int) -> str:
    """One Production (the third newest), the newest two in Staging, the oldest third and
    every fourth older one Archived, the rest Development."""
    production = max(1, count - 2)
    if sequence == production:
        return Stage.PRODUCTION
    if sequence > production:
        return Stage.STAGING
    if sequence % 4 == 0 or sequence <= production // 3:
        return Stage.ARCHIVED
    return Stage.DEVELOPMENT


FROM_STAGE = {
    Stage.STAGING: Stage.DEVELOPMENT,
    Stage.PRODUCTION: Stage.STAGING,
    Stage.ARCHIVED: Stage.DEVELOPMENT,
}


def _sha(*parts: object) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()


def _core(sequence: int) -> str:
    """1.0.0, 1.0.1, ... 1.9.9, 2.0.0, ...: increases with the sequence."""
    n = sequence - 1
    return f"{n // 100 + 1}.{n // 10 % 10}.{n % 10}"


def version_string(scheme: str, model_index: int, sequence: int, when: dt.datetime) -> str:
    """A version valid for the scheme whose precedence follows the registration sequence."""
    if scheme == Scheme.SEMANTIC:
        return _core(sequence) + ("-rc.1" if sequence % 25 == 0 else "")
    if scheme == Scheme.GIT:
        return _sha(model_index, sequence)[:12]
    if scheme == Scheme.TIMESTAMP:
        return when.strftime("%Y%m%d-%H%M%S")
    return versioning.compose_hybrid(_core(sequence), when, _sha(model_index, sequence))


@contextmanager
def explicit_timestamps(*fields: Any) -> Iterator[None]:
    """Let bulk_create store the created_at/updated_at we set (auto_now[_add] overwrite them
    in pre_save); restored afterwards."""
    saved = [(f, f.auto_now, f.auto_now_add) for f in fields]
    try:
        for f in fields:
            f.auto_now = f.auto_now_add = False
        yield
    finally:
        for f, auto_now, auto_now_add in saved:
            f.auto_now, f.auto_now_add = auto_now, auto_now_add


def _field(model: type[djm.Model], name: str) -> Any:
    return model._meta.get_field(name)


class Command(BaseCommand):
    help = "Bulk-insert synthetic models, versions, metrics and tags for benchmarks."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--models", type=int, default=1000, help="models (default 1000)")
        parser.add_argument(
            "--versions", type=int, default=100, help="versions per model (default 100)"
        )
        parser.add_argument("--team-count", type=int, default=3, help="scale teams (default 3)")
        parser.add_argument("--metrics", type=int, default=5, help="metrics per version")
        parser.add_argument(
            "--wide",
            type=int,
            default=1,
            help=f"versions of '{WIDE_MODEL}', each with {WIDE_SIZE} metrics, "
            f"hyperparameters and packages (default 1; 0 for none)",
        )
        parser.add_argument("--batch-size", type=int, default=2000, help="rows per INSERT")
        parser.add_argument("--seed", type=int, default=1234, help="random seed")
        parser.add_argument("--reset", action="store_true", help="delete existing scale data first")

    def handle(self, *args: Any, **options: Any) -> None:
        n_models, n_versions = options["models"], options["versions"]
        team_count, n_metrics, wide = options["team_count"], options["metrics"], options["wide"]
        self.batch = options["batch_size"]
        self.verbosity = options["verbosity"]
        for name, value, low in [
            ("--models", n_models, 0),
            ("--versions", n_versions, 1),
            ("--team-count", team_count, 1),
            ("--metrics", n_metrics, 0),
            ("--wide", wide, 0),
            ("--batch-size", self.batch, 1),
        ]:
            if value < low:
                raise CommandError(f"{name} must be at least {low}, got {value}")
        if n_versions > 99_999:
            raise CommandError("--versions is at most 99999")
        self.rng = random.Random(options["seed"])
        started = time.perf_counter()

        # One transaction: a failed or interrupted run leaves the database as it was.
        with transaction.atomic(using=router.db_for_write(RegisteredModel)):
            self.seed(options, started)
        elapsed = time.perf_counter() - started
        self.stdout.write(
            self.style.SUCCESS(f"Seeded scale data in {elapsed:.1f}s: ")
            + ", ".join(f"{n:,} {label}" for label, n in self.counts.items())
        )
        connection = connections[router.db_for_write(RegisteredModel)]
        vendor = connection.vendor
        if vendor == "postgresql":
            # Fresh statistics, as autovacuum would gather soon after a real bulk load, so
            # benchmarks right after seeding see the plans production would.
            with connection.cursor() as cursor:
                for model in (
                    RegisteredModel,
                    ModelVersion,
                    Metric,
                    ModelTag,
                    VersionTag,
                    StageTransition,
                ):
                    cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
        self.stdout.write(
            f"Database ({vendor}) now holds {RegisteredModel.objects.count():,} models, "
            f"{ModelVersion.objects.count():,} versions, {Metric.objects.count():,} metrics."
        )

    def seed(self, options: dict[str, Any], started: float) -> None:
        n_models, n_versions = options["models"], options["versions"]
        existing = RegisteredModel.objects.filter(team__slug__startswith=TEAM_PREFIX)
        if existing.exists():
            if not options["reset"]:
                raise CommandError(
                    f"{existing.count()} scale model(s) already exist in the {TEAM_PREFIX}* "
                    "teams. Run again with --reset to delete them first."
                )
            deleted = self.reset()
            self.stdout.write(
                f"Deleted existing scale data in {time.perf_counter() - started:.1f}s: "
                + ", ".join(f"{n} {label}" for label, n in deleted.items())
            )

        created_at = _field(RegisteredModel, "created_at")
        updated_at = _field(RegisteredModel, "updated_at")
        version_created = _field(ModelVersion, "created_at")
        transition_created = _field(StageTransition, "created_at")
        self.counts = dict.fromkeys(
            ["models", "versions", "metrics", "model tags", "version tags", "transitions"], 0
        )
        self.now = timezone.now().replace(microsecond=0)
        with explicit_timestamps(created_at, updated_at, version_created, transition_created):
            teams, bot = self.teams_and_bot(options["team_count"])
            models = self.create_models(teams, bot, n_models, n_versions)
            self.create_versions(models, n_versions, options["metrics"], bot)
            if options["wide"]:
                self.create_wide(teams[0], bot, options["wide"])

    # -- reset ----------------------------------------------------------------------------

    def reset(self) -> dict[str, int]:
        """Delete scale models and everything under them, children before parents.

        The known tables are cleared with single DELETE statements (`_raw_delete`: no
        collector, so no per-row signals and no loading of 100,000s of rows; it also skips
        StageTransition's append-only guard, which protects audit history from the app, not
        from tearing down benchmark data). Rows of other apps that point at scale data are
        handled by their on_delete rule: CASCADE deletes them through the ORM, SET_NULL
        clears the reference, PROTECT/RESTRICT stop the reset with a message.
        """
        using = router.db_for_write(RegisteredModel)
        model_ids = list(
            RegisteredModel.objects.filter(team__slug__startswith=TEAM_PREFIX).values_list(
                "pk", flat=True
            )
        )
        deleted: dict[str, int] = {}
        with transaction.atomic(using=using):
            versions = ModelVersion.objects.filter(model_id__in=model_ids)
            self._clear_foreign(ModelVersion, versions, using)
            self._clear_foreign(
                RegisteredModel, RegisteredModel.objects.filter(pk__in=model_ids), using
            )
            RegisteredModel.objects.filter(pk__in=model_ids).update(latest_version=None)
            version_sub = versions.values("pk")
            for label, qs in [
                ("metrics", Metric.objects.filter(model_id__in=model_ids)),
                ("version tags", VersionTag.objects.filter(version_id__in=version_sub)),
                ("artifacts", Artifact.objects.filter(version_id__in=version_sub)),
                ("transitions", StageTransition.objects.filter(version_id__in=version_sub)),
                ("versions", ModelVersion.objects.filter(model_id__in=model_ids)),
                ("model tags", ModelTag.objects.filter(model_id__in=model_ids)),
                ("models", RegisteredModel.objects.filter(pk__in=model_ids)),
            ]:
                deleted[label] = qs._raw_delete(using)
        return deleted

    def _clear_foreign(self, target: type[djm.Model], rows: djm.QuerySet[Any], using: str) -> None:
        """Deal with rows of models this command does not know that reference `rows`."""
        for rel in target._meta.related_objects:
            related = rel.related_model
            if related in KNOWN_CHILDREN or related is target or related is RegisteredModel:
                continue
            if rel.many_to_many:
                through = rel.through
                for f in through._meta.get_fields():
                    if getattr(f, "related_model", None) is target and f.concrete:
                        through._base_manager.using(using).filter(
                            **{f"{f.name}__in": rows.values("pk")}
                        ).delete()
                continue
            referencing = related._base_manager.using(using).filter(
                **{f"{rel.field.name}__in": rows.values("pk")}
            )
            on_delete = rel.on_delete
            if on_delete is djm.SET_NULL:
                referencing.update(**{rel.field.name: None})
            elif on_delete in (djm.PROTECT, djm.RESTRICT):
                count = referencing.count()
                if count:
                    raise CommandError(
                        f"cannot reset: {count} {related._meta.verbose_name_plural} reference "
                        f"scale {target._meta.verbose_name_plural} ({rel.field.name}, "
                        f"on_delete={on_delete.__name__}); delete them first"
                    )
            else:
                referencing.delete()

    # -- create ---------------------------------------------------------------------------

    def teams_and_bot(self, team_count: int) -> tuple[list[Team], User]:
        bot, created = User.objects.get_or_create(
            username=BOT, defaults={"email": "scale-bot@example.com", "first_name": "Scale"}
        )
        if created:
            bot.set_unusable_password()
            bot.save(update_fields=["password"])
        teams = []
        for i in range(team_count):
            suffix = _letters(i)
            team, _ = Team.objects.get_or_create(
                slug=f"{TEAM_PREFIX}{suffix}",
                defaults={
                    "name": f"Scale {suffix.upper()}",
                    "description": "Synthetic data from manage.py seed_scale.",
                },
            )
            Membership.objects.get_or_create(
                user=bot, team=team, defaults={"role": Membership.Role.MAINTAINER}
            )
            teams.append(team)
        return teams, bot

    def create_models(
        self, teams: list[Team], bot: User, count: int, n_versions: int
    ) -> list[RegisteredModel]:
        width = max(4, len(str(count)))
        objs = []
        for i in range(count):
            framework, task = FRAMEWORKS[i % len(FRAMEWORKS)]
            created = self.now - dt.timedelta(days=540) + dt.timedelta(minutes=i * 17)
            objs.append(
                RegisteredModel(
                    team=teams[i % len(teams)],
                    name=f"scale-{i + 1:0{width}d}",
                    description=(
                        f"# scale-{i + 1:0{width}d}\n\nSynthetic **{framework}** model for "
                        f"benchmarks (`seed_scale`).\n\n- task: {task}\n- index: {i}\n"
                    ),
                    task_type=task,
                    framework=framework,
                    versioning_scheme=SCHEMES[i % len(SCHEMES)],
                    created_by=bot,
                    created_at=created,
                    updated_at=self.now - dt.timedelta(hours=1 + (i * 37) % 2000),
                    last_sequence=n_versions,
                    version_count=n_versions,
                )
            )
        tags = []
        with transaction.atomic():
            RegisteredModel.objects.bulk_create(objs, batch_size=self.batch)
            self._ensure_pks(objs, RegisteredModel, ["team_id", "name"])
            for i, m in enumerate(objs):
                tags += [
                    ModelTag(model=m, key="owner", value=m.team.slug),
                    ModelTag(model=m, key="domain", value=DOMAINS[i % len(DOMAINS)]),
                    ModelTag(model=m, key="tier", value=str(1 + i % 3)),
                ]
                if i % 4 == 0:
                    tags.append(ModelTag(model=m, key="pii", value="true"))
            ModelTag.objects.bulk_create(tags, batch_size=self.batch)
        self.counts["models"] += len(objs)
        self.counts["model tags"] += len(tags)
        return objs

    def create_versions(
        self, models: list[RegisteredModel], n_versions: int, n_metrics: int, bot: User
    ) -> None:
        metric_specs = _metric_specs(n_metrics)
        environments = _environments()
        per_chunk = max(1, self.batch * 2 // n_versions)
        report_every = max(1, len(models) // 10)
        next_report = report_every
        t0 = time.perf_counter()
        for start in range(0, len(models), per_chunk):
            chunk = models[start : start + per_chunk]
            rows = []
            for offset, model in enumerate(chunk):
                rows += self._versions_of(model, start + offset, n_versions, environments, bot)
            self._insert_version_rows(chunk, rows, metric_specs, bot)
            done = start + len(chunk)
            if self.verbosity >= 1 and done >= next_report:
                next_report += report_every
                self.stdout.write(
                    f"  {done:,}/{len(models):,} models, "
                    f"{self.counts['versions']:,} versions "
                    f"({time.perf_counter() - t0:.1f}s)"
                )

    def _versions_of(
        self,
        model: RegisteredModel,
        index: int,
        count: int,
        environments: list[dict[str, Any]],
        bot: User,
        **extra: Any,
    ) -> list[ModelVersion]:
        start = model.created_at + dt.timedelta(days=1)
        end = self.now - dt.timedelta(hours=2 + index % 500)
        step = max(dt.timedelta(minutes=1), (end - start) / max(1, count - 1))
        scheme = model.versioning_scheme
        rows = []
        for sequence in range(1, count + 1):
            when = start + step * (sequence - 1)
            when = when.replace(microsecond=0)
            version = version_string(scheme, index, sequence, when)
            stage = stage_for(sequence, count)
            progress = sequence / count
            commit = _sha("commit", index, sequence)
            params = extra.get("params") or {
                "learning_rate": round(0.2 - 0.15 * progress + self.rng.uniform(-0.01, 0.01), 4),
                "n_estimators": 100 + 10 * sequence,
                "max_depth": 3 + sequence % 8,
                "subsample": round(self.rng.uniform(0.6, 1.0), 3),
                "batch_size": 256,
                "seed": index,
                "optimizer": "adam",
                "early_stopping": True,
            }
            rows.append(
                ModelVersion(
                    model=model,
                    version=version,
                    sequence=sequence,
                    sort_key=versioning.sort_key(scheme, version, sequence),
                    description=extra.get("description", ""),
                    task_type=model.task_type,
                    framework=model.framework,
                    framework_version=f"{1 + progress:.1f}.{sequence % 10}",
                    signature=extra.get("signature") or _SIGNATURE,
                    params=params,
                    environment=extra.get("environment")
                    or environments[min(len(environments) - 1, int(progress * len(environments)))],
                    code_repository=f"https://git.example.com/scale/{model.name}",
                    code_commit=commit,
                    code_branch="main" if sequence % 7 else "exp/tuning",
                    code_entry_point="train.py",
                    code_dirty=sequence % 13 == 0,
                    training_started_at=when - dt.timedelta(minutes=45),
                    training_ended_at=when - dt.timedelta(minutes=5),
                    stage=stage,
                    stage_changed_at=(
                        None
                        if stage == Stage.DEVELOPMENT
                        else min(self.now, when + dt.timedelta(days=1))
                    ),
                    created_by=bot,
                    created_at=when,
                )
            )
        return rows

    def _insert_version_rows(
        self,
        models: Sequence[RegisteredModel],
        rows: list[ModelVersion],
        metric_specs: list[tuple[str, str, str]] | None,
        bot: User,
        wide_metrics: list[Any] | None = None,
    ) -> None:
        ModelVersion.objects.bulk_create(rows, batch_size=self.batch)
        self._ensure_pks(rows, ModelVersion, ["model_id", "sequence"])
        metrics: list[Metric] = []
        vtags: list[VersionTag] = []
        transitions: list[StageTransition] = []
        rng = self.rng
        for v in rows:
            count = v.model.last_sequence
            progress = v.sequence / count
            if wide_metrics is not None:
                metrics += [
                    Metric(
                        version=v,
                        model_id=v.model_id,
                        split=m.split,
                        name=m.name,
                        value=round(m.value * (0.9 + 0.1 * progress), 5),
                        direction=m.direction,
                    )
                    for m in wide_metrics
                ]
            else:
                for split, name, direction in metric_specs or []:
                    metrics.append(
                        Metric(
                            version=v,
                            model_id=v.model_id,
                            split=split,
                            name=name,
                            value=_metric_value(name, split, progress, rng),
                            direction=direction,
                        )
                    )
            vtags.append(
                VersionTag(version=v, key="run_id", value=f"run-{v.model_id}-{v.sequence}")
            )
            if v.sequence % 10 == 0:
                vtags.append(VersionTag(version=v, key="dataset", value=f"events-{v.sequence}"))
            if v.stage != Stage.DEVELOPMENT:
                transitions.append(
                    StageTransition(
                        version=v,
                        from_stage=FROM_STAGE[v.stage],
                        to_stage=v.stage,
                        actor=bot,
                        comment="seed_scale",
                        created_at=v.stage_changed_at,
                    )
                )
        Metric.objects.bulk_create(metrics, batch_size=self.batch)
        VersionTag.objects.bulk_create(vtags, batch_size=self.batch)
        StageTransition.objects.bulk_create(transitions, batch_size=self.batch)
        latest = {}
        for v in rows:
            if v.sequence == v.model.last_sequence:
                latest[v.model_id] = v
        for m in models:
            m.latest_version = latest[m.pk]
        RegisteredModel.objects.bulk_update(models, ["latest_version"], batch_size=self.batch)
        self.counts["versions"] += len(rows)
        self.counts["metrics"] += len(metrics)
        self.counts["version tags"] += len(vtags)
        self.counts["transitions"] += len(transitions)

    def create_wide(self, team: Team, bot: User, count: int) -> None:
        """One model whose versions carry 200 metrics, hyperparameters and packages."""
        raw_metrics: dict[str, dict[str, Any]] = {s: {} for s in SPLITS}
        for k in range(WIDE_SIZE):
            split = SPLITS[k % len(SPLITS)]
            name = f"{METRICS[k % len(METRICS)][1]}_segment_{k // len(METRICS):02d}"
            raw_metrics[split][name] = round(self.rng.uniform(0.05, 0.99), 4)
        meta = clean_version_metadata(
            {
                "params": {
                    f"param_{k:03d}": round(self.rng.uniform(0, 10), 3) for k in range(WIDE_SIZE)
                },
                "environment": {
                    "python": "3.12.7",
                    "os": "Ubuntu 24.04.1 LTS (x86_64)",
                    "hardware": {
                        "cpu": "AMD EPYC 7R13",
                        "cpu_count": 48,
                        "gpu": "NVIDIA A100",
                        "gpu_count": 8,
                    },
                    "packages": [
                        f"wide-package-{k:03d}=={k % 7}.{k % 13}.{k % 5}" for k in range(WIDE_SIZE)
                    ],
                },
                "signature": {
                    "inputs": [{"name": f"feature_{k:03d}", "type": "double"} for k in range(40)],
                    "outputs": [{"name": "score", "type": "double"}],
                },
                "metrics": raw_metrics,
            }
        )
        model = RegisteredModel(
            team=team,
            name=WIDE_MODEL,
            description="Model whose versions carry 200 metrics, hyperparameters and packages "
            "(version page benchmark).",
            task_type="classification",
            framework="pytorch",
            versioning_scheme=Scheme.SEMANTIC,
            created_by=bot,
            created_at=self.now - dt.timedelta(days=200),
            updated_at=self.now - dt.timedelta(hours=1),
            last_sequence=count,
            version_count=count,
        )
        with transaction.atomic():
            model.save()
            ModelTag.objects.create(model=model, key="owner", value=team.slug)
            rows = self._versions_of(
                model,
                len(SCHEMES) * 10_000,
                count,
                [meta.environment],
                bot,
                params=meta.params,
                signature=meta.signature,
                description="A very wide version.",
            )
            self._insert_version_rows([model], rows, None, bot, wide_metrics=meta.metrics)
        self.counts["models"] += 1
        self.counts["model tags"] += 1

    def _ensure_pks(
        self, objs: Sequence[djm.Model], model: type[djm.Model], key: list[str]
    ) -> None:
        """Backends that cannot return ids from a bulk INSERT: look them up by natural key."""
        if not objs or objs[0].pk is not None:
            return
        lookup = {
            tuple(row[:-1]): row[-1]
            for row in model._base_manager.filter(
                **{f"{key[0]}__in": {getattr(o, key[0]) for o in objs}}
            ).values_list(*key, "pk")
        }
        for o in objs:
            o.pk = lookup[tuple(getattr(o, k) for k in key)]


_SIGNATURE = {
    "inputs": [
        {"name": "amount", "type": "double"},
        {"name": "country", "type": "string"},
        {"name": "age_days", "type": "long"},
    ],
    "outputs": [{"name": "score", "type": "double"}],
}


def _letters(i: int) -> str:
    """0 → a, 25 → z, 26 → aa, ..."""
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = chr(ord("a") + r) + out
    return out


def _metric_specs(count: int) -> list[tuple[str, str, str]]:
    specs = METRICS[:count]
    for j in range(len(specs), count):
        specs.append((SPLITS[j % len(SPLITS)], f"metric_{j:03d}", H))
    return specs


def _metric_value(name: str, split: str, progress: float, rng: random.Random) -> float:
    noise = rng.gauss(0, 0.01)
    boost = 0.03 if split == "train" else 0.0
    if name == "auc":
        return round(0.70 + 0.25 * progress + boost + noise, 4)
    if name == "log_loss":
        return round(0.60 - 0.35 * progress - boost + noise, 4)
    if name == "p95_latency_ms":
        return round(40 - 15 * progress + 100 * noise, 1)
    if name == "error_rate":
        return round(max(0.0, 0.08 - 0.05 * progress + noise), 4)
    return round(min(1.0, 0.5 + 0.4 * progress + boost + noise), 4)


def _environments() -> list[dict[str, Any]]:
    """Four environments over time (cleaned once, like the API would store them)."""
    envs = []
    for era in range(4):
        raw = {
            "python": ["3.10.14", "3.11.9", "3.12.4", "3.12.7"][era],
            "os": "Ubuntu 22.04.4 LTS" if era < 2 else "Ubuntu 24.04.1 LTS",
            "hardware": {"cpu": "AMD EPYC 7R13", "cpu_count": 16},
            "packages": [f"{name}==1.{era + k % 3}.{k}" for k, name in enumerate(PACKAGES)],
        }
        envs.append(clean_version_metadata({"environment": raw}).environment)
    return envs
