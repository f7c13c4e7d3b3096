"""What the MLflow wire format carries that Modelgate's own models do not.

A version registered through the MLflow API keeps the `run_id` and `run_link` its client
sent, as text: Modelgate never dereferences them (the version's artifacts are what was
uploaded to Modelgate). Its `source` is the version's own (ModelVersion.source), as
Modelgate's API and pages record and show it. Each user may pick the team that MLflow model names
without a dot resolve in.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from accounts.models import Team
from registry.models import ModelVersion


class VersionSource(models.Model):
    version = models.OneToOneField(
        ModelVersion, on_delete=models.CASCADE, primary_key=True, related_name="mlflow"
    )
    run_id = models.CharField(max_length=64, blank=True)
    run_link = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["run_id"], name="mlflow_source_run")]

    def __str__(self) -> str:
        return self.run_id or str(self.version_id)


class UserSettings(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="mlflow_settings",
    )
    default_team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text='MLflow model names without a dot ("churn") resolve in this team.',
    )

    class Meta:
        verbose_name = "MLflow settings"
        verbose_name_plural = "MLflow settings"

    def __str__(self) -> str:
        return f"MLflow settings of {self.user}"
