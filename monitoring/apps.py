from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        from registry.signals import stage_changed

        stage_changed.connect(_close_retrain_requests, dispatch_uid="monitoring-retrain-close")


def _close_retrain_requests(sender: Any, version: Any, to_stage: str, **kwargs: Any) -> None:
    from monitoring import retrain

    retrain.version_entered(version, to_stage)
