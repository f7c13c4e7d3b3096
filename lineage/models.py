"""Lineage entities and the typed edges between them.

Every node of the graph is a row of one of the node tables (a dataset version, a code
version, a model version), named by its type and primary key. Edges point downstream:
from what was used to what was made from it, so "upstream" walks edges backwards.
"""

from __future__ import annotations

from django.db import models
from django.urls import reverse

from accounts.models import Team


class NodeType(models.TextChoices):
    DATASET = "dataset", "Dataset version"
    CODE = "code", "Code version"
    VERSION = "version", "Model version"


class EdgeKind(models.TextChoices):
    USED = "used", "used by"  # dataset version → model version trained on it
    TRAINED_BY = "trained_by", "trained by"  # code version → model version it trained
    DERIVED_FROM = "derived_from", "derived from"  # parent model version → child (retrain)
    FINE_TUNED_FROM = "fine_tuned_from", "fine-tuned from"
    DISTILLED_FROM = "distilled_from", "distilled from"


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
