"""`manage.py seed_demo`: demo teams, personas and models with rich version histories.

Idempotent: teams, users and memberships are fetched or created, and a model that already
exists is left alone (each model is seeded in one transaction, so an existing model is a
complete one). Versions go through `registry.services`, exactly like real registrations;
only the timestamps are moved back afterwards so the history spreads over ~18 months.
"""

from __future__ import annotations

import datetime as dt
import io
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from accounts.models import Membership, Team, User
from lineage import demo as demo_lineage
from monitoring import demo as demo_monitoring
from registry import archiving, demo, policies, promotions, services
from registry.metadata import clean_version_metadata
from registry.models import (
    Artifact,
    Blob,
    Metric,
    ModelVersion,
    RegisteredModel,
    RetentionPolicy,
    Stage,
    StageTransition,
)


class Command(BaseCommand):
    help = "Create demo teams, users (password 'demo') and models with version histories."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--today",
            help="Anchor date (YYYY-MM-DD, UTC) the ~18 months of history end at; default: today.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEMO_MODE:
            raise CommandError(
                "seed_demo creates users with the well-known password 'demo', so it only runs "
                "with DEMO_MODE on (MODELGATE_DEMO=1; never in production mode)."
            )
        started = time.perf_counter()
        now = self._anchor(options.get("today"))
        teams = self._teams()
        users = self._users(teams)
        created = []
        # Archived demo versions get archive jobs: run here, once seeding is done.
        with archiving.deferred():
            for spec in demo.MODELS:
                team = teams[spec.team]
                if RegisteredModel.objects.filter(team=team, name=spec.name).exists():
                    continue
                with transaction.atomic():
                    self._seed_model(spec, team, users, now)
                created.append(spec.name)
            if created:
                with transaction.atomic():
                    self._seed_reviews(teams, users)
                with transaction.atomic():
                    self._seed_pipelines(teams, users, now)
        archived = archiving.run_queued()
        if archived:
            self.stdout.write(f"Ran {archived} archive job(s): archived versions' files moved.")
        self._retention(teams, users)
        if created:
            demo_monitoring.judge()  # the monitors' first round: one breach to look at
        self._summary(teams, created, time.perf_counter() - started)

    def _retention(self, teams: dict[str, Team], users: dict[str, User]) -> None:
        """One retention policy, disabled, for the team settings page's preview."""
        team = next(iter(teams.values()))
        if not RetentionPolicy.objects.filter(team=team).exists():
            archiving.save_retention_policy(team, users["maintainer"], enabled=False,
                                            max_age_days=180, keep_last=10)  # fmt: skip

    # -- set-up ---------------------------------------------------------------------------

    def _anchor(self, today: str | None) -> dt.datetime:
        if not today:
            return timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
        try:
            day = dt.date.fromisoformat(today)
        except ValueError:
            raise CommandError(f"--today {today!r} is not a date like 2025-01-31") from None
        return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)

    def _teams(self) -> dict[str, Team]:
        teams = {}
        for name, slug, description in demo.TEAMS:
            team, _ = Team.objects.get_or_create(
                slug=slug, defaults={"name": name, "description": description}
            )
            teams[slug] = team
        return teams

    def _users(self, teams: dict[str, Team]) -> dict[str, User]:
        users = {}
        for username, first, last, role in demo.USERS:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = User.objects.create_user(
                    username,
                    f"{username}@example.com",
                    demo.DEMO_PASSWORD,
                    first_name=first,
                    last_name=last,
                    is_superuser=role == "admin",
                    is_staff=role == "admin",
                )
            if role != "admin":
                for team in teams.values():
                    Membership.objects.get_or_create(user=user, team=team, defaults={"role": role})
            users[username] = user
        return users

    # -- one model ------------------------------------------------------------------------

    def _seed_model(
        self, spec: demo.ModelSpec, team: Team, users: dict[str, User], now: dt.datetime
    ) -> None:
        planned = demo.plan_versions(spec, now)
        model = services.create_model(
            team=team,
            name=spec.name,
            actor=users["maintainer"],
            description=demo.model_description(spec),
            task_type=spec.task_type,
            framework=spec.framework,
            versioning_scheme=spec.scheme,
            tags=spec.tags,
        )
        versions = []
        for pv in planned:
            actor = users["maintainer"] if pv.index % 5 == 4 else users["contributor"]
            mv = services.register_version(
                model=model,
                actor=actor,
                version=pv.version,
                metadata=clean_version_metadata(pv.metadata),
                files=[
                    services.ArtifactUpload(path, io.BytesIO(data))
                    for path, data in pv.files.items()
                ],
            )
            # created_at is auto_now_add: move it (and the "registered" transition) back
            # onto the demo timeline.
            ModelVersion.objects.filter(pk=mv.pk).update(created_at=pv.created_at)
            _backdate(StageTransition.objects.filter(version=mv), created_at=pv.created_at)
            versions.append(mv)
        demo_lineage.seed_version_lineage(spec, planned, versions, users["contributor"])

        last_event = planned[-1].created_at
        for event in demo.plan_stage_events(spec, planned, now):
            mark = timezone.now()
            # History is replayed through the transition engine itself; today's changes go
            # through promotion requests (_seed_reviews).
            services.apply_transition(
                version=versions[event.index],
                to_stage=event.to_stage,
                actor=users[event.actor],
                comment=event.comment,
            )
            # The transition (and the archiving of a replaced Production version) happened
            # just now; date them when the demo story says they happened.
            _backdate(
                StageTransition.objects.filter(version__model=model, created_at__gte=mark),
                created_at=event.when,
            )
            ModelVersion.objects.filter(model=model, stage_changed_at__gte=mark).update(
                stage_changed_at=event.when
            )
            last_event = max(last_event, event.when)
        RegisteredModel.objects.filter(pk=model.pk).update(
            created_at=planned[0].created_at - dt.timedelta(days=3), updated_at=last_event
        )
        demo_lineage.seed_deployments(spec, versions, users["maintainer"])
        demo_monitoring.seed_monitoring(spec, model, users["contributor"])

    def _seed_pipelines(
        self, teams: dict[str, Team], users: dict[str, User], now: dt.datetime
    ) -> None:
        """The monthly feature jobs the demo versions were trained from, as OpenLineage."""
        months = demo_lineage.months_before(now, 19)
        for slug, team in teams.items():
            domains = {spec.tags.get("domain", "data") for spec in demo.MODELS if spec.team == slug}
            demo_lineage.seed_pipelines(team, users["contributor"], domains, months)

    # -- governance -----------------------------------------------------------------------

    def _seed_reviews(self, teams: dict[str, Team], users: dict[str, User]) -> None:
        """The fraud team's strict Production policy, and requests waiting for review."""
        fraud = teams["fraud"]
        policy = policies.save_policy(
            team=fraud,
            actor=users["maintainer"],
            target_stage="production",
            required_approvals=2,
        )
        for gate in demo.PRODUCTION_GATES:
            policies.add_gate(policy=policy, actor=users["maintainer"], **gate)
        # One model also guards its champion: a candidate may not be worse on test AUC.
        flagship = RegisteredModel.objects.get(team=fraud, name=demo.CHAMPION_GUARDED_MODEL)
        guarded = policies.save_policy(
            team=fraud,
            actor=users["maintainer"],
            model=flagship,
            target_stage="production",
            required_approvals=2,
        )
        for gate in [*demo.PRODUCTION_GATES, demo.CHAMPION_GATE]:
            policies.add_gate(policy=guarded, actor=users["maintainer"], **gate)
        for model in RegisteredModel.objects.filter(
            team__in=teams.values(), versions__stage=Stage.PRODUCTION
        ).distinct()[:3]:
            candidate = model.versions.filter(stage=Stage.STAGING).order_by("-sort_key").first()
            if candidate is None:
                continue
            request = promotions.request_promotion(
                version=candidate,
                to_stage="production",
                actor=users["contributor"],
                justification=demo.REQUEST_JUSTIFICATION.format(version=candidate.version),
            )
            if request.is_open and model.team == fraud:
                promotions.review(
                    request=request,
                    actor=users["reviewer2"],
                    decision="approve",
                    comment="Offline metrics and shadow traffic look good to me.",
                )

    # -- output ---------------------------------------------------------------------------

    def _summary(self, teams: dict[str, Team], created: list[str], elapsed: float) -> None:
        out = self.stdout.write
        models = (
            RegisteredModel.objects.filter(
                team__in=teams.values(), name__in=[s.name for s in demo.MODELS]
            )
            .select_related("team")
            .annotate(
                versions_n=Count("versions"),
                staging_n=Count("versions", filter=Q(versions__stage=Stage.STAGING)),
                archived_n=Count("versions", filter=Q(versions__stage=Stage.ARCHIVED)),
            )
            .order_by("team__slug", "name")
        )
        production = dict(
            ModelVersion.objects.filter(model__in=models, stage=Stage.PRODUCTION).values_list(
                "model_id", "version"
            )
        )
        if created:
            out(
                self.style.SUCCESS(
                    f"Seeded {len(created)} demo model(s) in {elapsed:.1f}s: " + ", ".join(created)
                )
            )
        else:
            out(f"Demo data already present; nothing to do ({elapsed:.1f}s).")
        header = (
            f"{'model':<34} {'scheme':<10} {'framework':<13} {'vers':>4} {'stg':>3} "
            f"{'arch':>4}  production"
        )
        out("")
        out(header)
        out("-" * len(header))
        for m in models:
            out(
                f"{m.team.slug + '/' + m.name:<34} {m.versioning_scheme:<10} {m.framework:<13} "
                f"{m.versions_n:>4} {m.staging_n:>3} {m.archived_n:>4}  "
                f"{production.get(m.pk, '-')}"
            )
        demo_models = RegisteredModel.objects.filter(pk__in=[m.pk for m in models])
        out("")
        out(
            f"Totals: {demo_models.count()} models, "
            f"{ModelVersion.objects.filter(model__in=demo_models).count()} versions, "
            f"{Metric.objects.filter(model__in=demo_models).count()} metrics, "
            f"{Artifact.objects.filter(version__model__in=demo_models).count()} artifacts "
            f"in {Blob.objects.count()} blobs (all models)."
        )
        out("")
        out("Demo logins (password for every account: demo):")
        out(f"  {'username':<12} {'password':<9} role")
        for username, _first, _last, role in demo.USERS:
            label = "site admin (superuser)" if role == "admin" else f"{role} in every team"
            out(f"  {username:<12} {demo.DEMO_PASSWORD:<9} {label}")


def _backdate(transitions: QuerySet[StageTransition], **fields: object) -> int:
    """Move the demo's own, just-recorded transitions onto its story's timeline.

    Stage history is append-only for the application (StageTransition's queryset refuses
    updates); the demo seeder is the one deliberate exception, so it calls the plain
    QuerySet.update explicitly.
    """
    return QuerySet.update(transitions, **fields)
