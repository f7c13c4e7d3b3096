from __future__ import annotations

import os
import sys

from django.apps import AppConfig
from django.conf import settings


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Model registry"

    def ready(self) -> None:
        # `make run` without a broker: the development server's serving process (the
        # autoreloader's child, RUN_MAIN) runs the beat schedule itself.
        if (
            settings.CELERY_TASK_ALWAYS_EAGER
            and settings.INPROCESS_BEAT
            and os.environ.get("RUN_MAIN") == "true"
            and "runserver" in sys.argv
        ):
            from config import inprocess_beat

            inprocess_beat.start()
