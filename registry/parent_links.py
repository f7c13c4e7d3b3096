"""Parent links and version deletion, kept from crossing (PostgreSQL advisory locks).

Lineage edges name their versions by id, without foreign keys (a node is a row of one of
several tables), so the database alone would let delete_version remove a version while
another transaction links a child to it: the deletion cannot see the uncommitted edge, and
the edge would point at nothing. A link holds a shared lock on each parent until its
transaction ends; a deletion takes the same lock exclusively before anything else. So
whichever comes second sees what the first did: the deletion finds the child and is
refused, or the link finds its parent gone. SQLite runs one writing transaction at a time.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

from registry.models import ModelVersion

_NAMESPACE = 0x4D475631  # "MGV1": the first key of these locks (an int4)


def hold_parents(version_ids: Iterable[int]) -> set[int]:
    """Keep these versions from being deleted until the transaction ends; answer those
    that still exist (one deleted meanwhile is missing)."""
    ids = sorted(set(version_ids))
    if not ids:
        return set()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock_shared(%s, (k & 2147483647)::int) "
                "FROM unnest(%s::bigint[]) AS k",
                [_NAMESPACE, ids],
            )
    return set(ModelVersion.objects.filter(pk__in=ids).values_list("pk", flat=True))


def lock_for_deletion(version_id: int) -> None:
    """Wait for the links to this version in progress; hold off new ones until the
    transaction ends. Take it before any other lock of the deletion."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, (%s::bigint & 2147483647)::int)",
                [_NAMESPACE, version_id],
            )
