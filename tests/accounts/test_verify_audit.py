"""`manage.py verify_audit`: an intact chain passes; an edited, deleted or inserted event,
or events missing at the end, are reported by id and the command exits non-zero.

Events refuse ORM updates and deletes, so tampering goes around the guard the way an
attacker with database access would: Django's base QuerySet.update, or raw SQL.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import ManagementUtility, call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from accounts import audit
from accounts.models import AuditEvent, AuditHead, Team, User

pytestmark = pytest.mark.django_db

TABLE = AuditEvent._meta.db_table


@pytest.fixture
def events(team: Team, maintainer: User) -> list[AuditEvent]:
    return [
        audit.record(
            "team.update",
            actor=maintainer,
            obj=team,
            team=team,
            changes={"description": [f"v{i}", f"v{i + 1}"]},
        )
        for i in range(5)
    ]


def verify() -> str:
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


def verify_fails() -> str:
    with pytest.raises(CommandError) as excinfo:
        verify()
    return str(excinfo.value)


def raw_update(event: AuditEvent, **values: Any) -> None:
    QuerySet.update(AuditEvent.objects.filter(pk=event.pk), **values)


def raw_delete(*ids: int) -> None:
    with connection.cursor() as cursor:
        for pk in ids:
            cursor.execute(f"DELETE FROM {TABLE} WHERE id = %s", [pk])


def test_it_reports_an_intact_chain(events: list[AuditEvent]) -> None:
    output = verify()

    assert "Checked 5 events: audit log intact." in output
    assert f"Head: event #{events[-1].pk}, hash {events[-1].hash}" in output


def test_it_reports_an_empty_log_as_intact() -> None:
    assert "Checked 0 events: audit log intact." in verify()


def test_it_exits_non_zero_when_the_chain_is_broken(
    events: list[AuditEvent], capsys: pytest.CaptureFixture[str]
) -> None:
    raw_update(events[2], actor_name="mallory")

    with pytest.raises(SystemExit) as excinfo:
        ManagementUtility(["manage.py", "verify_audit"]).execute()

    assert excinfo.value.code == 1
    assert f"event #{events[2].pk}" in capsys.readouterr().err


def test_it_exits_zero_when_intact(events: list[AuditEvent]) -> None:
    ManagementUtility(["manage.py", "verify_audit"]).execute()  # no SystemExit


def test_it_names_an_event_whose_changes_were_edited(events: list[AuditEvent]) -> None:
    raw_update(events[2], changes={"description": ["v2", "something else"]})

    message = verify_fails()

    assert f"broken at event #{events[2].pk}" in message
    assert "edited" in message
    assert "Checked 2 events" in message


def test_it_names_an_event_whose_actor_was_edited_with_raw_sql(
    events: list[AuditEvent],
) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {TABLE} SET actor_name = %s WHERE id = %s", ["someone-else", events[1].pk]
        )

    message = verify_fails()

    assert f"broken at event #{events[1].pk}" in message
    assert "edited" in message


def test_it_names_an_edit_that_also_recomputed_the_hash_by_the_next_event(
    events: list[AuditEvent],
) -> None:
    forged = AuditEvent.objects.get(pk=events[1].pk)
    forged.actor_name = "someone-else"
    raw_update(events[1], actor_name="someone-else", hash=audit.event_hash(forged))

    message = verify_fails()

    assert f"broken at event #{events[2].pk}" in message
    assert "deleted" in message


def test_it_names_the_event_after_one_deleted_in_the_middle(events: list[AuditEvent]) -> None:
    raw_delete(events[2].pk)

    message = verify_fails()

    assert f"broken at event #{events[3].pk}" in message
    assert "an event before it was deleted" in message


def test_it_detects_an_event_inserted_between_two_others(events: list[AuditEvent]) -> None:
    # Make room after events[1], then slip in a well-formed event linked to it.
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET id = id + 100 WHERE id > %s", [events[1].pk])
    QuerySet.update(AuditHead.objects.filter(pk=1), last_event_id=events[-1].pk + 100)
    forged = AuditEvent(
        pk=events[1].pk + 50,
        created_at=timezone.now(),
        actor_name="mallory",
        action="membership.add",
        object_repr="mallory in Fraud",
        prev_hash=events[1].hash,
    )
    forged.hash = audit.event_hash(forged)
    forged.save(force_insert=True)

    message = verify_fails()

    # The forged event links to its predecessor; the one after it no longer does.
    assert f"broken at event #{events[2].pk + 100}" in message
    assert "inserted out of order" in message


def test_it_detects_an_event_with_a_forged_link(events: list[AuditEvent]) -> None:
    forged = AuditEvent(
        created_at=timezone.now(),
        actor_name="mallory",
        action="token.create",
        prev_hash="f" * 64,
    )
    forged.hash = audit.event_hash(forged)
    forged.save(force_insert=True)
    QuerySet.update(AuditHead.objects.filter(pk=1), last_event_id=forged.pk, last_hash=forged.hash)

    message = verify_fails()

    assert f"broken at event #{forged.pk}" in message
    assert "inserted out of order" in message


def test_it_detects_two_events_swapped(events: list[AuditEvent]) -> None:
    fields = [f.attname for f in AuditEvent._meta.concrete_fields if not f.primary_key]
    first, second = (AuditEvent.objects.filter(pk=e.pk).values(*fields)[0] for e in events[1:3])
    raw_update(events[1], hash="x" * 64)  # hashes are unique: park one while swapping
    raw_update(events[2], **first)
    raw_update(events[1], **second)

    message = verify_fails()

    assert f"broken at event #{events[1].pk}" in message
    assert "inserted out of order" in message


def test_it_detects_the_newest_events_deleted(events: list[AuditEvent]) -> None:
    raw_delete(events[-1].pk, events[-2].pk)

    message = verify_fails()

    assert "Checked 3 events" in message
    assert f"broken at event #{events[-1].pk}" in message
    assert "events at the end of the log were deleted" in message


def test_it_detects_every_event_deleted(events: list[AuditEvent]) -> None:
    raw_delete(*(e.pk for e in events))

    assert "events at the end of the log were deleted" in verify_fails()


def test_it_reports_a_missing_head_row(events: list[AuditEvent]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {AuditHead._meta.db_table}")

    assert "head row is missing" in verify_fails()


def test_it_reads_the_log_in_batches(events: list[AuditEvent]) -> None:
    out = io.StringIO()
    call_command("verify_audit", batch_size=2, stdout=out)

    assert "Checked 5 events: audit log intact." in out.getvalue()


def test_it_refuses_a_batch_size_below_one() -> None:
    with pytest.raises(CommandError, match="at least 1"):
        call_command("verify_audit", batch_size=0)
