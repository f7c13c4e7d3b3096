"""Prepare a Modelgate database for ../shared/bench/mlflow_registry_bench.py.

Creates team `bench`, a maintainer `bench` in it (their only team, so MLflow names without
a dot land there), a read+write API token, and promotion policies of 0 approvals for
Staging and Production (so transition-stage applies directly, as on MLflow's server).
Prints the token. Run with the benchmark's DATABASE_URL:

    .venv/bin/python bench/mlflow_setup.py
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def main() -> None:
    import django

    django.setup()
    from accounts import tokens
    from accounts.models import Membership, Team, User
    from registry.models import PromotionPolicy

    team, _ = Team.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    user, _ = User.objects.get_or_create(username="bench")
    Membership.objects.get_or_create(user=user, team=team, defaults={"role": "maintainer"})
    for stage in ("staging", "production"):
        for purpose in ("promotion", "rollback"):
            PromotionPolicy.objects.update_or_create(
                team=team, model=None, target_stage=stage, purpose=purpose,
                defaults={"required_approvals": 0},
            )  # fmt: skip
    _token, secret = tokens.create(
        user, name=f"bench-{uuid.uuid4().hex[:6]}", scopes=["read", "write"]
    )
    print(secret)


if __name__ == "__main__":
    main()
