"""Live metrics of deployments, monitors over them, and the retrain requests a breach opens.

Points are kept raw for a retention period (settings.LIVE_METRICS_RETENTION_DAYS) and
folded, as they arrive, into hourly rollups (count, sum, min, max) that long charts and
monitors over long windows read instead.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse


class MetricPoint(models.Model):
    deployment = models.ForeignKey(
        "lineage.Deployment", on_delete=models.CASCADE, related_name="metric_points"
    )
    name = models.CharField(max_length=100)
    at = models.DateTimeField()
    value = models.FloatField()

    class Meta:
        indexes = [
            # A chart, and a monitor's window: one deployment's metric by time.
            models.Index(fields=["deployment", "name", "at"], name="monitoring_point_series"),
            # The retention sweep deletes by age.
            models.Index(fields=["at"], name="monitoring_point_age"),
        ]

    def __str__(self) -> str:
        return f"{self.name}={self.value:g} at {self.at:%Y-%m-%d %H:%M}"


class MetricRollup(models.Model):
    """One hour of one deployment's metric: what a 90-day chart draws."""

    deployment = models.ForeignKey(
        "lineage.Deployment", on_delete=models.CASCADE, related_name="metric_rollups"
    )
    name = models.CharField(max_length=100)
    hour = models.DateTimeField()
    count = models.PositiveIntegerField()
    total = models.FloatField()
    low = models.FloatField()
    high = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "deployment", "name", "hour", name="monitoring_rollup_unique_hour"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} in the hour from {self.hour:%Y-%m-%d %H:00}"

    @property
    def mean(self) -> float:
        return self.total / self.count


class Monitor(models.Model):
    """A rule over a model's live metrics, e.g. `live.auc < metrics.test.auc - 0.05 over 1h`,
    evaluated for each of its live deployments."""

    model = models.ForeignKey(
        "registry.RegisteredModel", on_delete=models.CASCADE, related_name="monitors"
    )
    name = models.CharField(max_length=100)
    rule = models.CharField(max_length=500)
    enabled = models.BooleanField(default=True)
    open_retrain = models.BooleanField(
        default=True, help_text="Open a retrain request when it breaches."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_evaluated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint("model", "name", name="monitoring_monitor_unique_name"),
        ]
        indexes = [models.Index(fields=["enabled", "model"], name="monitoring_monitor_enabled")]

    def __str__(self) -> str:
        return f"{self.name}: {self.rule}"


class Breach(models.Model):
    """A monitor's rule holding for one deployment, from `since` until it clears."""

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="breaches")
    deployment = models.ForeignKey(
        "lineage.Deployment", on_delete=models.CASCADE, related_name="breaches"
    )
    since = models.DateTimeField()
    cleared_at = models.DateTimeField(null=True, blank=True)
    observed = models.FloatField()  # the live value over the window when it breached
    threshold = models.FloatField()

    class Meta:
        ordering = ["-since"]
        constraints = [
            # One open breach per monitor and deployment.
            models.UniqueConstraint(
                "monitor",
                "deployment",
                condition=models.Q(cleared_at__isnull=True),
                name="monitoring_breach_one_open",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.monitor.name} on {self.deployment.environment} since {self.since}"


class RetrainState(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "Retraining"  # a version was registered for it
    DONE = "done", "Done"  # that version reached Production
    DISMISSED = "dismissed", "Dismissed"


class RetrainRequest(models.Model):
    """Asks for a new version of a model, with the evidence: which version, which metric,
    since when. A training pipeline picks it up (webhook or API) and registers a version
    "for" it; the request is done when that version reaches Production."""

    model = models.ForeignKey(
        "registry.RegisteredModel", on_delete=models.CASCADE, related_name="retrain_requests"
    )
    version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.PROTECT, related_name="retrain_requests"
    )
    breach = models.OneToOneField(
        Breach, on_delete=models.SET_NULL, null=True, blank=True, related_name="retrain_request"
    )
    metric = models.CharField(max_length=100)
    reason = models.TextField()
    since = models.DateTimeField()
    state = models.CharField(max_length=12, choices=RetrainState.choices, default="open")
    new_version = models.ForeignKey(
        "registry.ModelVersion",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="retrained_for",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["model", "state"], name="monitoring_retrain_state")]

    def __str__(self) -> str:
        return f"retrain {self.model.name} (from {self.version.version}): {self.metric}"

    def get_absolute_url(self) -> str:
        return reverse("retrain-request", args=[self.model.team.slug, self.pk])
