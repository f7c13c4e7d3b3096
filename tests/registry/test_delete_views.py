"""Deleting a model or a version in the browser: maintainers see the action where it is
allowed (and why not where it is not), confirm on a page, and POST with the CSRF token."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent
from registry import aliases
from registry.models import ModelVersion, RegisteredModel

pytestmark = pytest.mark.django_db


@pytest.fixture
def empty(make_model):
    return make_model("empty")


@pytest.fixture
def churn(make_model, make_version):
    model = make_model("churn")
    make_version(model, "1.0.0")
    make_version(model, "1.1.0")
    return model


def model_url(name: str, view: str = "model-delete") -> str:
    return reverse(view, args=["fraud", name])


def version_url(version: str, view: str = "version-delete") -> str:
    return reverse(view, args=["fraud", "churn", version])


# --- models --------------------------------------------------------------------------------


def test_a_maintainer_sees_delete_on_an_empty_models_pages(client, maintainer, empty):
    client.force_login(maintainer)
    for page in (model_url("empty", "model-detail"), model_url("empty", "model-edit")):
        assert model_url("empty").encode() in client.get(page).content


def test_a_model_with_versions_explains_instead(client, maintainer, churn):
    client.force_login(maintainer)
    edit = client.get(model_url("churn", "model-edit")).content.decode()
    assert model_url("churn") not in edit
    assert "archived, not deleted" in edit
    assert model_url("churn") not in client.get(model_url("churn", "model-detail")).content.decode()
    page = client.get(model_url("churn"))
    assert page.status_code == 200
    assert "archived, not deleted" in page.content.decode()
    assert b"btn-danger" not in page.content  # no delete button


def test_contributors_do_not_see_delete(client, contributor, empty):
    client.force_login(contributor)
    for page in (model_url("empty", "model-detail"), model_url("empty", "model-edit")):
        assert model_url("empty").encode() not in client.get(page).content


def test_the_confirmation_page_posts_with_csrf(client, maintainer, empty):
    client.force_login(maintainer)
    page = client.get(model_url("empty")).content.decode()
    assert 'method="post"' in page and "csrfmiddlewaretoken" in page
    assert RegisteredModel.objects.filter(name="empty").exists()  # GET deletes nothing


def test_a_maintainer_deletes_an_empty_model(client, maintainer, empty):
    client.force_login(maintainer)
    response = client.post(model_url("empty"), follow=True)
    assert response.redirect_chain[0][0] == reverse("models") + "?team=fraud"
    assert "Deleted the model empty." in response.content.decode()
    assert not RegisteredModel.objects.filter(name="empty").exists()
    assert AuditEvent.objects.filter(action="model.delete").count() == 1


def test_posting_for_a_model_with_versions_answers_409_and_keeps_it(client, maintainer, churn):
    client.force_login(maintainer)
    response = client.post(model_url("churn"))
    assert response.status_code == 409
    assert "Nothing was deleted" in response.content.decode()
    assert RegisteredModel.objects.filter(name="churn").exists()


@pytest.mark.parametrize(
    ("persona", "status"), [("viewer", 403), ("contributor", 403), ("reviewer", 403),
                            ("outsider", 404)]
)  # fmt: skip
def test_others_may_not_delete_a_model(client, request, empty, persona, status):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(model_url("empty")).status_code == status
    assert client.post(model_url("empty")).status_code == status
    assert RegisteredModel.objects.filter(name="empty").exists()


def test_deleting_needs_the_csrf_token(maintainer, empty, churn):
    client = Client(enforce_csrf_checks=True)
    client.force_login(maintainer)
    assert client.post(model_url("empty")).status_code == 403
    assert client.post(version_url("1.1.0")).status_code == 403
    assert RegisteredModel.objects.count() == 2
    assert ModelVersion.objects.count() == 2


# --- versions ------------------------------------------------------------------------------


def test_a_maintainer_sees_delete_on_a_fresh_version(client, maintainer, churn):
    client.force_login(maintainer)
    page = client.get(version_url("1.1.0", "version-detail")).content.decode()
    assert version_url("1.1.0") in page
    assert "Delete version" in page


def test_a_version_with_history_explains_why_not(client, maintainer, churn):
    aliases.set_alias(churn, "champion", "1.1.0", maintainer)
    client.force_login(maintainer)
    page = client.get(version_url("1.1.0", "version-detail")).content.decode()
    assert version_url("1.1.0") not in page
    assert "an alias points at it" in page
    confirm = client.get(version_url("1.1.0"))
    assert confirm.status_code == 200
    assert "An alias points at it." in confirm.content.decode()
    assert b"btn-danger" not in confirm.content  # no delete button


def test_contributors_do_not_see_delete_version(client, contributor, churn):
    client.force_login(contributor)
    page = client.get(version_url("1.1.0", "version-detail")).content.decode()
    assert version_url("1.1.0") not in page
    assert "deleted" not in page


def test_a_maintainer_deletes_a_version(client, maintainer, churn):
    client.force_login(maintainer)
    page = client.get(version_url("1.1.0")).content.decode()
    assert 'method="post"' in page and "#2" in page
    response = client.post(version_url("1.1.0"), follow=True)
    assert response.redirect_chain[0][0] == model_url("churn", "model-detail")
    assert "Deleted churn 1.1.0." in response.content.decode()
    assert list(ModelVersion.objects.values_list("version", flat=True)) == ["1.0.0"]
    model = RegisteredModel.objects.get(name="churn")
    assert (model.version_count, model.latest_version.version) == (1, "1.0.0")
    assert AuditEvent.objects.filter(action="version.delete").count() == 1


def test_posting_for_a_version_with_history_answers_409_and_keeps_it(client, maintainer, churn):
    aliases.set_alias(churn, "champion", "1.1.0", maintainer)
    client.force_login(maintainer)
    response = client.post(version_url("1.1.0"))
    assert response.status_code == 409
    assert "Nothing was deleted." in response.content.decode()
    assert ModelVersion.objects.count() == 2
    assert not AuditEvent.objects.filter(action="version.delete").exists()


@pytest.mark.parametrize(
    ("persona", "status"), [("viewer", 403), ("contributor", 403), ("reviewer", 403),
                            ("outsider", 404)]
)  # fmt: skip
def test_others_may_not_delete_a_version(client, request, churn, persona, status):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(version_url("1.1.0")).status_code == status
    assert client.post(version_url("1.1.0")).status_code == status
    assert ModelVersion.objects.count() == 2


def test_the_version_page_stays_within_its_query_budget_for_a_maintainer(
    client, maintainer, churn, django_assert_max_num_queries
):
    client.force_login(maintainer)
    # As test_version_views' budget for a viewer (14), plus the one deletion check.
    with django_assert_max_num_queries(15):
        assert client.get(version_url("1.1.0", "version-detail")).status_code == 200
