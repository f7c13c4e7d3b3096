from __future__ import annotations

import pytest
from django.urls import reverse

from registry.services import apply_transition

pytestmark = pytest.mark.django_db


@pytest.fixture
def activity(make_model, make_version, maintainer):
    model = make_model("secret-churn")
    version = make_version(model, "7.7.7")
    apply_transition(version=version, to_stage="production", actor=maintainer)
    return model


def test_it_shows_the_team_its_counts_and_activity(client, viewer, activity):
    client.force_login(viewer)
    response = client.get(reverse("dashboard"))
    assert response.context["model_count"] == 1
    assert dict(response.context["stage_counts"])["production"] == 1
    assert b"secret-churn" in response.content and b"7.7.7" in response.content


def test_it_reveals_nothing_of_other_teams(client, outsider, activity):
    client.force_login(outsider)
    response = client.get(reverse("dashboard"))
    assert response.context["model_count"] == 0
    assert all(count == 0 for _stage, count in response.context["stage_counts"])
    assert b"secret-churn" not in response.content and b"7.7.7" not in response.content


def test_its_query_count_is_constant(
    client, viewer, activity, make_version, django_assert_max_num_queries
):
    for i in range(20):
        make_version(activity, f"8.{i}.0")
    client.force_login(viewer)
    # session, user, memberships, stage counts, model count, transitions, versions
    with django_assert_max_num_queries(8):
        assert client.get(reverse("dashboard")).status_code == 200
