"""Plain-SQL reads and inserts for the rows that every API request or registration touches.

The ORM builds and compiles a query on every call. For the token check, the caller's
memberships, the model a request names and the rows a registration inserts, that costs
several times what the database does: about 1.5 ms of CPU per lookup and 0.5 ms per
insert on this project's 2-core benchmark machine, against 0.2 ms with plain SQL
(bench/api.py, bench/mlflow_compare.sh). These helpers keep such SQL short and safe:
column lists come from the models' metadata, values pass through the same conversions the
ORM applies both ways (JSON, datetimes, defaults, auto_now), rows come back as model
instances built the way the ORM builds them, and parameters are always bound, never
formatted into the SQL. Model signals are not sent (the project connects none to these
models); use the ORM for anything that needs them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from django.db import connection
from django.db.models import Field, Model, Value

Converter = Callable[[Any, Any, Any], Any]


def table(model: type[Model]) -> str:
    """The model's quoted table name."""
    return connection.ops.quote_name(model._meta.db_table)


def columns(model: type[Model], alias: str) -> str:
    """`alias.col, …` for every concrete field of the model, in `_meta` order."""
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(f.column)}" for f in model._meta.concrete_fields)


@cache
def _converters(model: type[Model], vendor: str) -> dict[str, tuple[Any, list[Converter]]]:
    """By field attname: the column and the converters its database values go through, for
    the fields that have some (the ORM's own: backend's, then field's)."""
    found = {}
    for field in model._meta.concrete_fields:
        col = field.get_col(model._meta.db_table)
        chain = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        if chain:
            found[field.attname] = (col, chain)
    return found


def _from_db(model: type[Model], attname: str, value: Any) -> Any:
    col, chain = _converters(model, connection.vendor).get(attname, (None, ()))
    for convert in chain:
        value = convert(value, col, connection)
    return value


def instance[M: Model](model: type[M], values: Sequence[Any]) -> M:
    """A model instance from its `columns(model, …)` values, as the ORM would build it."""
    names = [f.attname for f in model._meta.concrete_fields]
    converted = [_from_db(model, name, value) for name, value in zip(names, values, strict=True)]
    return model.from_db(connection.alias, names, converted)


def width(model: type[Model]) -> int:
    """How many values `columns(model, …)` selects."""
    return len(model._meta.concrete_fields)


def fetch(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@cache
def _insert_sql(
    model: type[Model], with_pk: bool, rows: int, returned: tuple[str, ...], vendor: str
) -> str:
    quote = connection.ops.quote_name
    fields = _insert_fields(model, with_pk)
    placeholders = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = (
        f"INSERT INTO {table(model)} ({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES {', '.join([placeholders] * rows)}"
    )
    if returned:
        fields_by_name = {f.attname: f for f in model._meta.concrete_fields}
        sql += " RETURNING " + ", ".join(quote(fields_by_name[n].column) for n in returned)
    return sql


@cache
def _insert_fields(model: type[Model], with_pk: bool) -> list[Field]:
    return [f for f in model._meta.local_concrete_fields if with_pk or not f.primary_key]


def insert(objs: Sequence[Model]) -> None:
    """INSERT new instances of one model in one statement, as `save(force_insert=True)`
    would: defaults and auto_now values filled in, primary keys set (those given kept;
    all given or none), and fields given as `Value(…, output_field=…)` expressions read
    back from the INSERT as the database stored them (JSON normalised, say), at no extra
    query. Nothing to insert is no query."""
    if not objs:
        return
    model = type(objs[0])
    with_pk = objs[0].pk is not None
    fields = _insert_fields(model, with_pk)
    as_stored = tuple(f.attname for f in fields if isinstance(getattr(objs[0], f.attname), Value))
    returned = (*(() if with_pk else (model._meta.pk.attname,)), *as_stored)
    params = []
    for obj in objs:  # foreign keys to objects given an id after they were assigned
        obj._prepare_related_fields_for_save(operation_name="insert")
        for f in fields:
            value = f.pre_save(obj, True)
            if isinstance(value, Value):
                params.append(value.output_field.get_db_prep_save(value.value, connection))
            else:
                params.append(f.get_db_prep_save(value, connection))
    sql = _insert_sql(model, with_pk, len(objs), returned, connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        results = cursor.fetchall() if returned else [()] * len(objs)
    for obj, values in zip(objs, results, strict=True):
        for name, value in zip(returned, values, strict=True):
            setattr(obj, name, _from_db(model, name, value))
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias
