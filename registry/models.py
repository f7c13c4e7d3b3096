from __future__ import annotations

import datetime as dt
import posixpath
import uuid
from typing import Any

from django.conf import settings
from django.core.validators import MaxLengthValidator, RegexValidator
from django.db import models
from django.db.models import F
from django.db.models.functions import Lower, Upper
from django.urls import reverse

from accounts import policy
from accounts.models import AppendOnlyModel, AppendOnlyQuerySet, Team
from registry.fields import ByteOrderCharField
from registry.markdown import MAX_DESCRIPTION_LENGTH
from registry.models_webhooks import (  # noqa: F401 -- the app's models live in registry.models
    DeliveryState,
    Webhook,
    WebhookAllowedHost,
    WebhookDelivery,
)
from registry.versioning import Scheme

model_name_validator = RegexValidator(
    r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z",
    "Model names start with a letter or digit and use only letters, digits, '.', '_' and '-'.",
)
tag_key_validator = RegexValidator(
    r"\A[A-Za-z0-9][A-Za-z0-9._:/-]{0,62}\Z",
    "Tag keys start with a letter or digit and use only letters, digits and . _ : / -",
)


class Stage(models.TextChoices):
    DEVELOPMENT = "development", "Development"
    STAGING = "staging", "Staging"
    PRODUCTION = "production", "Production"
    ARCHIVED = "archived", "Archived"


class TaskType(models.TextChoices):
    CLASSIFICATION = "classification", "Classification"
    REGRESSION = "regression", "Regression"
    RANKING = "ranking", "Ranking"
    RECOMMENDATION = "recommendation", "Recommendation"
    FORECASTING = "forecasting", "Forecasting"
    CLUSTERING = "clustering", "Clustering"
    ANOMALY_DETECTION = "anomaly_detection", "Anomaly detection"
    OBJECT_DETECTION = "object_detection", "Object detection"
    SEGMENTATION = "segmentation", "Segmentation"
    TEXT_GENERATION = "text_generation", "Text generation"
    EMBEDDING = "embedding", "Embedding"
    OTHER = "other", "Other"


class Split(models.TextChoices):
    TRAIN = "train", "Train"
    VALIDATION = "validation", "Validation"
    TEST = "test", "Test"
    BUSINESS = "business", "Business"


class Direction(models.TextChoices):
    HIGHER = "higher", "Higher is better"
    LOWER = "lower", "Lower is better"


class Visibility(models.TextChoices):
    TEAM = "team", "Team members"
    INTERNAL = "internal", "Everyone signed in"


class RegisteredModelQuerySet(models.QuerySet["RegisteredModel"]):
    def visible_to(self, user: Any) -> RegisteredModelQuerySet:
        return self.filter(policy.readable_models_q(user))


class ModelVersionQuerySet(models.QuerySet["ModelVersion"]):
    def visible_to(self, user: Any) -> ModelVersionQuerySet:
        return self.filter(policy.readable_models_q(user, "model"))


class RegisteredModel(models.Model):
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="models")
    name = models.CharField(max_length=100, validators=[model_name_validator])
    description = models.TextField(
        blank=True,
        help_text="Markdown; rendered sanitised.",
        validators=[MaxLengthValidator(MAX_DESCRIPTION_LENGTH)],
    )
    task_type = models.CharField(max_length=30, choices=TaskType.choices, default=TaskType.OTHER)
    framework = models.CharField(max_length=50, blank=True)
    versioning_scheme = models.CharField(
        max_length=20, choices=[(s.value, s.value.title()) for s in Scheme], default=Scheme.SEMANTIC
    )
    visibility = models.CharField(
        max_length=10,
        choices=Visibility.choices,
        default=Visibility.TEAM,
        help_text="Who may read the model: its team, or every signed-in user.",
    )
    allow_multiple_production = models.BooleanField(
        default=False,
        help_text="Let several versions serve in Production at once (e.g. A/B tests); "
        "otherwise entering Production replaces the current Production version.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Maintained by registry.services under the model's row lock; latest_version is the
    # highest version by the scheme's precedence.
    last_sequence = models.PositiveIntegerField(default=0, editable=False)
    version_count = models.PositiveIntegerField(default=0, editable=False)
    latest_version = models.ForeignKey(
        "ModelVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    objects = RegisteredModelQuerySet.as_manager()

    class Meta:
        ordering = ["team__name", "name"]
        constraints = [
            # One name per team whatever its case ("Churn" and "churn" would confuse).
            models.UniqueConstraint("team", Lower("name"), name="registry_model_unique_name_ci"),
        ]
        indexes = [
            # Models list: sort by name / recent activity, filter by framework and task.
            models.Index(fields=["name"], name="registry_model_name"),
            models.Index(fields=["-updated_at"], name="registry_model_updated"),
            models.Index(fields=["framework"], name="registry_model_framework"),
            models.Index(fields=["task_type"], name="registry_model_task"),
            # Models list sorted by "most versions".
            models.Index(F("version_count").desc(), "id", name="registry_model_versions"),
        ]

    def __str__(self) -> str:
        return f"{self.team.slug}/{self.name}"

    def get_absolute_url(self) -> str:
        return reverse("model-detail", args=[self.team.slug, self.name])


class ModelTag(models.Model):
    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="tags")
    key = models.CharField(max_length=63, validators=[tag_key_validator])
    value = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(fields=["model", "key"], name="registry_modeltag_unique_key"),
        ]
        indexes = [
            # Models list "tag" filter: key, or key=value.
            models.Index(fields=["key", "value"], name="registry_modeltag_kv"),
            # Models list text search matching a tag value (value__iexact: UPPER(value)).
            models.Index(Upper("value"), name="registry_modeltag_value_ci"),
        ]

    def __str__(self) -> str:
        return f"{self.key}={self.value}" if self.value else self.key


class ColdReason(models.TextChoices):
    ARCHIVED = "archived", "Archived"
    RETENTION = "retention", "Retention policy"


MAX_SOURCE_LENGTH = 2000  # as long as a URL may be (registry.outbound.MAX_URL_LENGTH)


class ModelVersion(models.Model):
    model = models.ForeignKey(RegisteredModel, on_delete=models.PROTECT, related_name="versions")
    version = models.CharField(max_length=128)
    sequence = models.PositiveIntegerField(editable=False)
    # Byte order of sort_key is the scheme's precedence (registry.versioning.sort_key).
    sort_key = ByteOrderCharField(max_length=255, editable=False)
    description = models.TextField(
        blank=True, validators=[MaxLengthValidator(MAX_DESCRIPTION_LENGTH)]
    )
    task_type = models.CharField(max_length=30, choices=TaskType.choices, blank=True)
    framework = models.CharField(max_length=50, blank=True)
    framework_version = models.CharField(max_length=50, blank=True)
    signature = models.JSONField(default=dict, blank=True)
    params = models.JSONField("hyperparameters", default=dict, blank=True)
    environment = models.JSONField(default=dict, blank=True)
    code_repository = models.CharField(max_length=500, blank=True)
    code_commit = models.CharField(max_length=64, blank=True)
    code_branch = models.CharField(max_length=255, blank=True)
    code_entry_point = models.CharField(max_length=500, blank=True)
    code_dirty = models.BooleanField(null=True, blank=True)
    # Where the model came from outside Modelgate ("s3://bucket/model/", "runs:/…"), as
    # text: never read or written by the server (the artifacts are what was uploaded).
    source = models.CharField(max_length=MAX_SOURCE_LENGTH, blank=True)
    training_started_at = models.DateTimeField(null=True, blank=True)
    training_ended_at = models.DateTimeField(null=True, blank=True)
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.DEVELOPMENT)
    stage_changed_at = models.DateTimeField(null=True, blank=True)
    # Deprecation (registry.deprecation): pages show a banner, API answers carry
    # Deprecation and Sunset headers.
    deprecated_at = models.DateTimeField(null=True, blank=True, editable=False)
    deprecation_reason = models.CharField(max_length=500, blank=True, editable=False)
    sunset_date = models.DateField(null=True, blank=True, editable=False)
    # Cold: the version no longer counts as live, so its blobs that no live version shares
    # move to the archive storage (registry.archiving). Set on entering Archived or by a
    # retention policy (the stage then stays); cleared by a restore or by leaving Archived.
    cold_since = models.DateTimeField(null=True, blank=True, editable=False)
    cold_reason = models.CharField(
        max_length=10, choices=ColdReason.choices, blank=True, editable=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ModelVersionQuerySet.as_manager()

    class Meta:
        ordering = ["model_id", "-sort_key"]
        constraints = [
            models.UniqueConstraint(fields=["model", "version"], name="registry_version_unique"),
            models.UniqueConstraint(
                fields=["model", "sequence"], name="registry_version_unique_sequence"
            ),
            # Version history pages by keyset on (model, sort_key).
            models.UniqueConstraint(
                fields=["model", "sort_key"], name="registry_version_unique_sort_key"
            ),
        ]
        indexes = [
            # Version history filtered by stage, in version order; current Production/Staging.
            models.Index(fields=["model", "stage", "sort_key"], name="registry_version_stage"),
            # Models list "has a version in stage X" (EXISTS by stage, then model).
            models.Index(fields=["stage", "model"], name="registry_version_stage_model"),
            models.Index(fields=["-created_at"], name="registry_version_created"),
            # Search terms `version = …` (any model) and `framework = …` (iexact: UPPER()).
            models.Index(fields=["version"], name="registry_version_string"),
            models.Index(Upper("framework"), name="registry_version_framework_ci"),
        ]

    def __str__(self) -> str:
        return f"{self.model.name} {self.version}"

    def get_absolute_url(self) -> str:
        return reverse("version-detail", args=[self.model.team.slug, self.model.name, self.version])

    @property
    def training_duration(self) -> dt.timedelta | None:
        if self.training_started_at and self.training_ended_at:
            return self.training_ended_at - self.training_started_at
        return None


class VersionTag(models.Model):
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="tags")
    key = models.CharField(max_length=63, validators=[tag_key_validator])
    value = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(fields=["version", "key"], name="registry_versiontag_unique"),
        ]
        indexes = [models.Index(fields=["key", "value"], name="registry_versiontag_kv")]

    def __str__(self) -> str:
        return f"{self.key}={self.value}" if self.value else self.key


class Metric(models.Model):
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="metrics")
    # Denormalised from version.model so a metric's trend across versions is one index range.
    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="+")
    split = models.CharField(max_length=20, choices=Split.choices)
    name = models.CharField(max_length=100)
    value = models.FloatField()
    direction = models.CharField(max_length=10, choices=Direction.choices, default=Direction.HIGHER)

    class Meta:
        ordering = ["split", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "split", "name"], name="registry_metric_unique"
            ),
        ]
        indexes = [
            # Metric trend chart on the model page.
            models.Index(fields=["model", "split", "name"], name="registry_metric_trend"),
            # Search by metric threshold (metrics.test.auc >= 0.9).
            models.Index(fields=["split", "name", "value"], name="registry_metric_value"),
        ]

    def __str__(self) -> str:
        return f"{self.split}.{self.name}={self.value}"


class BlobLocation(models.TextChoices):
    HOT = "hot", "Hot storage"
    ARCHIVE = "archive", "Archive storage"


class Blob(models.Model):
    """File content stored once, addressed by its SHA-256, shared by every version using it."""

    sha256 = models.CharField(max_length=64, primary_key=True)
    size = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    # Where the bytes live (registry.archiving moves them): "hot" in the `artifacts`
    # storage, or "archive" once no live version uses them. Same key in both storages.
    location = models.CharField(
        max_length=10, choices=BlobLocation.choices, default=BlobLocation.HOT, db_index=True
    )
    # When a copy in the archive storage was written and its SHA-256 checked (then the hot
    # copy may go); when the hot copy was deleted; when it was last copied back.
    archive_verified_at = models.DateTimeField(null=True, blank=True, editable=False)
    archived_at = models.DateTimeField(null=True, blank=True, editable=False)
    restored_at = models.DateTimeField(null=True, blank=True, editable=False)

    def __str__(self) -> str:
        return self.sha256

    @property
    def storage_name(self) -> str:
        return blob_storage_name(self.sha256)


def blob_storage_name(sha256: str) -> str:
    return f"blobs/{sha256[:2]}/{sha256[2:4]}/{sha256}"


class Artifact(models.Model):
    """One file of a version's manifest: its normalised path and the blob holding its bytes."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="artifacts")
    path = models.CharField(max_length=1024)
    blob = models.ForeignKey(Blob, on_delete=models.PROTECT, related_name="artifacts")
    size = models.PositiveBigIntegerField()

    class Meta:
        ordering = ["path"]
        constraints = [
            models.UniqueConstraint(fields=["version", "path"], name="registry_artifact_unique"),
        ]

    def __str__(self) -> str:
        return self.path

    def get_absolute_url(self) -> str:
        v = self.version
        return reverse(
            "artifact-download", args=[v.model.team.slug, v.model.name, v.version, self.path]
        )

    @property
    def filename(self) -> str:
        return posixpath.basename(self.path)


class StageTransition(AppendOnlyModel):
    """Append-only record of a stage change: who, when, from, to and why."""

    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="transitions")
    from_stage = models.CharField(max_length=20, choices=Stage.choices, blank=True)
    to_stage = models.CharField(max_length=20, choices=Stage.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    comment = models.TextField(blank=True)
    request = models.ForeignKey(
        "registry.PromotionRequest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="transitions",
        help_text="The promotion request that made this change, if any.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["version", "-created_at"], name="registry_transition_version"),
            models.Index(fields=["-created_at"], name="registry_transition_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.version}: {self.from_stage or '∅'} → {self.to_stage}"


class UploadSession(models.Model):
    """A resumable upload in flight (registry.uploads): the bytes so far live in a private
    temporary storage object, so a broken connection resumes at `offset`. No Blob row is
    made until a version attaches the completed upload; expire_uploads() deletes sessions
    (and their bytes) older than a day."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    offset = models.PositiveBigIntegerField(default=0)
    temp_name = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # Attaching: the caller's completed uploads of a hash.
            models.Index(fields=["created_by", "sha256"], name="registry_upload_owner_sha"),
            # expire_uploads(): the oldest sessions first.
            models.Index(fields=["created_at"], name="registry_upload_created"),
        ]

    def __str__(self) -> str:
        return f"upload {self.id} ({self.offset}/{self.size})"

    @property
    def complete(self) -> bool:
        return self.completed_at is not None


alias_name_validator = RegexValidator(
    r"\A[a-z][a-z0-9_-]{0,62}\Z",
    "Alias names start with a lowercase letter and use only a-z, 0-9, '_' and '-' "
    "(at most 63 characters).",
)


class Alias(models.Model):
    """A named pointer (champion, candidate…) to one version of a model; unique per model.
    Set, moved and deleted only through registry.aliases, which audits every change.
    A protected alias may be created, moved or deleted only by a maintainer."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="aliases")
    name = models.CharField(max_length=63, validators=[alias_name_validator])
    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="aliases")
    protected = models.BooleanField(default=False)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model_id", "name"]
        verbose_name_plural = "aliases"
        constraints = [
            models.UniqueConstraint(fields=["model", "name"], name="registry_alias_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.model.name}@{self.name}"


# Lifecycle governance models live in their own module; imported here so Django finds them.
# Archive/restore jobs and retention policies (registry.archiving).
from registry.models_jobs import Job, JobKind, JobState, RetentionPolicy  # noqa: E402, F401
from registry.models_lifecycle import (  # noqa: E402, F401
    AliasEvent,
    Decision,
    GatedStage,
    GateKind,
    Notification,
    PromotionGate,
    PromotionPolicy,
    PromotionRequest,
    Purpose,
    RequestState,
    Review,
)
