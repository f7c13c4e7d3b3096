"""Audit pages per model, per team and site-wide: who may see them, filters, keyset
pagination, htmx partials, exports, and bounded query counts."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import audit, audit_export
from accounts.models import AuditEvent, Team, User
from accounts.views.audit import EVENTS_PER_PAGE
from registry.models import ModelVersion, RegisteredModel

pytestmark = pytest.mark.django_db

TEAM_ROLES = ["maintainer", "reviewer", "contributor", "viewer"]
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def model(make_model: Callable[..., RegisteredModel]) -> RegisteredModel:
    return make_model("churn")


@pytest.fixture
def version(model: RegisteredModel, make_version: Callable[..., ModelVersion]) -> ModelVersion:
    return make_version(model, "1.0.0")


@pytest.fixture
def log(
    team: Team,
    other_team: Team,
    model: RegisteredModel,
    version: ModelVersion,
    make_model: Callable[..., RegisteredModel],
    maintainer: User,
    outsider: User,
) -> dict[str, AuditEvent]:
    """One event in each place a page must show or hide."""
    sibling = make_model("fraud-score")
    return {
        "model": audit.record(
            "model.update",
            actor=maintainer,
            obj=model,
            team=team,
            changes=audit.diff({"description": "old"}, {"description": "new"}),
        ),
        "version": audit.record(
            "version.stage",
            actor=maintainer,
            obj=version,
            team=team,
            changes={"stage": ["development", "staging"]},
        ),
        "sibling": audit.record("model.update", actor=maintainer, obj=sibling, team=team),
        "team": audit.record("membership.add", actor=maintainer, obj=team, team=team),
        "other_team": audit.record(
            "membership.add", actor=outsider, obj=other_team, team=other_team
        ),
        "sign_in": audit.record("auth.login_failed", actor_name="mallory"),
    }


def model_url(name: str = "audit-model", *extra: str) -> str:
    return reverse(name, args=["fraud", "churn", *extra])


def team_url(name: str = "audit-team", *extra: str) -> str:
    return reverse(name, args=["fraud", *extra])


def all_url(name: str = "audit-log", *extra: str) -> str:
    return reverse(name, args=list(extra))


def ids_on(response: Any) -> list[int]:
    return [event.pk for event in response.context["page"].items]


def streamed(response: Any) -> str:
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content).decode()


# --- who may see what -----------------------------------------------------------------


@pytest.mark.parametrize("role", TEAM_ROLES)
def test_it_shows_the_team_and_model_pages_to_every_team_role(
    client: Client, log: dict[str, AuditEvent], role: str, request: pytest.FixtureRequest
) -> None:
    client.force_login(request.getfixturevalue(role))

    for url in (model_url(), team_url()):
        assert client.get(url).status_code == 200, url
    for url in (model_url("audit-model-export", "csv"), team_url("audit-team-export", "jsonl")):
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize("role", [*TEAM_ROLES, "outsider"])
def test_it_hides_the_site_wide_log_from_everyone_but_site_admins(
    client: Client, log: dict[str, AuditEvent], role: str, request: pytest.FixtureRequest
) -> None:
    client.force_login(request.getfixturevalue(role))

    assert client.get(all_url()).status_code == 404
    assert client.get(all_url("audit-log-export", "csv")).status_code == 404


def test_it_hides_a_team_staff_member_who_is_not_a_site_admin(
    client: Client, log: dict[str, AuditEvent], viewer: User
) -> None:
    viewer.is_staff = True
    viewer.save()
    client.force_login(viewer)

    assert client.get(all_url()).status_code == 404


def test_it_hides_another_teams_pages_from_an_outsider(
    client: Client, log: dict[str, AuditEvent], outsider: User
) -> None:
    client.force_login(outsider)

    for url in (
        model_url(),
        team_url(),
        model_url("audit-model-export", "csv"),
        team_url("audit-team-export", "csv"),
        reverse("audit-team", args=["no-such-team"]),
        reverse("audit-model", args=["fraud", "no-such-model"]),
    ):
        assert client.get(url).status_code == 404, url


@pytest.mark.parametrize(
    "path",
    [
        "/audit/models/fraud/ch%00urn/",
        "/audit/models/fraud/ch%00urn/export.csv",
        "/audit/models/fraud/-churn/",
        "/audit/teams/fr%00aud/",
        "/audit/teams/fraud/export.csv%00",
    ],
)
def test_it_answers_404_to_names_no_model_or_team_can_have(
    client: Client, log: dict[str, AuditEvent], site_admin: User, path: str
) -> None:
    client.force_login(site_admin)

    assert client.get(path).status_code == 404


def test_it_shows_an_internal_models_log_but_not_its_teams_to_any_signed_in_user(
    client: Client, log: dict[str, AuditEvent], model: RegisteredModel, outsider: User
) -> None:
    RegisteredModel.objects.filter(pk=model.pk).update(visibility="internal")
    client.force_login(outsider)

    assert client.get(model_url()).status_code == 200
    assert client.get(team_url()).status_code == 404


def test_it_shows_every_page_to_a_site_admin(
    client: Client, log: dict[str, AuditEvent], site_admin: User
) -> None:
    client.force_login(site_admin)

    for url in (all_url(), team_url(), model_url(), reverse("audit-team", args=["growth"])):
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(lambda: all_url(), id="all"),
        pytest.param(lambda: team_url(), id="team"),
        pytest.param(lambda: model_url(), id="model"),
        pytest.param(lambda: all_url("audit-log-export", "csv"), id="all-export"),
        pytest.param(lambda: team_url("audit-team-export", "csv"), id="team-export"),
        pytest.param(lambda: model_url("audit-model-export", "jsonl"), id="model-export"),
    ],
)
def test_it_sends_anonymous_visitors_to_sign_in(
    client: Client, log: dict[str, AuditEvent], url: Callable[[], str]
) -> None:
    response = client.get(url())

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


def test_it_answers_only_get(client: Client, log: dict[str, AuditEvent], site_admin: User) -> None:
    client.force_login(site_admin)

    for url in (all_url(), team_url(), model_url(), team_url("audit-team-export", "csv")):
        assert client.post(url).status_code == 405, url


def test_it_knows_no_other_export_format(
    client: Client, log: dict[str, AuditEvent], site_admin: User
) -> None:
    client.force_login(site_admin)

    assert client.get(all_url() + "export.xml").status_code == 404


# --- what each scope lists ------------------------------------------------------------


def test_it_lists_the_events_of_a_model_and_its_versions(
    client: Client, log: dict[str, AuditEvent], viewer: User
) -> None:
    client.force_login(viewer)

    ids = ids_on(client.get(model_url()))

    assert log["model"].pk in ids
    assert log["version"].pk in ids
    for other in ("sibling", "team", "other_team", "sign_in"):
        assert log[other].pk not in ids, other
    assert ids == sorted(ids, reverse=True)


def test_it_lists_the_events_of_a_team(
    client: Client, log: dict[str, AuditEvent], viewer: User
) -> None:
    client.force_login(viewer)

    ids = ids_on(client.get(team_url()))

    for mine in ("model", "version", "sibling", "team"):
        assert log[mine].pk in ids, mine
    assert log["other_team"].pk not in ids
    assert log["sign_in"].pk not in ids


def test_it_lists_every_event_including_sign_ins_to_a_site_admin(
    client: Client, log: dict[str, AuditEvent], site_admin: User
) -> None:
    client.force_login(site_admin)

    ids = ids_on(client.get(all_url()))

    assert {event.pk for event in log.values()} <= set(ids)


def test_it_shows_the_columns(client: Client, log: dict[str, AuditEvent], viewer: User) -> None:
    client.force_login(viewer)

    html = client.get(model_url()).content.decode()

    assert "model.update" in html
    assert "version.stage" in html
    assert "fraud/churn" in html  # the object
    assert "description" in html and "old" in html and "new" in html  # the change
    assert "development" in html and "staging" in html
    assert 'href="/audit/models/fraud/churn/export.csv"' in html
    assert 'href="/audit/models/fraud/churn/export.jsonl"' in html


def test_it_folds_long_change_lists_and_shows_the_request_context(
    client: Client, team: Team, maintainer: User
) -> None:
    token = audit.set_request_context(
        audit.RequestContext(ip="10.1.2.3", user_agent="agent/1", request_id="req-77")
    )
    try:
        audit.record(
            "team.update",
            actor=maintainer,
            obj=team,
            team=team,
            changes={f"field{i}": [i, i + 1] for i in range(5)},
        )
    finally:
        audit.reset_request_context(token)
    client.force_login(maintainer)

    html = client.get(team_url()).content.decode()

    assert "<details><summary>2 more</summary>" in html
    assert "field4" in html
    assert "10.1.2.3" in html
    assert "req-77" in html
    assert 'title="agent/1"' in html


def test_it_shows_who_was_not_signed_in_and_the_system(
    client: Client, log: dict[str, AuditEvent], site_admin: User
) -> None:
    audit.record("job.sweep")
    client.force_login(site_admin)

    html = client.get(all_url()).content.decode()

    assert "mallory <span" in html and "(not signed in)" in html
    assert ">system<" in html


def test_it_escapes_what_people_typed(client: Client, site_admin: User) -> None:
    audit.record("auth.login_failed", actor_name="<script>alert(1)</script>")
    client.force_login(site_admin)

    html = client.get(all_url()).content.decode()

    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)" in html


def test_it_says_when_there_is_nothing_yet(
    client: Client, model: RegisteredModel, viewer: User
) -> None:
    client.force_login(viewer)

    response = client.get(model_url() + "?actor=nobody-at-all")

    assert "No events match these filters." in response.content.decode()


def test_it_says_when_a_scope_has_no_events(
    client: Client, other_team: Team, outsider: User
) -> None:
    client.force_login(outsider)

    response = client.get(reverse("audit-team", args=["growth"]))

    assert "No events recorded for this team yet." in response.content.decode()


# --- filters --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("action=model.update", {"model", "sibling"}),
        ("action=model.", {"model", "sibling"}),
        ("action=version*", {"version"}),
        ("action=version", set()),  # not an action, and not a prefix without . or *
        ("actor=maintainer", {"model", "version", "sibling", "team"}),
        ("actor=mallory", set()),
        ("q=fraud-score", {"sibling"}),
        ("q=FRAUD/CHURN", {"model"}),
        ("action=model.update&q=churn", {"model"}),
    ],
)
def test_it_filters_by_action_actor_and_object(
    client: Client,
    log: dict[str, AuditEvent],
    viewer: User,
    query: str,
    expected: set[str],
) -> None:
    client.force_login(viewer)

    ids = set(ids_on(client.get(f"{team_url()}?{query}")))

    mine = {name: event.pk for name, event in log.items()}
    assert {name for name, pk in mine.items() if pk in ids} == expected


def test_it_filters_failed_sign_ins_by_the_username_tried(
    client: Client, log: dict[str, AuditEvent], site_admin: User
) -> None:
    client.force_login(site_admin)

    ids = ids_on(client.get(all_url() + "?actor=mallory&action=auth."))

    assert ids == [log["sign_in"].pk]


def test_it_filters_by_date(client: Client, log: dict[str, AuditEvent], viewer: User) -> None:
    old = log["team"]
    QuerySet.update(
        AuditEvent.objects.filter(pk=old.pk), created_at=timezone.now() - dt.timedelta(days=40)
    )
    day = (timezone.now() - dt.timedelta(days=40)).date().isoformat()
    client.force_login(viewer)

    on_the_day = ids_on(client.get(f"{team_url()}?since={day}&until={day}"))
    since_then = ids_on(client.get(f"{team_url()}?since={timezone.now().date().isoformat()}"))
    until_then = ids_on(client.get(f"{team_url()}?until={day}"))

    assert on_the_day == [old.pk]
    assert old.pk not in since_then and log["model"].pk in since_then
    assert until_then == [old.pk]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("since=yesterday", "From: Enter a valid date."),
        ("since=2026-02-01&until=2026-01-01", "To: The end date is before the start date."),
        ("action=" + "x" * 65, "Action: Ensure this value has at most 64 characters"),
    ],
)
def test_it_reports_and_ignores_a_bad_filter(
    client: Client, log: dict[str, AuditEvent], viewer: User, query: str, message: str
) -> None:
    client.force_login(viewer)

    response = client.get(f"{team_url()}?{query}")

    assert response.status_code == 200
    assert message in response.content.decode()
    assert log["team"].pk in ids_on(response)


def test_it_survives_the_largest_date(
    client: Client, log: dict[str, AuditEvent], viewer: User
) -> None:
    client.force_login(viewer)

    response = client.get(f"{team_url()}?since=0001-01-01&until=9999-12-31")

    assert response.status_code == 200
    assert log["team"].pk in ids_on(response)


def test_it_suggests_the_actions_in_the_log(
    client: Client, log: dict[str, AuditEvent], viewer: User
) -> None:
    client.force_login(viewer)

    choices = client.get(team_url()).context["action_choices"]

    assert {"auth.", "membership.", "model.", "version."} <= set(choices)
    assert {"auth.login_failed", "membership.add", "model.update", "version.stage"} <= set(choices)


# --- pagination -----------------------------------------------------------------------


def record_many(team: Team, actor: User, count: int) -> list[int]:
    return [
        audit.record("team.update", actor=actor, obj=team, team=team, object_repr=f"e{i}").pk
        for i in range(count)
    ]


def test_it_pages_newest_first_with_cursors(client: Client, team: Team, maintainer: User) -> None:
    expected = sorted(AuditEvent.objects.filter(team=team).values_list("pk", flat=True))
    expected = sorted([*expected, *record_many(team, maintainer, 120)], reverse=True)
    client.force_login(maintainer)

    first = client.get(team_url())
    page = first.context["page"]
    assert ids_on(first) == expected[:EVENTS_PER_PAGE]
    assert page.previous_cursor is None

    second = client.get(team_url(), {"cursor": page.next_cursor})
    assert ids_on(second) == expected[EVENTS_PER_PAGE : 2 * EVENTS_PER_PAGE]

    seen = ids_on(first) + ids_on(second)
    cursor = second.context["page"].next_cursor
    while cursor:
        response = client.get(team_url(), {"cursor": cursor})
        seen += ids_on(response)
        cursor = response.context["page"].next_cursor
    assert seen == expected

    back = client.get(team_url(), {"before": second.context["page"].previous_cursor})
    assert ids_on(back) == expected[:EVENTS_PER_PAGE]
    assert back.context["page"].previous_cursor is None


def test_it_keeps_filters_in_the_page_links(client: Client, team: Team, maintainer: User) -> None:
    record_many(team, maintainer, 60)
    client.force_login(maintainer)

    response = client.get(team_url(), {"action": "team.update"})
    html = response.content.decode()

    cursor = response.context["page"].next_cursor
    assert f'href="?action=team.update&amp;cursor={cursor}"' in html
    assert f'hx-get="?action=team.update&amp;cursor={cursor}"' in html
    # Exports take the filters but not the page.
    page_two = client.get(team_url(), {"action": "team.update", "cursor": cursor})
    assert "/audit/teams/fraud/export.csv?action=team.update&quot;" not in page_two.content.decode()
    assert 'href="/audit/teams/fraud/export.csv?action=team.update"' in page_two.content.decode()


@pytest.mark.parametrize("cursor", ["not base64!", "YWJj", "LTE", "OTk5OTk5OTk5OTk5OTk5OTk5OTk5"])
def test_it_shows_the_first_page_for_a_malformed_cursor(
    client: Client, log: dict[str, AuditEvent], viewer: User, cursor: str
) -> None:
    client.force_login(viewer)

    for param in ("cursor", "before"):
        response = client.get(team_url(), {param: cursor})
        assert response.status_code == 200
        assert log["team"].pk in ids_on(response)


def test_it_offers_the_newest_events_past_the_last_page(
    client: Client, log: dict[str, AuditEvent], viewer: User
) -> None:
    from registry.pagination import encode_cursor

    client.force_login(viewer)

    response = client.get(team_url(), {"cursor": encode_cursor("1")})

    assert ids_on(response) == []
    assert "Back to the newest events" in response.content.decode()


# --- htmx -----------------------------------------------------------------------------


def test_it_swaps_only_the_results_for_htmx(
    client: Client, log: dict[str, AuditEvent], viewer: User
) -> None:
    client.force_login(viewer)

    response = client.get(team_url() + "?action=model.", **HX)

    html = response.content.decode()
    assert html.lstrip().startswith('<div id="audit-results">')
    assert "<html" not in html
    assert 'id="audit-filters"' not in html
    assert "model.update" in html and "membership.add" not in html
    assert "HX-Request" in response["Vary"]


def test_it_renders_the_whole_page_for_a_direct_or_boosted_visit(
    client: Client, log: dict[str, AuditEvent], viewer: User
) -> None:
    client.force_login(viewer)

    for headers in ({}, {**HX, "HTTP_HX_BOOSTED": "true"}):
        html = client.get(team_url() + "?action=model.", **headers).content.decode()
        assert "<html" in html
        assert 'id="audit-filters"' in html
        assert 'hx-push-url="true"' in html
        assert 'id="audit-results"' in html
        assert 'value="model."' in html  # the filter is kept in the form


# --- exports --------------------------------------------------------------------------


def test_it_exports_csv_oldest_first_with_the_hashes(
    client: Client, log: dict[str, AuditEvent], viewer: User
) -> None:
    client.force_login(viewer)

    response = client.get(team_url("audit-team-export", "csv"))

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="audit-fraud-')
    assert disposition.endswith('.csv"')
    assert response["Cache-Control"] == "private, no-store"
    rows = list(csv.DictReader(io.StringIO(streamed(response))))
    assert tuple(rows[0]) == audit_export.COLUMNS
    ids = [int(row["id"]) for row in rows]
    assert ids == sorted(AuditEvent.objects.filter(team__slug="fraud").values_list("pk", flat=True))
    model_row = next(row for row in rows if int(row["id"]) == log["model"].pk)
    assert model_row["action"] == "model.update"
    assert json.loads(model_row["changes"]) == {"description": ["old", "new"]}
    assert (model_row["prev_hash"], model_row["hash"]) == (
        log["model"].prev_hash,
        log["model"].hash,
    )


def canonical_hash(row: dict[str, Any]) -> str:
    """What an auditor runs offline: the documented recipe, with no Modelgate code."""
    content = {key: row[key] for key in audit_export.HASHED_FIELDS}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def test_it_exports_json_lines_an_auditor_can_reverify(
    client: Client, log: dict[str, AuditEvent], site_admin: User
) -> None:
    audit.record("team.update", actor_name="zoë", changes={"note": ["ä", 1.5], "n": [None, 2]})
    client.force_login(site_admin)

    response = client.get(all_url("audit-log-export", "jsonl"))

    assert response["Content-Type"] == "application/jsonl; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-all-')
    rows = [json.loads(line) for line in streamed(response).splitlines()]
    assert len(rows) == AuditEvent.objects.count()
    previous = audit.GENESIS
    for row in rows:  # the whole log: every row re-hashes and links to the one before
        assert canonical_hash(row) == row["hash"]
        assert row["prev_hash"] == previous
        previous = row["hash"]


def test_it_exports_only_the_filtered_events_of_the_scope(
    client: Client, log: dict[str, AuditEvent], viewer: User
) -> None:
    client.force_login(viewer)

    response = client.get(model_url("audit-model-export", "jsonl") + "?action=version.")

    assert response["Content-Disposition"].startswith('attachment; filename="audit-fraud-churn-')
    rows = [json.loads(line) for line in streamed(response).splitlines()]
    expected = AuditEvent.objects.filter(
        model_id=log["model"].model_id, action__startswith="version."
    )
    assert [row["id"] for row in rows] == sorted(expected.values_list("pk", flat=True))
    assert log["version"].pk in [row["id"] for row in rows]
    assert all(row["action"].startswith("version.") for row in rows)
    assert all(canonical_hash(row) == row["hash"] for row in rows)


def test_it_keeps_spreadsheet_formulas_inert_in_csv(client: Client, site_admin: User) -> None:
    audit.record("auth.login_failed", actor_name='=HYPERLINK("http://evil")')
    audit.record("auth.login_failed", actor_name="'quoted")
    client.force_login(site_admin)

    rows = list(csv.DictReader(io.StringIO(streamed(client.get(all_url() + "export.csv")))))

    names = [row["actor_name"] for row in rows if row["action"] == "auth.login_failed"]
    assert names == ['\'=HYPERLINK("http://evil")', "''quoted"]


def test_it_streams_an_export_in_bounded_batches(
    client: Client,
    team: Team,
    maintainer: User,
    monkeypatch: pytest.MonkeyPatch,
    django_assert_max_num_queries: Any,
) -> None:
    record_many(team, maintainer, 25)
    total = AuditEvent.objects.filter(team=team).count()
    monkeypatch.setattr(audit_export, "BATCH_SIZE", 10)
    client.force_login(maintainer)

    # session, user, team, memberships, then one query per batch of 10.
    with django_assert_max_num_queries(4 + total // 10 + 1):
        lines = streamed(client.get(team_url("audit-team-export", "jsonl"))).splitlines()

    assert len(lines) == total


# --- query counts ---------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["all", "team", "model"])
def test_it_shows_100_events_in_a_bounded_number_of_queries(
    client: Client,
    team: Team,
    model: RegisteredModel,
    version: ModelVersion,
    maintainer: User,
    site_admin: User,
    django_assert_max_num_queries: Any,
    scope: str,
) -> None:
    for i in range(50):
        audit.record("model.update", actor=maintainer, obj=model, team=team, changes={"i": [i, i]})
        audit.record("version.update", actor=maintainer, obj=version, team=team)
    client.force_login(site_admin if scope == "all" else maintainer)
    url = {"all": all_url(), "team": team_url(), "model": model_url()}[scope]

    # session, user, scope (model or team), memberships, events, known actions, and the
    # navigation's review and notification counts.
    with django_assert_max_num_queries(7):
        response = client.get(url + "?action=model.")
    assert response.status_code == 200
    with django_assert_max_num_queries(7):
        response = client.get(url, {"cursor": response.context["page"].next_cursor or ""})
    assert response.status_code == 200
