from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.urls import reverse


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

    @property
    def rank(self) -> int:
        return list(self.Role.values).index(self.role)

    def has_at_least(self, role: Membership.Role) -> bool:
        return self.rank >= list(self.Role.values).index(role)

    @property
    def can_contribute(self) -> bool:
        return self.has_at_least(self.Role.CONTRIBUTOR)

    @property
    def can_review(self) -> bool:
        return self.has_at_least(self.Role.REVIEWER)

    @property
    def can_maintain(self) -> bool:
        return self.has_at_least(self.Role.MAINTAINER)
