"""Mint API tokens for the demo accounts (demo mode only): what `make journey` drives the
running demo server with. Earlier journey tokens are revoked; the secrets are printed as
JSON once and stored nowhere."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts import tokens
from accounts.models import ApiToken, User

SCOPES = {
    "contributor": ["read", "write"],
    "maintainer": ["read", "write", "review"],
    "reviewer": ["read", "review"],
    "reviewer2": ["read", "review"],
}
NAME = "journey"


class Command(BaseCommand):
    help = "Print fresh API tokens of the demo accounts as JSON (demo mode only)."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEMO_MODE:
            raise CommandError("demo_tokens only runs in demo mode (MODELGATE_DEMO=1)")
        secrets = {}
        for username, scopes in SCOPES.items():
            user = User.objects.filter(username=username).first()
            if user is None:
                raise CommandError(f"no demo user {username!r}: run `manage.py seed_demo` first")
            earlier = ApiToken.objects.filter(user=user, name__startswith=NAME)
            for old in earlier.filter(revoked_at__isnull=True):
                tokens.revoke(old, user)
            now = timezone.now()
            name, expiry = f"{NAME} {now:%Y-%m-%d %H:%M:%S.%f}", now + dt.timedelta(days=1)
            _token, secret = tokens.create(user, name=name, scopes=scopes, expires_at=expiry)
            secrets[username] = secret
        self.stdout.write(json.dumps(secrets))
