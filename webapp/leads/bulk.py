"""Inserting thousands of rows in one statement per table (bulk API, CSV import, segment upkeep).

On PostgreSQL plain inserts are a ``COPY ... FROM STDIN`` in the session's transaction (psycopg
formats the rows in C); inserts that skip duplicates and say what they inserted send one array per
column, turned back into rows by ``unnest()``. Both avoid multi-row VALUES statements of thousands
of parameters, which psycopg parses slowly. Ids come from the table's sequence first, so no
RETURNING (whose order PostgreSQL does not promise) is needed. Other databases (SQLite, the embedded
default) use executemany with RETURNING.
"""

import json

from sqlalchemy import JSON, Table, func, insert, select, text
from sqlalchemy.dialects import sqlite

from ..extensions import db


def insert_with_ids(table: Table, rows: list[dict]) -> list[int]:
    """Insert rows (dicts with the same keys) and return their new ids, in the order of the rows."""
    if not rows:
        return []
    if db.engine.dialect.name != "postgresql":
        return list(db.session.scalars(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows))
    sequence = func.pg_get_serial_sequence(table.name, "id")
    ids = sorted(db.session.scalar(select(func.array_agg(func.nextval(sequence))).select_from(func.generate_series(1, len(rows)))))
    insert_rows(table, [{**row, "id": row_id} for row, row_id in zip(rows, ids, strict=True)])
    return ids


def insert_rows(table: Table, rows: list[dict]) -> None:
    """Insert rows (dicts with the same keys): one ``COPY`` on PostgreSQL."""
    if not rows:
        return
    if db.engine.dialect.name != "postgresql":
        db.session.execute(insert(table), rows)
        return
    names = list(rows[0])
    json_columns = [isinstance(table.c[name].type, JSON) for name in names]
    columns = ", ".join(f'"{name}"' for name in names)
    connection = db.session.connection().connection.driver_connection  # the session's transaction
    with connection.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
        for row in rows:
            values = [row[name] for name in names]
            for position, is_json in enumerate(json_columns):
                if is_json and values[position] is not None:
                    values[position] = json.dumps(values[position])
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
    return [tuple(row) for row in db.session.execute(text(statement), arrays)]  # plain tuples: callers sort and hash them
