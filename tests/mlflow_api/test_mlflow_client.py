"""The real `mlflow` package's MlflowClient against a live Modelgate server."""

from __future__ import annotations

import pytest
from mlflow.exceptions import MlflowException

from accounts.models import AuditEvent
from mlflow_api.models import UserSettings
from registry.models import ModelVersion, PromotionRequest, RegisteredModel, Stage

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # MLflow deprecates stages (aliases replace them); Modelgate keeps serving both.
    pytest.mark.filterwarnings("ignore:.*transition_model_version_stage:FutureWarning"),
    pytest.mark.filterwarnings("ignore:.*get_latest_versions:FutureWarning"),
]


def error_code(exc: pytest.ExceptionInfo[MlflowException]) -> str:
    return exc.value.error_code


def test_it_creates_versions_tags_aliases_and_searches(mlflow_as, contributor, team):
    client = mlflow_as(contributor)
    rm = client.create_registered_model(
        "fraud.churn", tags={"owner": "ml"}, description="Churn model"
    )
    assert rm.name == "fraud.churn"
    assert rm.description == "Churn model"
    assert rm.tags == {"owner": "ml"}
    # A name without a dot lands in the caller's default team (here: their only team).
    assert client.create_registered_model("scorer").name == "fraud.scorer"

    v1 = client.create_model_version(
        "fraud.churn", source="s3://bucket/churn/1", run_id="run1", tags={"split": "a"},
        description="first",
    )  # fmt: skip
    v2 = client.create_model_version("churn", source="s3://bucket/churn/2", run_id="run2")
    assert (v1.version, v2.version) == ("1", "2")
    assert v1.current_stage == "None"
    assert v1.source == "s3://bucket/churn/1"
    assert v1.tags == {"split": "a", "modelgate.version": "1.0.0"}
    # Stored as text, never fetched.
    assert ModelVersion.objects.get(sequence=1).source == "s3://bucket/churn/1"
    assert ModelVersion.objects.filter(model__name="churn").count() == 2

    got = client.get_model_version("fraud.churn", "2")
    assert got.run_id == "run2"
    assert got.tags["modelgate.version"] == "2.0.0"

    client.set_model_version_tag("fraud.churn", "2", "quality", "good")
    assert client.get_model_version("fraud.churn", "2").tags["quality"] == "good"
    client.delete_model_version_tag("fraud.churn", "2", "quality")
    assert "quality" not in client.get_model_version("fraud.churn", "2").tags

    client.set_registered_model_tag("fraud.churn", "tier", "gold")
    assert client.get_registered_model("fraud.churn").tags == {"owner": "ml", "tier": "gold"}
    client.delete_registered_model_tag("fraud.churn", "owner")
    assert client.get_registered_model("fraud.churn").tags == {"tier": "gold"}

    client.update_registered_model("fraud.churn", description="Better")
    assert client.get_registered_model("fraud.churn").description == "Better"
    client.update_model_version("fraud.churn", "1", description="first!")
    assert client.get_model_version("fraud.churn", "1").description == "first!"

    client.set_registered_model_alias("fraud.churn", "champion", "2")
    assert client.get_model_version_by_alias("fraud.churn", "champion").version == "2"
    assert client.get_registered_model("fraud.churn").aliases == {"champion": "2"}
    assert client.get_model_version("fraud.churn", "2").aliases == ["champion"]
    client.set_registered_model_alias("fraud.churn", "champion", "1")
    assert client.get_model_version_by_alias("churn", "champion").version == "1"
    client.delete_registered_model_alias("fraud.churn", "champion")
    with pytest.raises(MlflowException) as exc:
        client.get_model_version_by_alias("fraud.churn", "champion")
    assert error_code(exc) == "RESOURCE_DOES_NOT_EXIST"

    found = client.search_model_versions("name='fraud.churn'")
    assert sorted(v.version for v in found) == ["1", "2"]
    assert [v.version for v in client.search_model_versions("name='churn' AND tags.split='a'")] == [
        "1"
    ]
    assert [v.version for v in client.search_model_versions("run_id IN ('run2', 'x')")] == ["2"]
    assert [v.version for v in client.search_model_versions("version_number > 1")] == ["2"]
    assert [
        v.version for v in client.search_model_versions("source_path LIKE 's3://bucket/churn/%'")
    ] == ["2", "1"]
    names = [m.name for m in client.search_registered_models("name LIKE 'sc%'")]
    assert names == ["fraud.scorer"]
    names = [m.name for m in client.search_registered_models("name ILIKE 'FRAUD.%'")]
    assert names == ["fraud.churn", "fraud.scorer"]
    names = [m.name for m in client.search_registered_models("tags.tier = 'gold'")]
    assert names == ["fraud.churn"]

    first = client.search_registered_models(max_results=1)
    assert [m.name for m in first] == ["fraud.churn"]
    assert first.token
    second = client.search_registered_models(max_results=1, page_token=first.token)
    assert [m.name for m in second] == ["fraud.scorer"]
    assert not second.token

    latest = client.get_latest_versions("fraud.churn", stages=["None"])
    assert [v.version for v in latest] == ["2"]
    # Every change is in the audit log, by the token's user.
    actions = set(AuditEvent.objects.filter(actor=contributor).values_list("action", flat=True))
    assert {"model.create", "version.register", "alias.set", "alias.delete"} <= actions


def test_it_renames_for_maintainers(mlflow_as, maintainer, contributor, team):
    client = mlflow_as(contributor)
    client.create_registered_model("fraud.old")
    with pytest.raises(MlflowException) as exc:
        client.rename_registered_model("fraud.old", "fraud.new")
    assert error_code(exc) == "PERMISSION_DENIED"
    admin = mlflow_as(maintainer)
    admin.rename_registered_model("fraud.old", "fraud.new")
    assert admin.get_registered_model("fraud.new").name == "fraud.new"
    assert RegisteredModel.objects.filter(name="new").exists()


def test_a_gated_transition_opens_one_promotion_request(mlflow_as, contributor, team):
    client = mlflow_as(contributor)
    client.create_registered_model("fraud.churn")
    client.create_model_version("fraud.churn", source="s3://b/1")
    with pytest.raises(MlflowException) as exc:
        client.transition_model_version_stage("fraud.churn", "1", "Staging")
    assert error_code(exc) == "INVALID_STATE"
    request = PromotionRequest.objects.get()
    assert f"promotion request #{request.pk}" in str(exc.value)
    assert f"/reviews/{request.pk}" in str(exc.value) or request.get_absolute_url() in str(
        exc.value
    )
    # Asking again reuses the open request; the version has not moved.
    with pytest.raises(MlflowException):
        client.transition_model_version_stage("fraud.churn", "1", "Staging")
    assert PromotionRequest.objects.count() == 1
    assert client.get_model_version("fraud.churn", "1").current_stage == "None"


@pytest.mark.usefixtures("open_policies")
def test_an_ungated_transition_applies_and_replaces_production(mlflow_as, contributor, team):
    client = mlflow_as(contributor)
    client.create_registered_model("fraud.churn")
    for _ in range(3):
        client.create_model_version("fraud.churn", source="s3://b")
    # MLflow moves None → Production at once; Modelgate walks it through Staging.
    v1 = client.transition_model_version_stage("fraud.churn", "1", "Production")
    assert v1.current_stage == "Production"
    v2 = client.transition_model_version_stage(
        "fraud.churn", "2", "Production", archive_existing_versions=True
    )
    assert v2.current_stage == "Production"
    assert client.get_model_version("fraud.churn", "1").current_stage == "Archived"
    stages = {v.version: v.current_stage for v in client.search_model_versions("name='churn'")}
    assert stages == {"1": "Archived", "2": "Production", "3": "None"}
    # Same stage again: MLflow answers the version as it is.
    assert client.transition_model_version_stage("churn", "2", "Production").current_stage == (
        "Production"
    )
    latest = client.get_latest_versions("fraud.churn", stages=["Production"])
    assert [v.version for v in latest] == ["2"]
    # The archived former Production version rolls back.
    back = client.transition_model_version_stage("fraud.churn", "1", "Production")
    assert back.current_stage == "Production"
    assert client.get_model_version("fraud.churn", "2").current_stage == "Archived"
    assert set(PromotionRequest.objects.values_list("state", flat=True)) == {"applied"}


def test_it_downloads_artifacts_by_models_uri(
    mlflow_as, contributor, make_model, make_version, tmp_path
):
    import mlflow

    model = make_model("churn")
    make_version(model, "1.0.0", files={"model.pkl": b"weights", "conf/params.json": b"{}"})
    client = mlflow_as(contributor)
    uri = client.get_model_version_download_uri("fraud.churn", "1")
    assert uri == "mlflow-artifacts:/models/fraud/churn/1"
    out = mlflow.artifacts.download_artifacts("models:/fraud.churn/1", dst_path=str(tmp_path / "a"))
    from pathlib import Path

    root = Path(out)
    assert (root / "model.pkl").read_bytes() == b"weights"
    assert (root / "conf" / "params.json").read_bytes() == b"{}"
    client.set_registered_model_alias("fraud.churn", "champion", "1")
    out = mlflow.artifacts.download_artifacts(
        "models:/fraud.churn@champion", dst_path=str(tmp_path / "b")
    )
    assert (Path(out) / "model.pkl").read_bytes() == b"weights"


def test_delete_archives_versions_and_removes_empty_models(
    mlflow_as, maintainer, contributor, team
):
    writer = mlflow_as(contributor)
    writer.create_registered_model("fraud.churn")
    writer.create_model_version("fraud.churn", source="s3://b")
    writer.create_registered_model("fraud.empty")
    with pytest.raises(MlflowException) as exc:
        writer.delete_model_version("fraud.churn", "1")
    assert error_code(exc) == "PERMISSION_DENIED"
    admin = mlflow_as(maintainer)
    admin.set_registered_model_alias("fraud.churn", "champion", "1")
    admin.delete_model_version("fraud.churn", "1")
    mv = ModelVersion.objects.get()
    assert mv.stage == Stage.ARCHIVED  # history is kept: deleting archives
    assert not mv.aliases.exists()
    admin.delete_registered_model("fraud.empty")
    assert not RegisteredModel.objects.filter(name="empty").exists()
    with pytest.raises(MlflowException) as exc:
        admin.get_registered_model("fraud.empty")
    assert error_code(exc) == "RESOURCE_DOES_NOT_EXIST"
    assert AuditEvent.objects.filter(action="model.delete").count() == 1


def test_permission_denials_map_to_mlflow_codes(
    mlflow_as, viewer, contributor, outsider, team, other_team
):
    mlflow_as(contributor).create_registered_model("fraud.churn")
    reader = mlflow_as(viewer)
    assert reader.get_registered_model("fraud.churn").name == "fraud.churn"
    with pytest.raises(MlflowException) as exc:
        reader.create_model_version("fraud.churn", source="s3://b")
    assert error_code(exc) == "PERMISSION_DENIED"
    with pytest.raises(MlflowException) as exc:
        reader.create_registered_model("fraud.mine")
    assert error_code(exc) == "PERMISSION_DENIED"
    # A read-only token may not write, whatever the role.
    read_only = mlflow_as(contributor, scopes=("read",))
    with pytest.raises(MlflowException) as exc:
        read_only.set_registered_model_tag("fraud.churn", "k", "v")
    assert error_code(exc) == "PERMISSION_DENIED"
    # Another team's model does not exist for an outsider (no existence leak).
    stranger = mlflow_as(outsider)
    with pytest.raises(MlflowException) as exc:
        stranger.get_registered_model("fraud.churn")
    assert error_code(exc) == "RESOURCE_DOES_NOT_EXIST"
    assert stranger.search_registered_models() == []
    assert ModelVersion.objects.count() == 0


def test_the_default_team_setting_resolves_names_without_a_dot(
    mlflow_as, contributor, team, other_team
):
    from accounts.models import Membership

    Membership.objects.create(user=contributor, team=other_team, role="contributor")
    client = mlflow_as(contributor)
    with pytest.raises(MlflowException) as exc:  # two teams, no default: ambiguous
        client.create_registered_model("churn")
    assert error_code(exc) == "INVALID_PARAMETER_VALUE"
    UserSettings.objects.create(user=contributor, default_team=other_team)
    assert client.create_registered_model("churn").name == "growth.churn"
