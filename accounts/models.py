from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.urls import reverse


class AppendOnlyQuerySet(models.QuerySet):
    """For history tables: rows are added, never changed or removed through the ORM."""

    def update(self, **kwargs: object) -> int:
        raise ValueError(f"{self.model._meta.verbose_name_plural} are append-only.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise ValueError(f"{self.model._meta.verbose_name_plural} are append-only.")


class AppendOnlyModel(models.Model):
    class Meta:
        abstract = True

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValueError(f"{self._meta.verbose_name_plural} are append-only.")
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise ValueError(f"{self._meta.verbose_name_plural} are append-only.")


class User(AbstractUser):
    """A person (or a service account) using Modelgate; site admins are `is_superuser`."""

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"


class Team(models.Model):
    """Owns registered models; people join it through memberships with a role."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("models") + f"?team={self.slug}"


class Membership(models.Model):
    class Role(models.TextChoices):
        # Declared in increasing order of power; each role may do all the ones above it may.
        VIEWER = "viewer", "Viewer"
        CONTRIBUTOR = "contributor", "Contributor"
        REVIEWER = "reviewer", "Reviewer"
        MAINTAINER = "maintainer", "Maintainer"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team__name", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "team"], name="accounts_membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"

    def has_at_least(self, role: str) -> bool:
        return role_rank(self.role) >= role_rank(role)

    @property
    def can_contribute(self) -> bool:
        return self.has_at_least(self.Role.CONTRIBUTOR)

    @property
    def can_review(self) -> bool:
        return self.has_at_least(self.Role.REVIEWER)

    @property
    def can_maintain(self) -> bool:
        return self.has_at_least(self.Role.MAINTAINER)


def role_rank(role: str) -> int:
    """Roles are declared weakest first; a role may do everything the ones before it may."""
    return Membership.Role.values.index(role)


class ApiToken(models.Model):
    """A personal API token. Only its SHA-256 is stored; the secret is shown once."""

    class Scope(models.TextChoices):
        READ = "read", "Read"
        WRITE = "write", "Write"
        REVIEW = "review", "Review"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    # The first characters of the secret ("mg_" + 8), shown in lists so a leaked token
    # can be recognised and revoked.
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["prefix"], name="accounts_token_prefix")]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="accounts_token_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class AuditEvent(AppendOnlyModel):
    """One append-only, hash-chained record of a state change (see accounts.audit)."""

    created_at = models.DateTimeField()
    # History is never rewritten: deleting a user or team leaves these ids as they were
    # (no database constraint), and the name snapshots keep the record readable.
    actor = models.ForeignKey(
        User,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=300, blank=True)
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    team_slug = models.CharField(max_length=60, blank=True)
    # The registered model the event concerns (the model itself, one of its versions,
    # artifacts or transitions), so a model's audit page is one index range.
    model_id = models.BigIntegerField(null=True, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            # Audit pages: per team and per object, newest first; filter by action.
            models.Index(fields=["team", "-id"], name="accounts_audit_team"),
            models.Index(fields=["model_id", "-id"], name="accounts_audit_model"),
            models.Index(fields=["object_type", "object_id", "-id"], name="accounts_audit_obj"),
            models.Index(fields=["action", "-id"], name="accounts_audit_action"),
            models.Index(fields=["actor", "-id"], name="accounts_audit_actor"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} {self.object_repr}"


class AuditHead(models.Model):
    """The chain's tip: locked to append one event at a time, and the proof that no event
    was removed from the end."""

    last_event_id = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"audit head at #{self.last_event_id}"
