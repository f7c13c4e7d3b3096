"""`manage.py expire_uploads`: delete upload sessions older than a day with their bytes.

Celery beat runs the same sweep hourly (registry.tasks.expire_uploads); this command is
for cron or by hand. It is idempotent.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from registry.uploads import UPLOAD_MAX_AGE, expire_uploads


class Command(BaseCommand):
    help = "Delete upload sessions (and their temporary bytes) older than a day."

    def handle(self, *args: Any, **options: Any) -> None:
        count = expire_uploads()
        self.stdout.write(f"Expired {count} upload session(s) older than {UPLOAD_MAX_AGE}.")
