from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from registry.models import Blob, ModelVersion, RegisteredModel

pytestmark = pytest.mark.django_db


def register_url(model) -> str:
    return reverse("version-register", args=[model.team.slug, model.name])


def form_data(**overrides):
    data = {
        "version": "1.0.0",
        "description": "first",
        "metrics": json.dumps({"test": {"auc": 0.9}}),
        "params": json.dumps({"lr": 0.1}),
        "python": "3.12.1",
        "requirements": "numpy==1.26.4\n# comment\nscikit-learn==1.5.0\n",
        "code_commit": "abc1234",
        "tags": "owner=fraud, payments\ncandidate",
    }
    data.update(overrides)
    return data


def test_it_registers_a_version_with_files(client, contributor, make_model):
    model = make_model()
    client.force_login(contributor)
    files = [
        SimpleUploadedFile("model.bin", b"\x00\x01weights"),
        SimpleUploadedFile("README.md", b"# hi"),
    ]
    response = client.post(register_url(model), {**form_data(), "files": files})
    assert response.status_code == 302
    version = ModelVersion.objects.get(model=model)
    assert response["Location"] == version.get_absolute_url()
    assert sorted(version.artifacts.values_list("path", flat=True)) == ["README.md", "model.bin"]
    assert [p["name"] for p in version.environment["packages"]] == ["numpy", "scikit-learn"]
    assert version.code_dirty is False
    assert dict(version.tags.values_list("key", "value")) == {
        "owner": "fraud, payments",
        "candidate": "",
    }


def test_an_empty_semantic_version_is_bumped_by_what_changed(
    client, contributor, make_model, make_version
):
    model = make_model()
    make_version(model, "1.4.2", signature={"inputs": [{"name": "age", "type": "long"}]})
    client.force_login(contributor)
    help_text = client.get(register_url(model)).content.decode()
    assert "Leave empty to bump by what changed" in help_text
    signature = {"inputs": [{"name": "age", "type": "long"}, {"name": "city", "type": "string"}]}
    response = client.post(
        register_url(model), form_data(version="", signature=json.dumps(signature)), follow=True
    )
    assert response.redirect_chain[-1][0].endswith("/versions/2.0.0/")
    message = str(list(response.context["messages"])[0])
    assert message.startswith("Registered churn 2.0.0 — major: breaking signature change")
    assert "inputs.city required input added" in message


def test_an_empty_semantic_version_with_bad_metadata_shows_only_the_metadata_errors(
    client, contributor, make_model
):
    model = make_model()
    client.force_login(contributor)
    response = client.post(register_url(model), form_data(version="", metrics="{"))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "metrics" in errors and "version" not in errors
    assert not ModelVersion.objects.exists()


def test_it_suggests_next_versions(client, contributor, make_model, make_version):
    model = make_model()
    make_version(model, "1.4.2")
    client.force_login(contributor)
    content = client.get(register_url(model)).content.decode()
    assert "1.4.3" in content and "1.5.0" in content and "2.0.0" in content


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"version": "v1.0"}, "version", "semantic"),
        ({"metrics": "{not json"}, "metrics", "not valid JSON"),
        ({"metrics": json.dumps({"test": {"auc": "high"}})}, "metrics", "finite number"),
        ({"metrics": json.dumps({"holdout": {"auc": 0.1}})}, "metrics", "unknown split"),
        ({"requirements": "numpy=>1"}, "requirements", "PEP 508"),
        ({"tags": "bad key!=x"}, "tags", "Tag keys"),
        (
            {"training_started_at": "2024-01-02T00:00", "training_ended_at": "2024-01-01T00:00"},
            "training_ended_at",
            "end before",
        ),
    ],
)
def test_it_shows_field_errors_and_registers_nothing(
    client, contributor, make_model, overrides, field, message
):
    model = make_model()
    client.force_login(contributor)
    upload = SimpleUploadedFile("model.bin", b"weights")
    response = client.post(register_url(model), {**form_data(**overrides), "files": [upload]})
    assert response.status_code == 400
    errors = " ".join(response.context["form"].errors.get(field, []))
    assert message in errors, response.context["form"].errors
    assert not ModelVersion.objects.exists()
    assert not Blob.objects.exists()


def test_it_rejects_a_duplicate_version(client, contributor, make_model, make_version):
    model = make_model()
    make_version(model, "1.0.0")
    client.force_login(contributor)
    response = client.post(register_url(model), form_data())
    assert response.status_code == 400
    assert "already exists" in " ".join(response.context["form"].errors["version"])


def test_it_rejects_files_over_the_size_limit(client, contributor, make_model, settings):
    settings.MODELGATE_MAX_ARTIFACT_BYTES = 4
    model = make_model()
    client.force_login(contributor)
    upload = SimpleUploadedFile("model.bin", b"too many bytes")
    response = client.post(register_url(model), {**form_data(), "files": [upload]})
    assert response.status_code == 400
    assert "over the limit" in " ".join(response.context["form"].errors["files"])
    assert not Blob.objects.exists()


@pytest.mark.parametrize(("persona", "status"), [("viewer", 403), ("outsider", 404)])
def test_it_denies_non_contributors(client, make_model, persona, status, request):
    model = make_model()
    client.force_login(request.getfixturevalue(persona))
    assert client.get(register_url(model)).status_code == status
    assert client.post(register_url(model), form_data()).status_code == status
    assert not ModelVersion.objects.exists()


def test_it_sends_anonymous_users_to_sign_in(client, make_model):
    model = make_model()
    response = client.post(register_url(model), form_data())
    assert response.status_code == 302 and "login" in response["Location"]


class TestModelCreate:
    url = reverse("model-create")

    def test_it_creates_a_model_in_a_team_of_the_contributor(self, client, contributor, team):
        client.force_login(contributor)
        response = client.post(
            self.url,
            {
                "team": team.slug,
                "name": "fraud-gbm",
                "task_type": "classification",
                "framework": "XGBoost",
                "versioning_scheme": "semantic",
                "visibility": "team",
                "tags": "owner=fraud",
                "description": "# GBM",
            },
        )
        model = RegisteredModel.objects.get(name="fraud-gbm")
        assert response["Location"] == model.get_absolute_url()
        assert model.framework == "xgboost"
        assert list(model.tags.values_list("key", "value")) == [("owner", "fraud")]

    def test_it_offers_only_teams_the_user_contributes_to(self, client, viewer, team):
        client.force_login(viewer)
        response = client.post(
            self.url,
            {"team": team.slug, "name": "x", "task_type": "other", "versioning_scheme": "semantic"},
        )
        assert response.status_code == 200
        assert "team" in response.context["form"].errors
        assert not RegisteredModel.objects.exists()

    def test_it_rejects_bad_and_duplicate_names(self, client, contributor, team, make_model):
        make_model("churn")
        client.force_login(contributor)
        for name, message in [("../etc", "start with a letter"), ("Churn", "already has")]:
            response = client.post(
                self.url,
                {
                    "team": team.slug,
                    "name": name,
                    "task_type": "other",
                    "versioning_scheme": "semantic",
                    "visibility": "team",
                },
            )
            assert message in " ".join(response.context["form"].errors["name"])
        assert RegisteredModel.objects.count() == 1


def test_it_reports_every_problem_at_once(client, contributor, make_model):
    model = make_model()
    client.force_login(contributor)
    response = client.post(register_url(model), form_data(
        version="v9", metrics=json.dumps({"test": {"auc": "high"}})
    ))  # fmt: skip
    assert response.status_code == 400
    assert set(response.context["form"].errors) >= {"version", "metrics"}


def test_it_keeps_the_version_help_when_showing_errors(
    client, contributor, make_model, make_version
):
    model = make_model()
    make_version(model, "1.4.2")
    client.force_login(contributor)
    response = client.post(register_url(model), form_data(version="v9"))
    assert "Latest: 1.4.2" in response.content.decode()
