"""Plain-SQL reads for the lookups that every API request makes.

The ORM builds and compiles a query on every call. For the token check, the caller's
memberships and the model a request names, that costs several times what the database
does: about 1.5 ms of CPU per lookup on this project's 2-core benchmark machine, against
0.2 ms for reading the same rows with plain SQL (bench/api.py, bench/mlflow_compare.sh).
These helpers keep such SQL short and safe: column lists come from the models' metadata,
values pass through the same converters the ORM applies (JSON, SQLite's datetimes), rows
come back as model instances built the way the ORM builds them, and parameters are always
bound, never formatted into the SQL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from django.db import connection
from django.db.models import Model

Converter = Callable[[Any, Any, Any], Any]


def table(model: type[Model]) -> str:
    """The model's quoted table name."""
    return connection.ops.quote_name(model._meta.db_table)


def columns(model: type[Model], alias: str) -> str:
    """`alias.col, …` for every concrete field of the model, in `_meta` order."""
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(f.column)}" for f in model._meta.concrete_fields)


@cache
def _converters(model: type[Model], vendor: str) -> tuple[tuple[int, Any, list[Converter]], ...]:
    found = []
    for index, field in enumerate(model._meta.concrete_fields):
        col = field.get_col(model._meta.db_table)
        chain = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        if chain:
            found.append((index, col, chain))
    return tuple(found)


def instance[M: Model](model: type[M], values: Sequence[Any]) -> M:
    """A model instance from its `columns(model, …)` values, as the ORM would build it."""
    values = list(values)
    for index, col, chain in _converters(model, connection.vendor):
        for convert in chain:
            values[index] = convert(values[index], col, connection)
    names = [f.attname for f in model._meta.concrete_fields]
    return model.from_db(connection.alias, names, values)


def width(model: type[Model]) -> int:
    """How many values `columns(model, …)` selects."""
    return len(model._meta.concrete_fields)


def fetch(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
