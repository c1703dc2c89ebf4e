"""Column types and mixins shared by every model."""

from datetime import datetime, timezone

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Integer, PrimaryKeyConstraint, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, declared_attr, mapped_column
from sqlalchemy.sql.functions import FunctionElement

MAX_ID = 2_147_483_647  # ids are 32-bit integer keys: a larger one names no row (and would overflow the query)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        if value is not None and dialect.name == "sqlite":
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


class utc_date(FunctionElement):  # noqa: N801 (used like a SQL function)
    """The UTC calendar day of a ``UTCDateTime`` column, on PostgreSQL and SQLite (where the column
    holds naive UTC text): for charts and series by day."""

    type = Date()
    inherit_cache = True


@compiles(utc_date)
def _utc_date(element, compiler, **kw):
    return f"CAST(timezone('UTC', {compiler.process(element.clauses, **kw)}) AS DATE)"


@compiles(utc_date, "sqlite")
def _utc_date_on_sqlite(element, compiler, **kw):
    return f"date({compiler.process(element.clauses, **kw)})"


JSONType = JSON().with_variant(JSONB(), "postgresql")


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)


class OrgScopedMixin(TimestampMixin):
    """Every business row belongs to one organization (SPEC §3)."""

    @declared_attr
    def organization_id(cls) -> Mapped[int]:
        return mapped_column(Integer, ForeignKey("organizations.id", ondelete="CASCADE"), index=True, nullable=False)


class PartitionedPrimaryKey(PrimaryKeyConstraint):
    """The primary key ``id`` of a table partitioned on PostgreSQL: there the key is ``(id, <partition
    key>)``, as a partitioned table's unique keys must include its partition key; elsewhere (SQLite,
    one plain table) it stays the id alone, SQLite's ``INTEGER PRIMARY KEY`` that numbers new rows.
    The ORM knows rows by their id either way: ids come from one sequence, so they stay unique."""

    def __init__(self, *columns, partition_key: str, **kwargs):
        super().__init__(*columns, **kwargs)
        self.partition_key = partition_key


@compiles(PartitionedPrimaryKey, "postgresql")
def _partitioned_primary_key(element, compiler, **kw):
    prefix = f"CONSTRAINT {compiler.preparer.format_constraint(element)} " if element.name is not None else ""
    names = [compiler.preparer.quote(column.name) for column in element.columns] + [compiler.preparer.quote(element.partition_key)]
    return f"{prefix}PRIMARY KEY ({', '.join(names)})"
