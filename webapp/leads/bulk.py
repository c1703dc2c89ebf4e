"""Inserting thousands of rows in one statement per table (bulk API, CSV import).

On PostgreSQL the rows travel as one array per column, turned back into rows by ``unnest()``:
psycopg parses a multi-row VALUES statement of thousands of parameters slowly, and that parsing was
most of an import's time. Ids come from the table's sequence first, so no RETURNING (whose order
PostgreSQL does not promise) is needed. Other databases (SQLite, the embedded default) use
executemany with RETURNING.
"""

import json

from sqlalchemy import JSON, Table, func, insert, select, text

from ..extensions import db


def insert_with_ids(table: Table, rows: list[dict]) -> list[int]:
    """Insert rows (dicts with the same keys) and return their new ids, in the order of the rows."""
    if not rows:
        return []
    if db.engine.dialect.name != "postgresql":
        return list(db.session.scalars(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows))
    sequence = func.pg_get_serial_sequence(table.name, "id")
    ids = sorted(db.session.scalars(select(func.nextval(sequence)).select_from(func.generate_series(1, len(rows)))))
    insert_rows(table, [{**row, "id": row_id} for row, row_id in zip(rows, ids, strict=True)])
    return ids


def insert_rows(table: Table, rows: list[dict]) -> None:
    """Insert rows (dicts with the same keys): one ``INSERT … SELECT FROM unnest(…)`` on PostgreSQL."""
    if not rows:
        return
    dialect = db.engine.dialect
    if dialect.name != "postgresql":
        db.session.execute(insert(table), rows)
        return
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
    db.session.execute(text(f'INSERT INTO "{table.name}" ({columns}) SELECT * FROM unnest({", ".join(casts)})'), arrays)
