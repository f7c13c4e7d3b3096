"""Editing a model's metadata and a version's description/tags: who may, what is audited."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def model(make_model):
    return make_model("churn", description="old", framework="xgboost", tags={"owner": "fraud"})


def edit_url(model) -> str:
    return reverse("model-edit", args=[model.team.slug, model.name])


def test_it_edits_a_model_and_audits_the_diff(client, contributor, model):
    client.force_login(contributor)
    response = client.post(edit_url(model), {
        "description": "new **text**", "task_type": "ranking", "framework": "LightGBM",
        "tags": "owner=fraud\ntier=1",
    })  # fmt: skip
    assert response.status_code == 302
    model.refresh_from_db()
    assert (model.description, model.task_type, model.framework) == (
        "new **text**",
        "ranking",
        "lightgbm",
    )
    event = AuditEvent.objects.filter(action="model.update").get()
    assert event.actor == contributor and event.team == model.team
    assert event.model_id == model.pk
    assert event.changes["description"] == ["old", "new **text**"]
    assert event.changes["tags"] == [{"owner": "fraud"}, {"owner": "fraud", "tier": "1"}]
    assert "visibility" not in event.changes


def test_it_records_nothing_when_nothing_changed(client, contributor, model):
    client.force_login(contributor)
    client.post(
        edit_url(model),
        {
            "description": "old",
            "task_type": model.task_type,
            "framework": "xgboost",
            "tags": "owner=fraud",
        },
    )
    assert not AuditEvent.objects.filter(action="model.update").exists()


def test_it_offers_visibility_to_maintainers_only(client, contributor, maintainer, model):
    client.force_login(contributor)
    assert "visibility" not in client.get(edit_url(model)).context["form"].fields
    client.post(
        edit_url(model), {"description": "x", "task_type": "other", "visibility": "internal"}
    )
    model.refresh_from_db()
    assert model.visibility == "team"  # the field is not theirs: ignored
    client.force_login(maintainer)
    client.post(
        edit_url(model),
        {"description": "x", "task_type": "other", "visibility": "internal", "tags": ""},
    )
    model.refresh_from_db()
    assert model.visibility == "internal"


@pytest.mark.parametrize(("persona", "status"), [("viewer", 403), ("outsider", 404)])
def test_it_denies_others(client, request, model, persona, status):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(edit_url(model)).status_code == status
    assert (
        client.post(edit_url(model), {"description": "hacked", "task_type": "other"}).status_code
        == status
    )
    model.refresh_from_db()
    assert model.description == "old"


def test_it_shows_errors_and_changes_nothing(client, contributor, model):
    client.force_login(contributor)
    response = client.post(
        edit_url(model), {"description": "x" * 20_001, "task_type": "nope", "tags": "bad key!"}
    )
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"description", "task_type", "tags"}
    model.refresh_from_db()
    assert model.description == "old"


def test_it_edits_a_version_description_and_tags(client, contributor, model, make_version):
    version = make_version(model, "1.0.0", description="first", tags={"a": "1"})
    client.force_login(contributor)
    url = reverse("version-edit", args=["fraud", "churn", "1.0.0"])
    response = client.post(url, {"description": "second", "tags": "b=2"})
    assert response.status_code == 302
    version.refresh_from_db()
    assert version.description == "second"
    assert dict(version.tags.values_list("key", "value")) == {"b": "2"}
    event = AuditEvent.objects.get(action="version.update")
    assert event.changes == {"description": ["first", "second"], "tags": [{"a": "1"}, {"b": "2"}]}


def test_it_denies_version_edits_to_viewers(client, viewer, model, make_version):
    make_version(model, "1.0.0", description="first")
    client.force_login(viewer)
    url = reverse("version-edit", args=["fraud", "churn", "1.0.0"])
    assert client.post(url, {"description": "x"}).status_code == 403
