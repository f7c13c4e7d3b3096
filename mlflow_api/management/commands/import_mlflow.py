"""`python manage.py import_mlflow --from http://host:port [--team T] [--since …]`"""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Team, User
from mlflow_api.importer import Importer, ImportError_, Source


def parse_since(value: str) -> int:
    """An ISO date or datetime (UTC unless it says otherwise), or epoch milliseconds."""
    text = value.strip()
    if text.isdigit():
        return int(text)
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(
            f"--since {value!r}: give an ISO date/time (2024-05-01, 2024-05-01T12:00) "
            "or epoch milliseconds"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


class Command(BaseCommand):
    help = (
        "Copy registered models, versions (numbers kept), tags, descriptions, stages, aliases "
        "and artifacts from a running MLflow server; re-running imports only what is new."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="source", required=True, help="MLflow server URL")
        parser.add_argument("--team", help="team (slug) for MLflow names without a team prefix")
        parser.add_argument("--since", help="only what changed since (ISO date/time or ms)")
        parser.add_argument(
            "--user",
            help="Modelgate user the import acts as (a maintainer of the teams); "
            "default: the only site admin",
        )
        parser.add_argument("--token", default="", help="Bearer token for the MLflow server")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = self._actor(options.get("user"))
        team = None
        if options.get("team"):
            team = Team.objects.filter(slug=options["team"]).first()
            if team is None:
                raise CommandError(f"no team {options['team']!r}")
        since = parse_since(options["since"]) if options.get("since") else 0
        show = not options["no_progress"]
        try:
            source = Source(options["source"], token=options["token"])
            importer = Importer(
                source, actor=actor, team=team, since_ms=since,
                progress=self._progress if show else lambda *a: None,
            )  # fmt: skip
            summary = importer.run()
        except ImportError_ as exc:
            raise CommandError(f"import stopped: {exc}") from None
        except PermissionDenied as exc:
            raise CommandError(f"import stopped: {actor.username}: {exc}") from None
        if show:
            sys.stderr.write("\n")
        self.stdout.write(f"Imported from {source.base} (audit run {importer.run_id}):")
        for line in summary.lines():
            self.stdout.write(f"  {line}")

    def _actor(self, username: str | None) -> User:
        if username:
            user = User.objects.filter(username=username, is_active=True).first()
            if user is None:
                raise CommandError(f"no active user {username!r}")
            return user
        admins = list(User.objects.filter(is_superuser=True, is_active=True)[:2])
        if len(admins) != 1:
            raise CommandError("pass --user: the import acts as a Modelgate user")
        return admins[0]

    def _progress(self, label: str, done: int, total: int) -> None:
        width = 30
        filled = int(width * done / total) if total else width
        bar = "#" * filled + "-" * (width - filled)
        sys.stderr.write(f"\r{label}: [{bar}] {done}/{total}")
        sys.stderr.flush()
