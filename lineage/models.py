"""Lineage entities and the typed edges between them.

Every node of the graph is a row of one of the node tables (a dataset version, a code
version, a model version), named by its type and primary key. Edges point downstream:
from what was used to what was made from it, so "upstream" walks edges backwards.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse

from accounts.models import Team


class NodeType(models.TextChoices):
    DATASET = "dataset", "Dataset version"
    FEATURES = "features", "Feature set version"
    CODE = "code", "Code version"
    RUN = "run", "Training run"
    VERSION = "version", "Model version"
    DEPLOYMENT = "deployment", "Deployment"


class EdgeKind(models.TextChoices):
    USED = "used", "used by"  # dataset/feature set version → run or model version using it
    PRODUCED = "produced", "produced"  # run → dataset/feature set/model version it wrote
    TRAINED_BY = "trained_by", "trained by"  # code version → model version it trained
    DERIVED_FROM = "derived_from", "derived from"  # parent model version → child (retrain)
    FINE_TUNED_FROM = "fine_tuned_from", "fine-tuned from"
    DISTILLED_FROM = "distilled_from", "distilled from"
    DEPLOYED_AS = "deployed_as", "deployed as"  # model version → deployment


PARENT_KINDS = (EdgeKind.DERIVED_FROM, EdgeKind.FINE_TUNED_FROM, EdgeKind.DISTILLED_FROM)


class Dataset(models.Model):
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="datasets")
    name = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team__name", "name"]
        constraints = [
            models.UniqueConstraint("team", "name", name="lineage_dataset_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.team.slug}/{self.name}"


class DatasetVersion(models.Model):
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="versions")
    version = models.CharField(max_length=200, blank=True)
    uri = models.CharField(max_length=1000, blank=True)
    digest = models.CharField(max_length=200, blank=True, help_text="Content digest.")
    size_bytes = models.BigIntegerField(null=True, blank=True)
    rows = models.BigIntegerField(null=True, blank=True)
    schema = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["dataset", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                "dataset", "version", name="lineage_dataset_version_unique_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dataset.name}@{self.version}" if self.version else self.dataset.name

    def get_absolute_url(self) -> str:
        return reverse("dataset-version", args=[self.dataset.team.slug, self.pk])

    @property
    def team(self) -> Team:
        """The owning team, for the permission policy."""
        return self.dataset.team


class CodeVersion(models.Model):
    """A commit of a repository that trained model versions (captured by the client)."""

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="code_versions")
    repository = models.CharField(max_length=500)
    commit = models.CharField(max_length=64)
    branch = models.CharField(max_length=255, blank=True)
    path = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team__name", "repository", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                "team", "repository", "commit", "path", name="lineage_code_version_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.repository}@{self.commit[:12]}"

    def get_absolute_url(self) -> str:
        return reverse("code-version", args=[self.team.slug, self.pk])


class FeatureSet(models.Model):
    """A named group of features (a feature store's feature view or table)."""

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="feature_sets")
    name = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team__name", "name"]
        constraints = [
            models.UniqueConstraint("team", "name", name="lineage_feature_set_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.team.slug}/{self.name}"


class FeatureSetVersion(models.Model):
    feature_set = models.ForeignKey(FeatureSet, on_delete=models.PROTECT, related_name="versions")
    version = models.CharField(max_length=200, blank=True)
    features = models.JSONField(default=list, blank=True, help_text="Feature names.")
    digest = models.CharField(max_length=200, blank=True, help_text="Definition digest.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["feature_set", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                "feature_set", "version", name="lineage_feature_set_version_unique"
            ),
        ]

    def __str__(self) -> str:
        name = self.feature_set.name
        return f"{name}@{self.version}" if self.version else name

    def get_absolute_url(self) -> str:
        return reverse("feature-set-version", args=[self.feature_set.team.slug, self.pk])

    @property
    def team(self) -> Team:
        return self.feature_set.team


class RunState(models.TextChoices):
    RUNNING = "running", "Running"
    COMPLETE = "complete", "Complete"
    FAILED = "failed", "Failed"
    ABORTED = "aborted", "Aborted"


class TrainingRun(models.Model):
    """A run of a training (or data) job, recorded by the client or by OpenLineage events."""

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="training_runs")
    external_id = models.CharField(max_length=200, help_text="The orchestrator's run id.")
    job = models.CharField(max_length=300, blank=True, help_text="namespace/name of the job.")
    url = models.URLField(max_length=1000, blank=True)
    state = models.CharField(max_length=10, choices=RunState.choices, default=RunState.RUNNING)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    hardware = models.JSONField(default=dict, blank=True)
    params = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint("team", "external_id", name="lineage_run_unique_external_id"),
        ]
        indexes = [models.Index(fields=["team", "-created_at"], name="lineage_run_recent")]

    def __str__(self) -> str:
        return f"{self.job or 'run'} {self.external_id[:12]}"

    def get_absolute_url(self) -> str:
        return reverse("training-run", args=[self.team.slug, self.pk])


class DeploymentStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    REPLACED = "replaced", "Replaced"
    RETIRED = "retired", "Retired"
    FAILED = "failed", "Failed"


class Deployment(models.Model):
    """A model version serving in an environment (e.g. prod-eu) from `deployed_at` until
    it is replaced or retired (`ended_at`): the history answers "what ran in E at T"."""

    version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.PROTECT, related_name="deployments"
    )
    # Denormalised from the version: history per model and per environment is one index.
    model = models.ForeignKey(
        "registry.RegisteredModel", on_delete=models.PROTECT, related_name="deployments"
    )
    environment = models.CharField(max_length=63)
    target = models.CharField(max_length=500, blank=True, help_text="Endpoint or service.")
    status = models.CharField(
        max_length=10, choices=DeploymentStatus.choices, default=DeploymentStatus.ACTIVE
    )
    deployed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    deployed_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    replaced_by = models.OneToOneField(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replaces"
    )
    comment = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-deployed_at", "-pk"]
        constraints = [
            # One live deployment of a model per environment and target.
            models.UniqueConstraint(
                "model",
                "environment",
                "target",
                condition=models.Q(status="active"),
                name="lineage_deployment_one_active",
            ),
        ]
        indexes = [
            models.Index(
                fields=["model", "environment", "-deployed_at"], name="lineage_deploy_history"
            ),
            models.Index(fields=["environment", "-deployed_at"], name="lineage_deploy_env"),
            models.Index(fields=["version", "status"], name="lineage_deploy_version"),
        ]

    def __str__(self) -> str:
        return f"{self.version} in {self.environment}"

    def get_absolute_url(self) -> str:
        return reverse("deployment", args=[self.model.team.slug, self.pk])


class Edge(models.Model):
    """One typed, directed link from an upstream node to a downstream one."""

    kind = models.CharField(max_length=20, choices=EdgeKind.choices)
    src_type = models.CharField(max_length=10, choices=NodeType.choices)
    src_id = models.BigIntegerField()
    dst_type = models.CharField(max_length=10, choices=NodeType.choices)
    dst_id = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "src_type", "src_id", "dst_type", "dst_id", name="lineage_edge_unique"
            ),
        ]
        indexes = [
            # Downstream walks (impact analysis) follow edges from a node.
            models.Index(fields=["src_type", "src_id"], name="lineage_edge_src"),
            # Upstream walks (where a version came from) follow edges into a node.
            models.Index(fields=["dst_type", "dst_id"], name="lineage_edge_dst"),
        ]

    def __str__(self) -> str:
        return f"{self.src_type}:{self.src_id} -{self.kind}-> {self.dst_type}:{self.dst_id}"


class RenderState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Rendering"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class RenderJob(models.Model):
    """Rendering one graph to SVG: a row with a state that a Celery worker works through.

    Keyed by the SHA-256 of the DOT source, so an unchanged graph is rendered once.
    """

    digest = models.CharField(max_length=64, unique=True)
    dot = models.TextField()
    state = models.CharField(max_length=10, choices=RenderState.choices, default=RenderState.QUEUED)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The sweep looks for queued and running jobs by age.
            models.Index(fields=["state", "created_at"], name="lineage_render_state"),
        ]

    def __str__(self) -> str:
        return f"render {self.digest[:12]} ({self.state})"

    @property
    def svg_name(self) -> str:
        return f"lineage-graphs/{self.digest}.svg"
