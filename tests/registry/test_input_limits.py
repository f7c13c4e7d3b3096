"""Limits and rules the domain applies once, whichever path calls it (pages, API, MLflow):
a version's description on edit, stage-change comments, the number of tags, commit ids,
numbers a float cannot hold and a version's `source`."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.models import AuditEvent
from registry import services
from registry.markdown import MAX_DESCRIPTION_LENGTH
from registry.metadata import MAX_TAGS, clean_tags, clean_version_metadata
from registry.models import (
    ModelTag,
    ModelVersion,
    PromotionGate,
    PromotionPolicy,
    RegisteredModel,
    StageTransition,
    VersionTag,
)
from registry.services import MAX_TRANSITION_COMMENT

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(make_model, make_version):
    return make_version(make_model(tags={"owner": "fraud"}), "1.0.0", description="first",
                        tags={"a": "1"})  # fmt: skip


def errors_of(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return exc.value.message_dict


def _tags(n: int) -> dict[str, str]:
    return {f"k{i}": "" for i in range(n)}


# --- a version's description on edit --------------------------------------------------------


def test_editing_a_version_keeps_the_description_limit(version, contributor):
    too_long = "x" * (MAX_DESCRIPTION_LENGTH + 1)
    with pytest.raises(ValidationError) as exc:
        services.update_version(version=version, actor=contributor, description=too_long)
    assert errors_of(exc) == {
        "description": [f"must be at most {MAX_DESCRIPTION_LENGTH} characters"]
    }
    version.refresh_from_db()
    assert version.description == "first"
    assert not AuditEvent.objects.filter(action="version.update").exists()

    longest = "x" * MAX_DESCRIPTION_LENGTH
    services.update_version(version=version, actor=contributor, description=longest)
    version.refresh_from_db()
    assert version.description == longest


# --- stage-change comments -------------------------------------------------------------------


@pytest.mark.parametrize("field", ["comment", "override_reason"])
def test_a_stage_change_comment_is_limited(version, maintainer, field):
    with pytest.raises(ValidationError) as exc:
        services.change_stage(version=version, to_stage="archived", actor=maintainer,
                              **{field: "x" * (MAX_TRANSITION_COMMENT + 1)})  # fmt: skip
    assert list(errors_of(exc)) == [field]
    assert str(MAX_TRANSITION_COMMENT) in errors_of(exc)[field][0]
    version.refresh_from_db()
    assert version.stage == "development"
    assert not StageTransition.objects.filter(to_stage="archived").exists()


def test_a_stage_change_comment_at_the_limit_is_kept(version, maintainer):
    comment = "x" * MAX_TRANSITION_COMMENT
    transition = services.change_stage(
        version=version, to_stage="archived", actor=maintainer, comment=comment
    )
    assert transition.comment == comment


def test_a_gate_override_may_use_both_limits(version, maintainer):
    policy = PromotionPolicy.objects.create(
        team=version.model.team, target_stage="staging", required_approvals=0
    )
    PromotionGate.objects.create(policy=policy, kind="metric_rule", rule="metrics.test.auc >= 0.99")
    transition = services.change_stage(
        version=version, to_stage="staging", actor=maintainer,
        comment="c" * MAX_TRANSITION_COMMENT, override_reason="r" * MAX_TRANSITION_COMMENT,
    )  # fmt: skip
    assert transition.comment.startswith("c" * MAX_TRANSITION_COMMENT)
    assert "gates overridden" in transition.comment


def test_the_stage_page_refuses_a_long_comment(client, version, maintainer):
    client.force_login(maintainer)
    url = reverse("version-stage", args=["fraud", "churn", "1.0.0"])
    response = client.post(
        url, {"to_stage": "archived", "comment": "x" * (MAX_TRANSITION_COMMENT + 1)}
    )
    assert response.status_code == 302
    version.refresh_from_db()
    assert version.stage == "development"


# --- the number of tags ----------------------------------------------------------------------


def test_tags_are_capped():
    assert len(clean_tags(_tags(MAX_TAGS))) == MAX_TAGS
    with pytest.raises(ValidationError) as exc:
        clean_tags(_tags(MAX_TAGS + 1))
    assert errors_of(exc) == {"tags": [f"at most {MAX_TAGS} tags (got {MAX_TAGS + 1})"]}


def test_a_version_edit_with_too_many_tags_changes_nothing(version, contributor):
    with pytest.raises(ValidationError):
        services.update_version(version=version, actor=contributor, tags=_tags(MAX_TAGS + 1))
    assert dict(VersionTag.objects.values_list("key", "value")) == {"a": "1"}


def test_a_model_with_too_many_tags_is_refused(version, contributor, team):
    model = version.model
    with pytest.raises(ValidationError):
        services.update_model(model=model, actor=contributor, tags=_tags(MAX_TAGS + 1))
    assert dict(ModelTag.objects.values_list("key", "value")) == {"owner": "fraud"}
    with pytest.raises(ValidationError):
        services.create_model(team=team, name="many", actor=contributor, tags=_tags(MAX_TAGS + 1))
    assert RegisteredModel.objects.count() == 1


def test_the_edit_page_shows_the_tag_cap(client, version, contributor):
    client.force_login(contributor)
    url = reverse("version-edit", args=["fraud", "churn", "1.0.0"])
    lines = "\n".join(_tags(MAX_TAGS + 1))
    response = client.post(url, {"description": "second", "tags": lines})
    assert response.status_code == 400
    assert f"at most {MAX_TAGS} tags" in response.content.decode()
    version.refresh_from_db()
    assert version.description == "first"


# --- commit ids, numbers, source ---------------------------------------------------------------


@pytest.mark.parametrize("commit", ["zzz", "abc123", "xyz1234", "a" * 41, "a" * 63, "a" * 65])
def test_a_code_commit_must_be_a_git_object_id(commit):
    with pytest.raises(ValidationError) as exc:
        clean_version_metadata({"code_commit": commit})
    assert list(errors_of(exc)) == ["code_commit"]


@pytest.mark.parametrize("commit", ["abc1234", "A" * 40, "0" * 64, " abc1234 "])
def test_short_full_and_sha256_commit_ids_are_taken(commit):
    assert clean_version_metadata({"code_commit": commit}).code_commit == commit.strip().lower()


def test_params_no_float_can_hold_are_refused():
    with pytest.raises(ValidationError) as exc:
        clean_version_metadata({"params": {"n": 10**400, "ok": 1, "deep": {"m": [-(10**309)]}}})
    [message] = errors_of(exc)["params"]
    assert "64-bit float" in message and "n, deep" in message
    params = {"n": 10**308, "flag": True, "f": 1.5}
    assert clean_version_metadata({"params": params}).params == params


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\x00b", "a\x1bb", "a\x7fb", "a\x9bb"])
def test_a_source_holds_no_control_characters(bad):
    with pytest.raises(ValidationError) as exc:
        clean_version_metadata({"source": bad})
    assert list(errors_of(exc)) == ["source"]


def test_a_source_is_limited_and_stripped():
    with pytest.raises(ValidationError) as exc:
        clean_version_metadata({"source": "x" * 2001})
    assert errors_of(exc) == {"source": ["must be at most 2000 characters"]}
    assert clean_version_metadata({"source": " s3://b/m/ "}).source == "s3://b/m/"


@pytest.mark.parametrize(
    ("source", "link"),
    [
        ("s3://bucket/model/", False),
        ("javascript:alert(1)", False),
        ("runs:/abc/model", False),
        ("https://example.com/model", True),
        ("HTTP://example.com/model", True),
    ],
)
def test_the_version_page_shows_the_source_as_text_or_a_plain_link(
    client, viewer, make_model, make_version, source, link
):
    make_version(make_model(), "1.0.0", source=source)
    client.force_login(viewer)
    html = client.get(reverse("version-detail", args=["fraud", "churn", "1.0.0"])).content.decode()
    assert source in html
    anchor = f'<a href="{source}" rel="noopener noreferrer nofollow">'
    assert (anchor in html) is link
    assert f'href="{source}"' in html if link else f'href="{source}"' not in html


def test_the_register_page_records_a_source(client, contributor, make_model):
    model = make_model()
    client.force_login(contributor)
    url = reverse("version-register", args=["fraud", "churn"])
    response = client.post(url, {"version": "1.0.0", "source": "s3://bucket/m/"})
    assert response.status_code == 302, response.content
    assert ModelVersion.objects.get(model=model).source == "s3://bucket/m/"
    response = client.post(url, {"version": "1.0.1", "source": "s3://bucket/\x1bm/"})
    assert response.status_code == 400
    assert "control characters" in " ".join(response.context["form"].errors["source"])
    assert ModelVersion.objects.count() == 1
