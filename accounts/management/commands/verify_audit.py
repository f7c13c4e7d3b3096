"""`manage.py verify_audit`: walk the audit log's hash chain, oldest event first.

Exits 0 and prints "audit log intact" when every event links to the one before it, hashes
to its stored hash and the head row points at the newest event; otherwise names the first
broken event and what happened to it, and exits 1.

The last line prints the head hash. A chain can be recomputed by someone who can write
to the database, so keep that value somewhere else (a ticket, a log shipper): a later run
that prints a different history up to that point shows a rewrite the chain alone cannot.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import audit
from accounts.models import AuditHead


class Command(BaseCommand):
    help = "Verify the audit log's hash chain; report the first edited, deleted or inserted event."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=int,
            default=2000,
            help="Events read per query (memory stays constant whatever the log's size).",
        )

    def handle(self, *args: Any, batch_size: int, **options: Any) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        checked, problem = audit.verify_chain(batch_size=batch_size)
        events = f"{checked} event{'' if checked == 1 else 's'}"
        if problem is None:
            head = AuditHead.objects.get(pk=1)
            self.stdout.write(self.style.SUCCESS(f"Checked {events}: audit log intact."))
            self.stdout.write(f"Head: event #{head.last_event_id}, hash {head.last_hash}")
            return
        where = f"event #{problem.event_id}" if problem.event_id else "the head of the log"
        raise CommandError(
            f"Checked {events} before the first break. Audit log broken at {where}: "
            f"{problem.problem}."
        )
