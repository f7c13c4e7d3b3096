"""The compare page: each HTMX partial and its full-page fallback, exports, bad input."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from registry import services
from registry.metadata import clean_version_metadata

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "comparison"}
SIGNATURE = {"inputs": [{"name": "age", "type": "long"}], "outputs": [{"type": "double"}]}


@pytest.fixture
def versions(make_model, make_version, maintainer):
    model = make_model("churn")
    made = []
    for i, (auc, loss) in enumerate([(0.90, 0.40), (0.92, 0.38), (0.91, 0.45), (0.93, 0.30)]):
        made.append(
            make_version(
                model,
                f"1.{i}.0",
                metrics={"test": {"auc": auc, "logloss": loss}, "train": {"auc": 0.99}},
                params={"lr": 0.1 / (i + 1), "depth": 6},
                signature=SIGNATURE,
                environment={"python": "3.12.4", "packages": [f"numpy==1.2{i}.0", "pandas==2.2.0"]},
                files={"model.bin": f"weights-{i}".encode()},
            )
        )
    services.apply_transition(version=made[1], to_stage="production", actor=maintainer)
    return made


def url(*versions, **params) -> str:
    query = [("v", v.pk) for v in versions] + [
        (k, x)
        for k, values in params.items()
        for x in (values if isinstance(values, list) else [values])
    ]
    return reverse("compare") + "?" + "&".join(f"{k}={x}" for k, x in query)


# --- the page --------------------------------------------------------------------------------


def test_it_shows_versions_side_by_side_with_production_as_the_baseline(
    client, viewer, versions, django_assert_max_num_queries
):
    client.force_login(viewer)
    # session, user, memberships, versions, metrics, artifacts, tags, lineage references,
    # add-a-version choices, the navigation's counts
    with django_assert_max_num_queries(10):
        response = client.get(url(versions[0], versions[1], versions[2]))
    assert response.status_code == 200
    body = response.content.decode()
    comparison = response.context["comparison"]
    assert comparison.baseline == versions[1]  # Production is the default baseline
    assert [v.version for v in comparison.versions] == ["1.0.0", "1.1.0", "1.2.0"]
    assert "3 versions of churn against 1.1.0" in body
    assert 'id="section-metrics"' in body and "<svg" in body
    assert "Export Markdown" in body
    # Every section, and version 1.3.0 offered to add.
    for key in ("summary", "metrics", "params", "environment", "signature", "artifacts"):
        assert f'id="section-{key}"' in body
    assert [v.version for v in response.context["add_choices"]] == ["1.3.0"]


def test_its_query_count_does_not_grow_with_the_number_of_versions(
    client, viewer, versions, django_assert_max_num_queries
):
    client.force_login(viewer)
    # (the same queries as above, whatever the number of versions)
    with django_assert_max_num_queries(10):
        assert client.get(url(*versions[:2])).status_code == 200
    with django_assert_max_num_queries(10):
        assert client.get(url(*versions)).status_code == 200


def test_it_explains_how_to_pick_versions_without_any(client, viewer):
    client.force_login(viewer)
    response = client.get(reverse("compare"))
    assert response.status_code == 200
    assert "Pick two to six versions" in response.content.decode()


# --- HTMX partials and their full-page fallbacks -------------------------------------------


@pytest.mark.parametrize(
    "change",
    ["remove", "add", "baseline", "diff", "collapse", "chart"],
)
def test_each_interaction_swaps_the_comparison_and_works_as_a_full_page(
    client, viewer, versions, change
):
    client.force_login(viewer)
    v0, v1, v2, v3 = versions
    target = {
        "remove": url(v0, v1),  # from v0, v1, v2
        "add": url(v0, v1, v2, v3),
        "baseline": url(v0, v1, v2, base=v2.pk),
        "diff": url(v0, v1, v2, diff=1),
        "collapse": url(v0, v1, v2, hide="params"),
        "chart": url(v0, v1, v2, chart=["test.auc", "train.auc"]),
    }[change]
    partial = client.get(target, **HTMX)
    assert partial.status_code == 200
    body = partial.content.decode()
    assert body.lstrip().startswith('<p id="compare-status" hx-swap-oob="innerHTML">')
    assert '<div id="comparison"' in body
    assert "<html" not in body and "<nav" not in body.split('id="comparison"')[0]

    full = client.get(target)  # the same URL opened directly: the whole page
    assert full.status_code == 200
    assert "<html" in full.content.decode()

    context = partial.context
    if change == "remove":
        assert [v.version for v in context["comparison"].versions] == ["1.0.0", "1.1.0"]
    elif change == "add":
        assert len(context["comparison"].versions) == 4
        assert context["add_choices"] == []
    elif change == "baseline":
        assert context["comparison"].baseline == v2
    elif change == "diff":
        metrics = next(s for s in context["sections"] if s["section"].key == "metrics")
        assert [r.key for r in metrics["rows"]] == ["test.auc", "test.logloss"]  # not train.auc
    elif change == "collapse":
        params = next(s for s in context["sections"] if s["section"].key == "params")
        assert params["open"] is False and params["rows"] == []
        assert 'aria-expanded="false"' in body
    else:
        assert context["chart_keys"] == ["test.auc", "train.auc"]


def test_a_history_restore_gets_the_whole_page(client, viewer, versions):
    client.force_login(viewer)
    response = client.get(
        url(versions[0], versions[1]),
        HTTP_HX_REQUEST="true",
        HTTP_HX_HISTORY_RESTORE_REQUEST="true",
    )
    assert "<html" in response.content.decode()


def test_links_carry_the_whole_state(client, viewer, versions):
    client.force_login(viewer)
    v0, v1, v2, _ = versions
    state = f"base={v2.pk}&amp;diff=1&amp;hide=tags"
    body = client.get(url(v0, v1, v2, base=v2.pk, diff=1, hide="tags")).content.decode()
    # Removing 1.0.0 keeps the baseline, differences-only and the collapsed section.
    assert f"?v={v1.pk}&amp;v={v2.pk}&amp;{state}" in body
    # Un-collapsing tags keeps the rest.
    assert f'?v={v0.pk}&amp;v={v1.pk}&amp;v={v2.pk}&amp;base={v2.pk}&amp;diff=1"' in body


def test_it_offers_no_remove_with_two_versions_left(client, viewer, versions):
    client.force_login(viewer)
    body = client.get(url(versions[0], versions[1])).content.decode()
    assert "Remove<span" not in body


# --- exports --------------------------------------------------------------------------------


def test_it_exports_markdown(client, viewer, versions):
    client.force_login(viewer)
    query = url(versions[0], versions[3], diff=1).split("?", 1)[1]
    response = client.get(reverse("compare-export", args=["md"]) + "?" + query)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/markdown")
    assert "attachment" in response["Content-Disposition"]
    text = response.content.decode()
    assert text.startswith("# Comparison of fraud/churn")
    assert "| Test | auc (higher is better) | 0.9 | 0.93 (+0.03, better) |" in text
    assert "| Test | logloss (lower is better) | 0.4 | 0.3 (-0.1, better) |" in text
    assert "train" not in text.split("## Metrics")[1].split("##")[0].lower()  # same: left out
    assert "numpy | 1.20.0 | 1.23.0 (upgraded)" in text
    assert "- **1.3.0**: patch — same signature" in text


def test_it_exports_csv_with_numbers_as_numbers(client, viewer, versions):
    client.force_login(viewer)
    query = url(versions[0], versions[3]).split("?", 1)[1]
    response = client.get(reverse("compare-export", args=["csv"]) + "?" + query)
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == [
        "section", "group", "name", "note",
        "1.0.0 (baseline)", "1.3.0", "1.3.0 vs baseline", "1.3.0 delta",
    ]  # fmt: skip
    logloss = next(r for r in rows if r[2] == "logloss")
    assert logloss[4:7] == ["0.4", "0.3", "better"]
    assert float(logloss[7]) == pytest.approx(-0.1)


# --- bad input and permissions ------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("v={a}", "pick 2 to 6 versions to compare (1 chosen)"),
        ("v={a}&v=x1", "v: version ids are whole numbers, got &#x27;x1&#x27;"),
        ("v={a}&v={b}&base=7abc", "base: version ids are whole numbers"),
        ("v={a}&v={b}&base={c}", "base: the baseline must be one of the compared versions"),
    ],
)
def test_it_explains_a_bad_selection(client, viewer, versions, query, message):
    client.force_login(viewer)
    a, b, c = (v.pk for v in versions[:3])
    for view in ("compare", "compare-export"):
        path = reverse(view, args=["csv"] if view == "compare-export" else [])
        response = client.get(path + "?" + query.format(a=a, b=b, c=c))
        assert response.status_code == 400
        assert message.split("&#x27;")[0].lower() in response.content.decode().lower()


def test_it_refuses_more_than_six_versions(client, viewer, versions, make_version):
    client.force_login(viewer)
    more = [make_version(versions[0].model, f"2.{i}.0") for i in range(3)]
    response = client.get(url(*versions, *more))
    assert response.status_code == 400
    assert "Pick 2 to 6 versions to compare (7 chosen)" in response.content.decode()


def test_it_answers_404_for_unknown_ids(client, viewer, versions):
    client.force_login(viewer)
    response = client.get(reverse("compare") + f"?v={versions[0].pk}&v=999999")
    assert response.status_code == 404
    assert "No version with id 999999 exists, or you may not see it" in response.content.decode()


def test_it_hides_another_teams_versions_as_unknown(client, outsider, versions):
    client.force_login(outsider)
    response = client.get(url(versions[0], versions[1]))
    assert response.status_code == 404
    assert (
        client.get(
            reverse("compare-export", args=["md"])
            + url(versions[0], versions[1])[len("/compare/") :]
        ).status_code
        == 404
    )


def test_a_viewer_of_the_team_may_compare(client, viewer, versions):
    client.force_login(viewer)
    assert client.get(url(versions[0], versions[1])).status_code == 200


def test_an_internal_model_of_another_team_may_be_compared_by_outsiders(
    client, outsider, versions, maintainer
):
    services.update_model(model=versions[0].model, actor=maintainer, visibility="internal")
    client.force_login(outsider)
    assert client.get(url(versions[0], versions[1])).status_code == 200


def test_it_refuses_versions_of_two_teams(client, site_admin, versions, other_team):
    other = services.create_model(team=other_team, name="ranker", actor=site_admin)
    theirs = services.register_version(
        model=other, actor=site_admin, version="1.0.0", metadata=clean_version_metadata({})
    )
    client.force_login(site_admin)
    response = client.get(url(versions[0], theirs))
    assert response.status_code == 400
    assert "different teams" in response.content.decode()


def test_it_labels_two_models_of_one_team(client, viewer, versions, make_model, make_version):
    ranker = make_version(make_model("ranker"), "0.1.0", metrics={"test": {"auc": 0.7}})
    client.force_login(viewer)
    response = client.get(url(versions[0], ranker))
    assert response.status_code == 200
    body = response.content.decode()
    assert "2 different models" in body
    assert "churn 1.0.0" in body and "ranker 0.1.0" in body


def test_the_export_refuses_post(client, viewer, versions):
    client.force_login(viewer)
    assert client.post(reverse("compare-export", args=["md"])).status_code == 405
    assert client.post(reverse("compare")).status_code == 405


# --- entry points ---------------------------------------------------------------------------


def test_the_version_page_links_to_compare_with_production_and_previous(client, viewer, versions):
    client.force_login(viewer)
    v0, v1, v2, _ = versions  # v1 is in Production
    response = client.get(v2.get_absolute_url())
    assert response.context["compare_production"] == url(v1, v2, base=v1.pk)
    assert response.context["compare_previous"] == url(v1, v2, base=v1.pk)
    response = client.get(v0.get_absolute_url())  # the first version: nothing before it
    assert "compare_previous" not in response.context
    assert response.context["compare_production"] == url(v1, v0, base=v1.pk)
    response = client.get(v1.get_absolute_url())  # Production itself
    assert "compare_production" not in response.context
    assert "Compare with previous" in response.content.decode()


def test_the_version_history_has_a_checkbox_per_version_for_comparing(client, viewer, versions):
    client.force_login(viewer)
    body = client.get(versions[0].model.get_absolute_url()).content.decode()
    assert f'action="{reverse("compare")}"' in body
    for v in versions:
        assert f'name="v" value="{v.pk}"' in body
        assert f'aria-label="Compare {v.version}"' in body
