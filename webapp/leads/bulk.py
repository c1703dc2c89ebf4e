"""Inserting thousands of rows in one statement per table (bulk API, CSV import, segment upkeep).

On PostgreSQL plain inserts are a ``COPY ... FROM STDIN`` in the session's transaction (psycopg
formats the rows in C) of the values an INSERT would send; inserts that skip duplicates and say what
they inserted send one array per column, turned back into rows by ``unnest()``. Both avoid multi-row
VALUES statements of thousands of parameters, which psycopg parses slowly. Ids come from the table's
sequence first, so no RETURNING (whose order PostgreSQL does not promise) is needed. Other databases
(SQLite, the embedded default) use executemany with RETURNING.
"""

import json
from collections.abc import Iterable
from contextlib import contextmanager

from sqlalchemy import JSON, Table, cast, func, insert, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import REGCLASS

from ..extensions import db


def uses_copy() -> bool:
    """Whether plain inserts are a COPY (PostgreSQL through psycopg) rather than executemany."""
    return db.engine.dialect.name == "postgresql"


def insert_with_ids(table: Table, rows: list[dict]) -> list[int]:
    """Insert rows (dicts with the same keys) and return their new ids, in the order of the rows."""
    if not rows:
        return []
    if not uses_copy():
        return list(db.session.scalars(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows))
    # The sequence is looked up once (a scalar subquery), not once per id: five times faster.
    sequence = cast(select(func.pg_get_serial_sequence(table.name, "id")).scalar_subquery(), REGCLASS)
    ids = sorted(db.session.scalar(select(func.array_agg(func.nextval(sequence))).select_from(func.generate_series(1, len(rows)))))
    names = list(rows[0])
    _copy(table, ["id", *names], ([row_id, *(row[name] for name in names)] for row_id, row in zip(ids, rows, strict=True)))
    return ids


def insert_rows(table: Table, rows: list[dict]) -> None:
    """Insert rows (dicts with the same keys): one ``COPY`` on PostgreSQL."""
    if not rows:
        return
    if not uses_copy():
        db.session.execute(insert(table), rows)
        return
    names = list(rows[0])
    _copy(table, names, ([row[name] for name in names] for row in rows))


def _copy(table: Table, names: list[str], value_rows: Iterable[list]) -> None:
    """``COPY table (names) FROM STDIN`` of lists of values, in the session's transaction.

    Each value goes through its column type's bind processing first, as in an INSERT: datetimes in
    UTC, documents as ``Jsonb`` (so a JSON column's None is the document ``null``, as SQLAlchemy
    writes it). psycopg adapts what remains by its Python type and escapes tabs, newlines and
    backslashes for COPY's text format."""
    dialect = db.engine.dialect
    processors = [(position, process) for position, name in enumerate(names) if (process := _bind_processor(table.c[name].type, dialect))]
    columns = ", ".join(f'"{name}"' for name in names)
    connection = db.session.connection().connection.driver_connection  # the session's transaction
    with _cached_plans(), connection.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
        for values in value_rows:
            for position, process in processors:
                values[position] = process(values[position])
            copy.write_row(values)


def insert_rows_skipping_duplicates(table: Table, rows: list[dict], returning: tuple[str, ...]) -> list[tuple]:
    """Insert rows, skipping those a unique index already holds; returns ``returning`` of the inserted
    ones (``INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING`` on PostgreSQL)."""
    if not rows:
        return []
    dialect = db.engine.dialect
    if dialect.name != "postgresql":
        statement = sqlite.insert(table).on_conflict_do_nothing().returning(*(table.c[name] for name in returning))
        return [tuple(row) for row in db.session.execute(statement, rows)]
    names = list(rows[0])
    arrays, casts = {}, []
    for position, name in enumerate(names):
        column_type = table.c[name].type
        values = [row[name] for row in rows]
        if isinstance(column_type, JSON):  # an array of jsonb is sent as text, one document per row
            values = [None if value is None else json.dumps(value) for value in values]
        elif process := column_type.bind_processor(dialect):
            values = [process(value) for value in values]
        arrays[f"c{position}"] = values
        casts.append(f"CAST(:c{position} AS {column_type.compile(dialect=dialect)}[])")
    columns = ", ".join(f'"{name}"' for name in names)
    returned = ", ".join(f'"{name}"' for name in returning)
    statement = (
        f'INSERT INTO "{table.name}" ({columns}) SELECT * FROM unnest({", ".join(casts)}) ON CONFLICT DO NOTHING RETURNING {returned}'
    )
    with _cached_plans():
        return [tuple(row) for row in db.session.execute(text(statement), arrays)]  # plain tuples: callers sort and hash them


def _bind_processor(column_type, dialect):
    """What SQLAlchemy does to a value of this type before sending it (the dialect's variant of it)."""
    return column_type.dialect_impl(dialect).bind_processor(dialect)


@contextmanager
def _cached_plans():
    """PostgreSQL checks each written row's foreign keys with a query whose plan it keeps; a
    transaction that set ``plan_cache_mode = force_custom_plan`` (the segment re-check of many leads
    does) would have that query planned again for every row, which doubles the time of a COPY. The
    default mode holds while rows are written, and the transaction's setting is restored after."""
    mode = db.session.scalar(text("SELECT current_setting('plan_cache_mode')"))
    if mode != "force_custom_plan":
        yield
        return
    db.session.execute(text("SELECT set_config('plan_cache_mode', 'auto', true)"))
    yield
    db.session.execute(text("SELECT set_config('plan_cache_mode', :mode, true)"), {"mode": mode})
