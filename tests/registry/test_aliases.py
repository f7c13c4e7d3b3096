"""Aliases: named pointers to a model's versions, their permission rules, audit trail,
REST endpoints (list, set, delete, resolve ?alias=) and the model page's Aliases card."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.test import Client

from accounts import tokens
from accounts.models import AuditEvent
from registry import aliases
from registry.aliases import AliasNotFound
from registry.models import Alias
from tests.api.conftest import ApiClient, assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def churn(make_model, make_version):
    model = make_model("churn")
    make_version(model, "1.0.0")
    make_version(model, "2.0.0")
    return model


def v(model, version):
    return model.versions.get(version=version)


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


# --- domain: setting, moving, deleting --------------------------------------------------


def test_a_contributor_sets_and_moves_an_unprotected_alias(churn, contributor):
    alias = aliases.set_alias(churn, "champion", v(churn, "1.0.0"), contributor)
    assert (alias.version.version, alias.protected, alias.updated_by) == (
        "1.0.0",
        False,
        contributor,
    )
    aliases.set_alias(churn, "champion", "2.0.0", contributor)  # a version string works too
    assert aliases.resolve_alias(churn, "champion").version == "2.0.0"
    assert Alias.objects.count() == 1
    created, moved = events("alias.set")
    assert created.changes == {"version": [None, "1.0.0"], "protected": [None, False]}
    assert moved.changes == {"version": ["1.0.0", "2.0.0"]}
    assert moved.actor == contributor
    assert moved.team_slug == "fraud"
    assert moved.model_id == churn.pk
    assert moved.object_type == "registry.alias"


def test_setting_an_alias_to_where_it_points_records_nothing(churn, contributor):
    aliases.set_alias(churn, "champion", "1.0.0", contributor)
    aliases.set_alias(churn, "champion", "1.0.0", contributor)
    assert len(events("alias.set")) == 1


def test_a_contributor_deletes_an_unprotected_alias(churn, contributor):
    aliases.set_alias(churn, "candidate", "2.0.0", contributor)
    aliases.delete_alias(churn, "candidate", contributor)
    assert not Alias.objects.exists()
    (event,) = events("alias.delete")
    assert event.changes == {"version": ["2.0.0", None], "protected": [False, None]}
    assert event.object_repr == "churn@candidate"


def test_deleting_a_missing_alias_is_not_found(churn, contributor):
    with pytest.raises(AliasNotFound):
        aliases.delete_alias(churn, "nothing", contributor)


def test_an_alias_name_is_unique_per_model(churn, make_model, make_version, contributor):
    other = make_model("fraud-score")
    make_version(other, "1.0.0")
    aliases.set_alias(churn, "champion", "1.0.0", contributor)
    aliases.set_alias(other, "champion", "1.0.0", contributor)  # another model: fine
    assert Alias.objects.count() == 2
    with pytest.raises(IntegrityError), transaction.atomic():
        Alias.objects.create(model=churn, name="champion", version=v(churn, "2.0.0"))


# --- domain: who may do what ------------------------------------------------------------


@pytest.mark.parametrize("persona", ["contributor", "reviewer"])
def test_below_maintainer_protected_aliases_are_out_of_reach(request, churn, maintainer, persona):
    user = request.getfixturevalue(persona)
    with pytest.raises(PermissionDenied):
        aliases.set_alias(churn, "champion", "1.0.0", user, protected=True)
    assert not Alias.objects.exists()
    aliases.set_alias(churn, "champion", "1.0.0", maintainer, protected=True)
    with pytest.raises(PermissionDenied):
        aliases.set_alias(churn, "champion", "2.0.0", user)  # move
    with pytest.raises(PermissionDenied):
        aliases.set_alias(churn, "champion", "1.0.0", user, protected=False)  # unprotect
    with pytest.raises(PermissionDenied):
        aliases.delete_alias(churn, "champion", user)
    alias = Alias.objects.get()
    assert (alias.version.version, alias.protected) == ("1.0.0", True)
    assert len(events("alias.set")) == 1
    assert not events("alias.delete")


def test_a_contributor_may_not_protect_an_unprotected_alias(churn, contributor):
    aliases.set_alias(churn, "champion", "1.0.0", contributor)
    with pytest.raises(PermissionDenied):
        aliases.set_alias(churn, "champion", "1.0.0", contributor, protected=True)
    assert not Alias.objects.get().protected


@pytest.mark.parametrize("persona", ["maintainer", "site_admin"])
def test_maintainers_manage_protected_aliases(request, churn, persona):
    user = request.getfixturevalue(persona)
    aliases.set_alias(churn, "champion", "1.0.0", user, protected=True)
    aliases.set_alias(churn, "champion", "2.0.0", user)  # protected stays as it was
    alias = Alias.objects.get()
    assert (alias.version.version, alias.protected) == ("2.0.0", True)
    aliases.set_alias(churn, "champion", "2.0.0", user, protected=False)
    assert not Alias.objects.get().protected
    aliases.set_alias(churn, "champion", "2.0.0", user, protected=True)
    aliases.delete_alias(churn, "champion", user)
    assert not Alias.objects.exists()
    assert [e.changes for e in events("alias.set")][1:] == [
        {"version": ["1.0.0", "2.0.0"]},
        {"protected": [True, False]},
        {"protected": [False, True]},
    ]


@pytest.mark.parametrize("persona", ["viewer", "outsider"])
def test_viewers_and_outsiders_may_not_touch_aliases(request, churn, maintainer, persona):
    user = request.getfixturevalue(persona)
    aliases.set_alias(churn, "candidate", "1.0.0", maintainer)
    with pytest.raises(PermissionDenied):
        aliases.set_alias(churn, "champion", "1.0.0", user)
    with pytest.raises(PermissionDenied):
        aliases.set_alias(churn, "candidate", "2.0.0", user)
    with pytest.raises(PermissionDenied):
        aliases.delete_alias(churn, "candidate", user)
    assert list(Alias.objects.values_list("name", "version__version")) == [("candidate", "1.0.0")]


# --- domain: bad input ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["", "Champion", "1st", "_x", "-x", "has space", "x.y", "x/y", "champion\n", "é", "a" * 64],
)
def test_it_refuses_invalid_alias_names(churn, contributor, name):
    with pytest.raises(ValidationError) as exc:
        aliases.set_alias(churn, name, "1.0.0", contributor)
    assert "name" in exc.value.message_dict
    assert not Alias.objects.exists()


@pytest.mark.parametrize("name", ["a", "champion", "canary_2-eu", "a" * 63])
def test_it_accepts_valid_alias_names(churn, contributor, name):
    aliases.set_alias(churn, name, "1.0.0", contributor)
    assert aliases.resolve_alias(churn, name).version == "1.0.0"


def test_it_refuses_pointing_at_another_models_version(
    churn, make_model, make_version, contributor
):
    other = make_model("fraud-score")
    foreign = make_version(other, "9.0.0")
    with pytest.raises(ValidationError) as exc:
        aliases.set_alias(churn, "champion", foreign, contributor)
    assert "version" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        aliases.set_alias(churn, "champion", "9.0.0", contributor)  # not a version of churn
    assert "version" in exc.value.message_dict
    assert not Alias.objects.exists()
    assert not events("alias.set")


def test_resolving_a_missing_alias_is_not_found(churn):
    with pytest.raises(AliasNotFound):
        aliases.resolve_alias(churn, "champion")


# --- the REST API -----------------------------------------------------------------------


def api(user=None, *scopes: str) -> ApiClient:
    if scopes:
        _token, secret = tokens.create(user, name="t", scopes=list(scopes))
        return ApiClient(Client(), secret)
    client = Client()
    if user is not None:
        client.force_login(user)
    return ApiClient(client)


def put(client: ApiClient, path: str, body: Any) -> Any:
    return client._call("put", path, body)


def delete(client: ApiClient, path: str) -> Any:
    return client._call("delete", path)


ALIASES = "/models/fraud/churn/aliases"
CHAMPION = ALIASES + "/champion"


def test_api_sets_moves_lists_and_deletes_an_alias(churn, contributor, viewer):
    client = api(contributor, "read", "write")
    response = put(client, CHAMPION, {"version": "1.0.0"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "champion"
    assert body["version"] == "1.0.0"
    assert body["protected"] is False
    assert body["updated_by"] == "contributor"
    assert body["version_url"] == "/models/fraud/churn/versions/1.0.0/"
    response = put(client, CHAMPION, {"version": "2.0.0"})
    assert response.status_code == 200
    assert response.json()["version"] == "2.0.0"
    put(client, ALIASES + "/candidate", {"version": "1.0.0"})
    listed = api(viewer).get(ALIASES)
    assert listed.status_code == 200
    assert [(a["name"], a["version"]) for a in listed.json()["items"]] == [
        ("candidate", "1.0.0"),
        ("champion", "2.0.0"),
    ]
    assert delete(client, CHAMPION).status_code == 204
    assert list(Alias.objects.values_list("name", flat=True)) == ["candidate"]
    assert [
        e.action for e in AuditEvent.objects.order_by("id") if e.action.startswith("alias")
    ] == [
        "alias.set",
        "alias.set",
        "alias.set",
        "alias.delete",
    ]


def test_api_refuses_callers_who_may_not(churn, viewer, outsider, contributor):
    assert_error(put(api(viewer), CHAMPION, {"version": "1.0.0"}), 403, "permission_denied")
    assert_error(put(api(outsider), CHAMPION, {"version": "1.0.0"}), 404, "not_found")
    assert_error(api(outsider).get(ALIASES), 404, "not_found")
    assert_error(put(api(None), CHAMPION, {"version": "1.0.0"}), 401, "unauthenticated")
    # A read-only token may list but not set.
    read_only = api(contributor, "read")
    assert read_only.get(ALIASES).status_code == 200
    assert_error(put(read_only, CHAMPION, {"version": "1.0.0"}), 403, "insufficient_scope")
    assert not Alias.objects.exists()


def test_api_protected_aliases_need_a_maintainer(churn, contributor, maintainer):
    client = api(contributor)
    error = assert_error(
        put(client, CHAMPION, {"version": "1.0.0", "protected": True}), 403, "permission_denied"
    )
    assert "maintainer" in error["message"]
    assert (
        put(api(maintainer), CHAMPION, {"version": "1.0.0", "protected": True}).status_code == 201
    )
    assert api(contributor).get(ALIASES).json()["items"][0]["protected"] is True
    assert_error(put(client, CHAMPION, {"version": "2.0.0"}), 403, "permission_denied")
    assert_error(delete(client, CHAMPION), 403, "permission_denied")
    assert Alias.objects.get().version.version == "1.0.0"
    assert delete(api(maintainer), CHAMPION).status_code == 204


def test_api_bad_input(churn, contributor):
    client = api(contributor)
    error = assert_error(put(client, ALIASES + "/Champion", {"version": "1.0.0"}), 400, "invalid",
                         "name")  # fmt: skip
    assert "lowercase" in error["message"]
    assert_error(put(client, CHAMPION, {"version": "9.9.9"}), 400, "invalid", "version")
    assert_error(put(client, CHAMPION, {}), 422, "invalid", "version")
    assert_error(
        put(client, CHAMPION, {"version": "1.0.0", "colour": "red"}), 422, "unknown_field", "colour"
    )
    assert_error(put(client, CHAMPION, {"version": "1.0.0", "protected": "maybe"}), 422, "invalid",
                 "protected")  # fmt: skip
    assert_error(delete(client, CHAMPION), 404, "not_found")
    assert_error(put(client, ALIASES + "/a%20b", {"version": "1.0.0"}), 404, "not_found")
    assert not Alias.objects.exists()


def test_api_refuses_another_models_version(churn, make_model, make_version, contributor):
    make_version(make_model("fraud-score"), "9.0.0")
    assert_error(put(api(contributor), CHAMPION, {"version": "9.0.0"}), 400, "invalid", "version")


def test_api_resolves_by_alias(churn, contributor, viewer, outsider):
    aliases.set_alias(churn, "champion", "1.0.0", contributor)
    response = api(viewer).get("/models/fraud/churn/resolve", data={"alias": "champion"})
    assert response.status_code == 200, response.content
    assert response.json()["version"] == "1.0.0"
    assert response.json()["model"] == "fraud/churn"
    missing = assert_error(
        api(viewer).get("/models/fraud/churn/resolve", data={"alias": "candidate"}),
        404,
        "not_found",
    )
    assert "candidate" in missing["message"]
    assert_error(
        api(outsider).get("/models/fraud/churn/resolve", data={"alias": "champion"}),
        404,
        "not_found",
    )


@pytest.mark.parametrize("query", [{}, {"stage": "production", "alias": "champion"}])
def test_api_resolve_needs_exactly_one_of_stage_and_alias(churn, viewer, query):
    response = api(viewer).get("/models/fraud/churn/resolve", data=query)
    assert_error(response, 400, "invalid", "stage")


# --- the model page ---------------------------------------------------------------------


def test_the_model_page_lists_aliases(client, churn, contributor, maintainer, viewer):
    aliases.set_alias(churn, "candidate", "2.0.0", contributor)
    aliases.set_alias(churn, "champion", "1.0.0", maintainer, protected=True)
    client.force_login(viewer)
    html = client.get(churn.get_absolute_url()).content.decode()
    card = html[html.index('id="aliases-title"') :]
    card = card[: card.index("</section>")]
    assert card.index("candidate") < card.index("champion")
    assert 'href="/models/fraud/churn/versions/1.0.0/"' in card
    assert 'href="/models/fraud/churn/versions/2.0.0/"' in card
    assert card.count("bi-lock-fill") == 1
    assert "(protected)" in card


def test_the_model_page_says_when_there_are_no_aliases(client, churn, viewer):
    client.force_login(viewer)
    assert "No aliases." in client.get(churn.get_absolute_url()).content.decode()


def test_the_model_page_reads_aliases_in_one_query(
    client, churn, contributor, viewer, django_assert_max_num_queries
):
    for i in range(10):
        aliases.set_alias(churn, f"alias-{i}", "1.0.0" if i % 2 else "2.0.0", contributor)
    client.force_login(viewer)
    with django_assert_max_num_queries(12):
        response = client.get(churn.get_absolute_url())
    assert response.content.decode().count("alias-") >= 10


# --- the version page's alias endpoint --------------------------------------------------


def alias_url(version: str = "1.0.0") -> str:
    return f"/models/fraud/churn/versions/{version}/alias/"


def test_the_version_page_sets_and_removes_an_alias(client, churn, contributor):
    client.force_login(contributor)
    response = client.post(alias_url(), {"name": "champion"}, follow=True)
    assert "Alias champion now points at 1.0.0." in response.content.decode()
    assert aliases.resolve_alias(churn, "champion").version == "1.0.0"
    client.post(alias_url("2.0.0"), {"name": "champion"})
    assert aliases.resolve_alias(churn, "champion").version == "2.0.0"
    # Removing from a version the alias does not point at changes nothing.
    response = client.post(alias_url(), {"name": "champion", "remove": "1"}, follow=True)
    assert "does not point at 1.0.0" in response.content.decode()
    assert Alias.objects.exists()
    response = client.post(alias_url("2.0.0"), {"name": "champion", "remove": "1"}, follow=True)
    assert "Removed alias champion." in response.content.decode()
    assert not Alias.objects.exists()


def test_the_version_page_explains_bad_input(client, churn, contributor):
    client.force_login(contributor)
    response = client.post(alias_url(), {"name": "Not Valid"}, follow=True)
    assert "lowercase" in response.content.decode()
    response = client.post(alias_url(), {"name": "ghost", "remove": "1"}, follow=True)
    assert "no alias" in response.content.decode()
    assert not Alias.objects.exists()


def test_the_version_page_keeps_protected_aliases_for_maintainers(
    client, churn, contributor, maintainer
):
    client.force_login(contributor)
    assert client.post(alias_url(), {"name": "champion", "protected": "1"}).status_code == 403
    assert not Alias.objects.exists()
    client.force_login(maintainer)
    client.post(alias_url(), {"name": "champion", "protected": "1"})
    assert Alias.objects.get().protected
    client.force_login(contributor)
    assert client.post(alias_url("2.0.0"), {"name": "champion"}).status_code == 403
    remove = {"name": "champion", "remove": "1"}
    assert client.post(alias_url(), remove).status_code == 403
    assert Alias.objects.get().version.version == "1.0.0"
