from __future__ import annotations

import re

import pytest
from django.urls import reverse

from registry import services

pytestmark = pytest.mark.django_db


def url(model) -> str:
    return reverse("model-detail", args=[model.team.slug, model.name])


def history(response) -> list[str]:
    return [v.version for v in response.context["history"].items]


def test_it_shows_the_model_with_sanitised_markdown(client, viewer, make_model):
    model = make_model(description="# Title\n\n<script>alert(1)</script>\n\n**bold**")
    client.force_login(viewer)
    response = client.get(url(model))
    assert response.status_code == 200
    assert b"<h1>Title</h1>" in response.content
    assert b"<strong>bold</strong>" in response.content
    assert b"<script>alert(1)" not in response.content


def test_it_answers_404_for_an_unknown_model(client, viewer, team):
    client.force_login(viewer)
    assert client.get(reverse("model-detail", args=["fraud", "nope"])).status_code == 404
    assert client.get(reverse("model-detail", args=["nope", "nope"])).status_code == 404


def test_it_orders_versions_by_precedence_not_string(client, viewer, make_model, make_version):
    model = make_model()
    for v in ["1.9.0", "1.10.0", "1.10.0-rc.1", "2.0.0-alpha", "1.2.0"]:
        make_version(model, v)
    client.force_login(viewer)
    assert history(client.get(url(model))) == [
        "2.0.0-alpha",
        "1.10.0",
        "1.10.0-rc.1",
        "1.9.0",
        "1.2.0",
    ]


def test_it_pages_history_with_cursors(client, viewer, make_model, make_version):
    model = make_model(scheme="timestamp")
    for i in range(30):
        make_version(model, f"202401{i + 1:02d}-120000")
    client.force_login(viewer)
    first = client.get(url(model))
    assert history(first)[0] == "20240130-120000" and len(history(first)) == 25
    cursor = first.context["history"].next_cursor
    second = client.get(url(model), {"cursor": cursor})
    assert history(second) == [f"202401{i:02d}-120000" for i in range(5, 0, -1)]
    assert second.context["history"].next_cursor is None
    back = client.get(url(model), {"before": second.context["history"].previous_cursor})
    assert history(back) == history(first)
    assert client.get(url(model), {"cursor": "!!not-base64"}).status_code == 200


def test_it_filters_history_by_stage(client, viewer, contributor, make_model, make_version):
    model = make_model()
    v1, v2 = make_version(model, "1.0.0"), make_version(model, "1.1.0")
    services.apply_transition(version=v1, to_stage="staging", actor=contributor)
    client.force_login(viewer)
    assert history(client.get(url(model), {"stage": "staging"})) == ["1.0.0"]
    assert history(client.get(url(model), {"stage": "development"})) == ["1.1.0"]
    assert v2.stage == "development"


def test_it_swaps_history_and_trend_partials(client, viewer, make_model, make_version):
    model = make_model()
    make_version(model, "1.0.0", metrics={"test": {"auc": 0.8}, "train": {"loss": 0.2}})
    make_version(model, "1.1.0", metrics={"test": {"auc": 0.85}, "train": {"loss": 0.1}})
    client.force_login(viewer)
    part = client.get(url(model), headers={"HX-Request": "true", "HX-Target": "history"})
    assert b"<html" not in part.content and b'id="history"' in part.content
    trend = client.get(
        url(model), {"metric": "train.loss"}, headers={"HX-Request": "true", "HX-Target": "trend"}
    )
    assert b"<html" not in trend.content and b"<svg" in trend.content
    assert [p.value for p in trend.context["trend_points"]] == [0.2, 0.1]
    full = client.get(url(model), {"metric": "train.loss"})
    assert b"<html" in full.content and b"<svg" in full.content


def test_it_defaults_the_trend_to_a_test_metric(client, viewer, make_model, make_version):
    model = make_model()
    make_version(model, "1.0.0", metrics={"train": {"loss": 0.2}, "test": {"auc": 0.8}})
    client.force_login(viewer)
    response = client.get(url(model), {"metric": "bogus.metric"})
    assert response.context["metric"] == "test.auc"


def test_it_shows_empty_states(client, viewer, make_model):
    model = make_model()
    client.force_login(viewer)
    content = client.get(url(model)).content
    assert b"No versions yet" in content and b"No metrics recorded yet" in content


def test_it_offers_registration_only_to_contributors(client, viewer, contributor, make_model):
    model = make_model()
    register = reverse("version-register", args=[model.team.slug, model.name]).encode()
    client.force_login(viewer)
    assert register not in client.get(url(model)).content
    client.force_login(contributor)
    assert register in client.get(url(model)).content


def test_its_query_count_does_not_grow_with_versions(
    client, viewer, make_model, make_version, django_assert_max_num_queries
):
    model = make_model()
    for i in range(40):
        make_version(model, f"1.{i}.0", metrics={"test": {"auc": 0.5 + i / 100}})
    client.force_login(viewer)
    # session, user, model, history page, trend choices, the newest versions and their
    # values of the trend metric, tags, current, aliases, memberships (for the register button),
    # the navigation's review and notification counts
    with django_assert_max_num_queries(13):
        response = client.get(url(model))
    assert len(history(response)) == 25
    older = re.search(rb'href="\?cursor=([^"&]+)"', response.content)
    assert older
    with django_assert_max_num_queries(13):
        assert client.get(url(model), {"cursor": older.group(1).decode()}).status_code == 200


def test_it_keeps_the_chosen_metric_in_the_stage_filter_links(
    client, viewer, make_model, make_version
):
    model = make_model()
    make_version(model, "1.0.0", metrics={"test": {"auc": 0.8}, "train": {"loss": 0.2}})
    client.force_login(viewer)
    html = client.get(url(model), {"metric": "train.loss", "stage": "staging"}).content.decode()
    assert 'href="?metric=train.loss&amp;stage=development"' in html
    assert 'hx-push-url="true"' in html and 'name="stage" value="staging"' in html
