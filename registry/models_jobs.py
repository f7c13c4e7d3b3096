"""Background jobs (archive, restore, retention sweep) and per-team retention policies.

Rows a Celery worker works through (registry.archiving); registry.models imports these
classes so Django finds them.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Team


class JobKind(models.TextChoices):
    ARCHIVE = "archive", "Archive"
    RESTORE = "restore", "Restore"
    RETENTION_SWEEP = "retention_sweep", "Retention sweep"


class JobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


ACTIVE_STATES = (JobState.QUEUED, JobState.RUNNING)


class Job(models.Model):
    """One archive, restore or retention-sweep run: state, progress, attempts, last error.

    At most one queued or running archive/restore job per version (a constraint): asking
    again returns the job already under way.
    """

    kind = models.CharField(max_length=20, choices=JobKind.choices)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="jobs")  # fmt: skip
    version = models.ForeignKey(
        "registry.ModelVersion", null=True, blank=True, on_delete=models.CASCADE,
        related_name="jobs",
    )  # fmt: skip
    state = models.CharField(max_length=10, choices=JobState.choices, default=JobState.QUEUED)
    # Progress in bytes (archive/restore) or versions (a sweep).
    progress_done = models.PositiveBigIntegerField(default=0)
    progress_total = models.PositiveBigIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    # Touched while a worker makes progress; a running job whose heartbeat is old lost
    # its worker (the stale-job sweep hands it out again).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The stale sweep: queued/running jobs by age.
            models.Index(fields=["state", "created_at"], name="registry_job_state"),
            # The jobs page filters by kind (and state), newest first.
            models.Index(fields=["kind", "state", "-id"], name="registry_job_kind"),
            models.Index(fields=["state", "-id"], name="registry_job_state_id"),
            # The jobs page of a user: their teams' jobs, newest first.
            models.Index(fields=["team", "-id"], name="registry_job_team"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["version"],
                condition=Q(state__in=["queued", "running"]) & Q(version__isnull=False),
                name="registry_job_one_active_per_version",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} job {self.pk} ({self.state})"

    @property
    def percent(self) -> int:
        if not self.progress_total:
            return 100 if self.state == JobState.DONE else 0
        return min(100, int(100 * self.progress_done / self.progress_total))

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES


class RetentionPolicy(models.Model):
    """A team's rule for moving versions nobody uses to the archive storage.

    A Development version is selected when it was never promoted and is older than
    `max_age_days`, or when it is not among the `keep_last` newest versions of its model.
    Versions holding an alias or in Staging/Production are never selected.
    """

    team = models.OneToOneField(Team, on_delete=models.CASCADE, related_name="retention_policy")
    enabled = models.BooleanField(default=False)
    max_age_days = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(36500)],
        help_text="Archive never-promoted Development versions older than this many days.",
    )  # fmt: skip
    keep_last = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(10000)],
        help_text="Keep this many newest versions of each model hot.",
    )  # fmt: skip
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    updated_at = models.DateTimeField(auto_now=True)
    last_swept_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name_plural = "retention policies"
        indexes = [models.Index(fields=["enabled"], name="registry_retention_enabled")]

    def __str__(self) -> str:
        return f"retention policy of {self.team}"
