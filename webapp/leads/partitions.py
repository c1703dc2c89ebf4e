"""Lead events by month: the partitions of ``lead_events`` on PostgreSQL, and how long events are kept.

On PostgreSQL ``lead_events`` is partitioned by range of ``created_at``: one partition per UTC month
(``lead_events_2026_12`` holds December 2026) and a DEFAULT partition (``lead_events_default``) for
any moment no month covers yet, so that no insert is ever refused (an event imported with a date far
in the past, or one dated after the months created ahead). Queries bounded in time (activity rules
"within 7 days") read only the months they need; dropping a month is instant where a DELETE of
millions of rows is not.

The maintenance sweep (``maintain_event_partitions``, listed in ``features.py``) keeps the months
ahead created, gives the months found in the DEFAULT partition their own partitions (moving their
rows), and, with ``LEAD_EVENT_RETENTION_MONTHS`` set, drops the months older than the retention.
Migration 0014 turned the plain table into the partitioned one. Elsewhere (SQLite, the embedded
default) the table is one plain table: there is nothing to create, and retention is a DELETE.

Retention bounds everything that reads events: the timeline, activity rules ("has opened an email",
without ``within``, means "within the events kept"), the triggers' history.
"""

import logging
import re
from datetime import datetime, timezone
from typing import NamedTuple

from flask import current_app
from sqlalchemy import Connection, delete, text
from sqlalchemy.exc import OperationalError

from ..extensions import db
from ..models import LeadEvent, utcnow

log = logging.getLogger(__name__)

TABLE = "lead_events"
DEFAULT_PARTITION = "lead_events_default"
MONTHS_AHEAD = 3
PARTITION_NAME = re.compile(r"^lead_events_(\d{4})_(\d{2})$")
# Partition DDL waits at most this long for a lock: a sweep that would queue every query of the table
# behind a long one gives up instead, and the next sweep tries again (months are created well ahead).
SWEEP_LOCK_TIMEOUT = "5s"
LOCK_NOT_AVAILABLE = "55P03"  # the SQLSTATE of a lock timeout


class RetentionResult(NamedTuple):
    partitions_dropped: list[str]  # PostgreSQL: the monthly partitions dropped
    rows_deleted: int  # rows deleted one by one: SQLite's, or those of the DEFAULT partition


def month_start(moment: datetime) -> datetime:
    """The first instant (UTC) of the month of ``moment``."""
    moment = moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return datetime(moment.year, moment.month, 1, tzinfo=timezone.utc)


def add_months(month: datetime, months: int) -> datetime:
    index = month.year * 12 + month.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=timezone.utc)


def partition_name(month: datetime) -> str:
    return f"{TABLE}_{month.year:04d}_{month.month:02d}"


def is_partitioned(connection: Connection) -> bool:
    """Whether ``lead_events`` is a partitioned table (PostgreSQL, once migration 0014 ran)."""
    if connection.dialect.name != "postgresql":
        return False
    return connection.scalar(text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:table)"), {"table": TABLE}) == "p"


def event_partitions(connection: Connection) -> dict[datetime, str]:
    """The monthly partitions that exist: first instant of the month -> partition name (PostgreSQL)."""
    if not is_partitioned(connection):
        return {}
    names = connection.scalars(
        text("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = CAST(:table AS regclass)"),
        {"table": TABLE},
    )
    months = {}
    for name in names:
        if match := PARTITION_NAME.match(name):
            months[datetime(int(match.group(1)), int(match.group(2)), 1, tzinfo=timezone.utc)] = name
    return months


def include_in_migrations(name: str | None, type_: str, parent_names: dict) -> bool:
    """Alembic's ``include_name``: the partitions are no tables of the models (nor are their indexes),
    they come and go with the months; autogenerate and the schema comparison leave them out."""
    if type_ == "table":
        return not is_partition_name(name)
    if type_ == "index":
        return not is_partition_name(parent_names.get("table_name"))
    return True


def is_partition_name(name: str | None) -> bool:
    return name == DEFAULT_PARTITION or bool(name and PARTITION_NAME.match(name))


def ensure_event_partitions(
    months_ahead: int = MONTHS_AHEAD, now: datetime | None = None, connection: Connection | None = None
) -> list[str]:
    """Create the partitions of this month and the ``months_ahead`` next ones, and of every month that
    rows of the DEFAULT partition fall in (their rows move there); returns the names created.

    Safe when several processes do it at once (an advisory lock makes them take turns, and each
    creates only what is missing). Without ``connection``, it runs in a transaction of its own that
    gives up on a lock held too long. Nothing to do on SQLite."""
    return _in_transaction(connection, lambda conn: _ensure(conn, months_ahead, now or utcnow()))


def create_event_partition(month: datetime, connection: Connection | None = None) -> bool:
    """Create the partition of the month of ``month`` if it is missing, moving into it the rows of
    the DEFAULT partition that fall in that month; returns whether it was created."""
    return bool(_in_transaction(connection, lambda conn: _create_missing(conn, [month_start(month)])))


def drop_expired_events(retention_months: int, now: datetime | None = None, connection: Connection | None = None) -> RetentionResult:
    """Remove the events of the months before the last ``retention_months`` whole months (this month
    is always kept): PostgreSQL drops their partitions whole, and deletes the DEFAULT partition's
    rows that old; SQLite deletes the rows."""
    if retention_months < 1:
        raise ValueError("retention_months must be at least 1")
    cutoff = retention_cutoff(retention_months, now)
    return _in_transaction(connection, lambda conn: _drop_before(conn, cutoff))


def retention_cutoff(retention_months: int, now: datetime | None = None) -> datetime:
    """The moment before which ``drop_expired_events`` removes events."""
    return add_months(month_start(now or utcnow()), -retention_months)


def maintain_event_partitions() -> int:
    """The periodic upkeep: drop what the retention setting (``LEAD_EVENT_RETENTION_MONTHS``) expires,
    then create the months ahead; returns how many partitions were dropped or created."""
    retention = current_app.config.get("LEAD_EVENT_RETENTION_MONTHS")
    try:
        dropped = drop_expired_events(retention).partitions_dropped if retention else []
        created = ensure_event_partitions()
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        log.warning("lead event partitions: a lock was held too long, trying again at the next sweep")
        return 0
    if dropped or created:
        log.info("lead event partitions: dropped %s, created %s", dropped, created)
    return len(dropped) + len(created)


# --- inside a transaction ------------------------------------------------------------------------------


def _in_transaction(connection: Connection | None, work):
    if connection is not None:
        return work(connection)
    with db.engine.begin() as own:
        if is_partitioned(own):
            own.execute(text(f"SET LOCAL lock_timeout = '{SWEEP_LOCK_TIMEOUT}'"))
        return work(own)


def _take_turns(connection: Connection) -> None:
    connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('leadflow.lead_event_partitions'))"))


def _ensure(connection: Connection, months_ahead: int, now: datetime) -> list[str]:
    if not is_partitioned(connection):
        return []
    this_month = month_start(now)
    wanted = {add_months(this_month, offset) for offset in range(months_ahead + 1)}
    wanted.update(
        month_start(month)
        for month in connection.scalars(text(f"SELECT DISTINCT date_trunc('month', created_at, 'UTC') FROM {DEFAULT_PARTITION}"))
    )
    return _create_missing(connection, sorted(wanted))


def _create_missing(connection: Connection, months: list[datetime]) -> list[str]:
    if not is_partitioned(connection):
        return []
    _take_turns(connection)
    existing = event_partitions(connection)
    created = []
    for month in months:
        if month in existing:
            continue
        _create(connection, month)
        created.append(partition_name(month))
    return created


def _create(connection: Connection, month: datetime) -> None:
    """A new table filled with the DEFAULT partition's rows of the month, then attached: attaching
    locks the parent table less than ``CREATE TABLE ... PARTITION OF`` would, and PostgreSQL refuses
    a new partition while the DEFAULT one holds rows of its range. Writes to the DEFAULT partition
    wait meanwhile, so that no row of the month arrives there between the move and the attach."""
    name, lower, upper = partition_name(month), month.isoformat(), add_months(month, 1).isoformat()
    columns = ", ".join(f'"{column.name}"' for column in LeadEvent.__table__.columns)
    connection.execute(text(f"LOCK TABLE {DEFAULT_PARTITION} IN EXCLUSIVE MODE"))
    connection.execute(text(f"CREATE TABLE {name} (LIKE {TABLE} INCLUDING DEFAULTS)"))
    connection.execute(
        text(
            f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE created_at >= :lower AND created_at < :upper RETURNING {columns}) "
            f"INSERT INTO {name} ({columns}) SELECT {columns} FROM moved"
        ),
        {"lower": lower, "upper": upper},
    )
    connection.execute(text(f"ALTER TABLE {TABLE} ATTACH PARTITION {name} FOR VALUES FROM ('{lower}') TO ('{upper}')"))


def _drop_before(connection: Connection, cutoff: datetime) -> RetentionResult:
    events = LeadEvent.__table__
    if not is_partitioned(connection):
        return RetentionResult([], connection.execute(delete(events).where(events.c.created_at < cutoff)).rowcount)
    _take_turns(connection)
    dropped = []
    for month, name in sorted(event_partitions(connection).items()):
        if add_months(month, 1) <= cutoff:
            connection.execute(text(f"DROP TABLE {name}"))
            dropped.append(name)
    deleted = connection.execute(text(f"DELETE FROM {DEFAULT_PARTITION} WHERE created_at < :cutoff"), {"cutoff": cutoff}).rowcount
    return RetentionResult(dropped, deleted)
