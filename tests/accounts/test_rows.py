"""accounts.rows: plain-SQL reads and inserts that must give what the ORM gives."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import Value
from django.utils import timezone

from accounts import rows
from accounts.models import ApiToken, Team, User
from registry.models import ModelVersion, RegisteredModel, VersionTag

pytestmark = pytest.mark.django_db


def read(model, pk):
    found = rows.fetch(
        f"SELECT {rows.columns(model, 'x')} FROM {rows.table(model)} x WHERE x.id = %s", [pk]
    )
    return rows.instance(model, found[0])


def concrete_values(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def test_an_instance_read_with_plain_sql_equals_the_orms(maintainer: User) -> None:
    expires = timezone.now() + dt.timedelta(days=3)
    token = ApiToken.objects.create(
        user=maintainer, name="ci", prefix="mg_abc", key_hash="f" * 64,
        scopes=["read", "write"], expires_at=expires,
    )  # fmt: skip
    plain = read(ApiToken, token.pk)
    assert concrete_values(plain) == concrete_values(ApiToken.objects.get(pk=token.pk))
    assert plain.scopes == ["read", "write"]  # JSON decoded, as the ORM does
    assert plain.expires_at == expires and plain.expires_at.tzinfo is not None
    assert not plain._state.adding and plain._state.db == "default"
    user = read(User, maintainer.pk)
    assert user == maintainer and user.is_active is True


def test_insert_fills_defaults_and_ids_like_save(team: Team, contributor: User) -> None:
    model = RegisteredModel.objects.create(team=team, name="churn", created_by=contributor)
    params = Value({"b": 1, "a": [1, 2]}, output_field=ModelVersion._meta.get_field("params"))
    version = ModelVersion(model=model, version="1.0.0", sequence=1, sort_key="a", params=params)
    rows.insert([version])
    assert version.pk is not None and not version._state.adding
    assert version.params == {"a": [1, 2], "b": 1}  # read back as stored
    stored = ModelVersion.objects.get(pk=version.pk)
    assert concrete_values(stored) == concrete_values(version)
    assert stored.created_at is not None  # auto_now_add filled in

    tags = [VersionTag(version=version, key=k, value=v) for k, v in (("b", "2"), ("a", "1"))]
    rows.insert(tags)
    assert [t.pk for t in tags] == sorted(t.pk for t in tags)  # in VALUES order
    assert dict(VersionTag.objects.filter(version=version).values_list("key", "value")) == {
        "a": "1",
        "b": "2",
    }
    rows.insert([])  # nothing to insert: no query, no error


def test_insert_takes_a_foreign_key_set_after_the_object_was_assigned(
    team: Team, contributor: User
) -> None:
    model = RegisteredModel.objects.create(team=team, name="churn", created_by=contributor)
    version = ModelVersion(model=model, version="1.0.0", sequence=1, sort_key="a")
    tag = VersionTag(version=version, key="k", value="v")  # the version has no id yet
    rows.insert([version])
    rows.insert([tag])
    assert VersionTag.objects.get(pk=tag.pk).version_id == version.pk
