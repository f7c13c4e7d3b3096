"""The default team for MLflow names, chosen on the profile page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AuditEvent, Membership
from mlflow_api import names
from mlflow_api.models import UserSettings

pytestmark = pytest.mark.django_db


def test_the_profile_page_sets_the_default_team(client, contributor, team, other_team):
    Membership.objects.create(user=contributor, team=other_team, role="viewer")
    client.force_login(contributor)
    page = client.get(reverse("profile")).content.decode()
    assert 'name="team"' in page and "Default team for MLflow names" in page
    response = client.post(reverse("mlflow-default-team"), {"team": "growth"})
    assert response.status_code == 302
    assert UserSettings.objects.get(user=contributor).default_team == other_team
    assert names.resolve(contributor, "churn").full == "growth.churn"
    event = AuditEvent.objects.get(action="user.mlflow_default_team")
    assert event.changes == {"default_team": [None, "growth"]}
    page = client.get(reverse("profile")).content.decode()
    assert '<option value="growth" selected>' in page
    client.post(reverse("mlflow-default-team"), {"team": ""})
    assert UserSettings.objects.get(user=contributor).default_team is None


def test_a_team_one_is_not_in_cannot_be_the_default(client, contributor, other_team):
    client.force_login(contributor)
    assert client.post(reverse("mlflow-default-team"), {"team": "growth"}).status_code == 404
    assert client.post(reverse("mlflow-default-team"), {"team": "nope"}).status_code == 404
    assert not UserSettings.objects.filter(default_team__isnull=False).exists()
