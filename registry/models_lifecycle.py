"""Lifecycle governance: promotion policies and their gates, promotion requests and their
reviews, alias history and in-app notifications.

The rules that use these rows live in registry.policies (which policy applies, gate
evaluation) and registry.promotions (requests, reviews, applying a transition).
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from accounts.models import AppendOnlyModel, AppendOnlyQuerySet, Membership, Team

Role = Membership.Role
STAGES = [
    ("development", "Development"),
    ("staging", "Staging"),
    ("production", "Production"),
    ("archived", "Archived"),
]


class Purpose(models.TextChoices):
    PROMOTION = "promotion", "Promotion"
    ROLLBACK = "rollback", "Rollback"


class GatedStage(models.TextChoices):
    STAGING = "staging", "Staging"
    PRODUCTION = "production", "Production"


def default_reviewer_roles() -> list[str]:
    return [Role.REVIEWER.value, Role.MAINTAINER.value]


class PromotionPolicy(models.Model):
    """What it takes to move a version into Staging or Production (or roll one back).

    A team-wide policy (model empty) applies to every model of the team unless the model
    has its own for the same target and purpose. Without any row the built-in defaults of
    registry.policies apply.
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="promotion_policies")
    model = models.ForeignKey(
        "registry.RegisteredModel",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="promotion_policies",
        help_text="Leave empty for the team-wide policy; set it to override for one model.",
    )
    target_stage = models.CharField(max_length=20, choices=GatedStage.choices)
    purpose = models.CharField(max_length=20, choices=Purpose.choices, default=Purpose.PROMOTION)
    required_approvals = models.PositiveSmallIntegerField(
        default=1,
        validators=[MaxValueValidator(10)],
        help_text="Distinct eligible reviewers who must approve; 0 lets a permitted role "
        "change the stage directly (gates still apply).",
    )
    reviewer_roles = models.JSONField(
        default=default_reviewer_roles,
        help_text="Team roles whose members may approve or reject.",
    )
    author_may_review = models.BooleanField(
        default=False,
        help_text="Whether the version's author may review it (the requester never may).",
    )
    expiry_hours = models.PositiveIntegerField(
        default=168,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 90)],
        help_text="Open requests expire after this many hours.",
    )
    replaced_stage = models.CharField(
        max_length=20,
        choices=[("archived", "Archived"), ("staging", "Staging"), ("development", "Development")],
        default="archived",
        help_text="Where the version that held Production goes when a new one enters it.",
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "promotion policies"
        ordering = ["team__name", "model__name", "target_stage", "purpose"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "target_stage", "purpose"],
                condition=Q(model__isnull=True),
                name="registry_policy_unique_team",
            ),
            models.UniqueConstraint(
                fields=["model", "target_stage", "purpose"],
                condition=Q(model__isnull=False),
                name="registry_policy_unique_model",
            ),
        ]

    def __str__(self) -> str:
        scope = self.model.name if self.model_id else f"team {self.team.slug}"
        return f"{self.get_purpose_display()} to {self.get_target_stage_display()} ({scope})"

    def clean(self) -> None:
        from registry.policies import clean_policy

        clean_policy(self)


class GateKind(models.TextChoices):
    METRIC_RULE = "metric_rule", "Metric rule"
    CHAMPION = "champion", "Not worse than Production"
    TIME_IN_STAGE = "time_in_stage", "Time in stage"
    REQUIRED_METADATA = "required_metadata", "Required metadata"


class PromotionGate(models.Model):
    """One automated check of a policy; which fields matter depends on `kind`."""

    policy = models.ForeignKey(PromotionPolicy, on_delete=models.CASCADE, related_name="gates")
    kind = models.CharField(max_length=30, choices=GateKind.choices)
    rule = models.CharField(
        max_length=500,
        blank=True,
        help_text="Metric rule: a search-language condition, e.g. metrics.test.auc >= 0.9",
    )
    metric = models.CharField(
        max_length=200,
        blank=True,
        help_text="Not worse than Production: the metric as split.name, e.g. test.auc",
    )
    tolerance = models.FloatField(
        default=0,
        validators=[MinValueValidator(0)],
        help_text="Not worse than Production: how much worse is still acceptable.",
    )
    stage = models.CharField(
        max_length=20,
        choices=STAGES,
        blank=True,
        help_text="Time in stage: the stage the version must have spent time in.",
    )
    hours = models.PositiveIntegerField(
        default=0, help_text="Time in stage: the minimum number of hours."
    )
    fields = models.JSONField(
        default=list,
        blank=True,
        help_text="Required metadata: e.g. signature, datasets, description, code_commit.",
    )

    class Meta:
        ordering = ["policy_id", "id"]

    def __str__(self) -> str:
        from registry.policies import describe_gate

        return describe_gate(self)

    def clean(self) -> None:
        from registry.policies import clean_gate

        clean_gate(self)


class RequestState(models.TextChoices):
    OPEN = "open", "Open"
    APPLIED = "applied", "Applied"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"


class PromotionRequestQuerySet(models.QuerySet["PromotionRequest"]):
    def open(self) -> PromotionRequestQuerySet:
        return self.filter(state=RequestState.OPEN)

    def with_approval_count(self) -> PromotionRequestQuerySet:
        """Annotate `approval_count`: distinct reviewers who approved (a list in one query)."""
        return self.annotate(
            approval_count=models.Count(
                "reviews__reviewer", filter=Q(reviews__decision="approve"), distinct=True
            )
        )


class PromotionRequest(models.Model):
    """A contributor's request to move a version into a gated stage.

    The policy in force and the gate results are stored with it when it is opened (and
    the gates recomputed when it is applied), so a reviewer sees what the requester saw.
    """

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="+")
    model = models.ForeignKey(
        "registry.RegisteredModel", on_delete=models.PROTECT, related_name="promotion_requests"
    )
    version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.PROTECT, related_name="promotion_requests"
    )
    purpose = models.CharField(max_length=20, choices=Purpose.choices, default=Purpose.PROMOTION)
    from_stage = models.CharField(max_length=20, choices=STAGES)
    to_stage = models.CharField(max_length=20, choices=GatedStage.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    justification = models.TextField(max_length=5000)
    state = models.CharField(max_length=20, choices=RequestState.choices, default=RequestState.OPEN)
    policy = models.JSONField(default=dict)
    # From the policy, for the inbox query: ",reviewer,maintainer," and the author rule.
    reviewer_roles = models.CharField(max_length=100, default=",")
    author_may_review = models.BooleanField(default=False)
    gate_results = models.JSONField(default=list)
    gates_passed = models.BooleanField(default=True)
    override_reason = models.TextField(blank=True)
    overridden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    close_reason = models.CharField(max_length=500, blank=True)

    objects = PromotionRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One open request per version and target: a second one would race the first.
            models.UniqueConstraint(
                fields=["version", "to_stage"],
                condition=Q(state="open"),
                name="registry_request_one_open",
            ),
        ]
        indexes = [
            # The review inbox: open requests of the reviewer's teams, oldest first.
            models.Index(fields=["state", "team", "created_at"], name="registry_request_inbox"),
            models.Index(fields=["model", "-created_at"], name="registry_request_model"),
            models.Index(fields=["requested_by", "state"], name="registry_request_requester"),
            # expire_requests(): open requests past their expiry.
            models.Index(fields=["state", "expires_at"], name="registry_request_expiry"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.version} → {self.get_to_stage_display()}"

    def get_absolute_url(self) -> str:
        return reverse("request-detail", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return self.state == RequestState.OPEN

    @property
    def effective_state(self) -> str:
        """The state, counting an open request past its expiry as expired."""
        if self.is_open and self.expires_at <= timezone.now():
            return RequestState.EXPIRED
        return self.state

    @property
    def required_approvals(self) -> int:
        return int(self.policy.get("required_approvals", 0))


class Decision(models.TextChoices):
    APPROVE = "approve", "Approved"
    REJECT = "reject", "Rejected"
    COMMENT = "comment", "Commented"


class Review(AppendOnlyModel):
    """One entry of a request's review thread: an approval, a rejection or a comment."""

    request = models.ForeignKey(PromotionRequest, on_delete=models.PROTECT, related_name="reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    decision = models.CharField(max_length=20, choices=Decision.choices)
    comment = models.TextField(blank=True, max_length=5000)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # Approvals count once per reviewer, even when two clicks race.
            models.UniqueConstraint(
                fields=["request", "reviewer"],
                condition=Q(decision="approve"),
                name="registry_review_one_approval",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reviewer} {self.get_decision_display().lower()} {self.request}"


class AliasEvent(AppendOnlyModel):
    """Append-only history of alias moves (version empty: the alias was deleted)."""

    model = models.ForeignKey(
        "registry.RegisteredModel", on_delete=models.CASCADE, related_name="alias_events"
    )
    name = models.CharField(max_length=63)
    version = models.ForeignKey(
        "registry.ModelVersion", null=True, on_delete=models.PROTECT, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["model", "created_at"], name="registry_aliasevent_model")]

    def __str__(self) -> str:
        target = self.version.version if self.version_id else "(deleted)"
        return f"{self.name} → {target}"


class Notification(models.Model):
    """An in-app message to one user (a request to review, a decision on theirs)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    request = models.ForeignKey(
        PromotionRequest, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    message = models.CharField(max_length=300)
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["user", "-created_at"],
                condition=Q(read_at__isnull=True),
                name="registry_notification_unread",
            ),
            models.Index(fields=["user", "-created_at"], name="registry_notification_user"),
        ]

    def __str__(self) -> str:
        return self.message
