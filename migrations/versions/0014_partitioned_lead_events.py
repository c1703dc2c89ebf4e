"""Partitioned lead events: on PostgreSQL, ``lead_events`` partitioned by month of ``created_at``

Revision ID: 0014
Revises: 0013

The table is rebuilt: the old one renamed, the partitioned one created with the same columns, keys
and indexes (its primary key becomes ``(id, created_at)``: a partitioned table's unique keys include
its partition key), a partition per month from the oldest event's to three months ahead plus the
DEFAULT partition, the rows copied, the id sequence handed over, the old table dropped. It holds the
table locked while it copies: run it when a pause of the event writes is acceptable. From then on
the maintenance sweep (``webapp.leads.partitions``) creates the months ahead. SQLite keeps one plain
table: nothing to do.
"""

from datetime import datetime, timezone

from alembic import op
from sqlalchemy import text

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

COLUMNS = "id, organization_id, lead_id, event_type, data, actor_id, created_at"
MONTHS_AHEAD = 3


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    _set_aside_old_table("lead_events_unpartitioned")
    op.execute(
        f"""CREATE TABLE lead_events ({_column_definitions()},
            CONSTRAINT pk_lead_events PRIMARY KEY (id, created_at), {_foreign_keys()}
        ) PARTITION BY RANGE (created_at)"""
    )
    op.execute("CREATE TABLE lead_events_default PARTITION OF lead_events DEFAULT")
    oldest = op.get_bind().scalar(text("SELECT min(created_at) FROM lead_events_unpartitioned"))
    this_month = _month(datetime.now(timezone.utc))
    month = _month(oldest) if oldest is not None and _month(oldest) < this_month else this_month
    while month <= _add_months(this_month, MONTHS_AHEAD):
        following = _add_months(month, 1)
        op.execute(
            f"CREATE TABLE lead_events_{month.year:04d}_{month.month:02d} PARTITION OF lead_events "
            f"FOR VALUES FROM ('{month.isoformat()}') TO ('{following.isoformat()}')"
        )
        month = following
    _copy_rows_and_finish("lead_events_unpartitioned")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    _set_aside_old_table("lead_events_partitioned")
    op.execute(f"CREATE TABLE lead_events ({_column_definitions()}, CONSTRAINT pk_lead_events PRIMARY KEY (id), {_foreign_keys()})")
    _copy_rows_and_finish("lead_events_partitioned")  # dropping the partitioned table drops its partitions


def _set_aside_old_table(new_name: str) -> None:
    """Rename the table; its indexes go (rebuilt on the new table), its primary key is renamed."""
    for index in ("ix_lead_events_lead_created", "ix_lead_events_organization_id", "ix_lead_events_org_type_created"):
        op.execute(f"DROP INDEX {index}")
    op.execute(f"ALTER TABLE lead_events RENAME TO {new_name}")
    op.execute(f"ALTER TABLE {new_name} RENAME CONSTRAINT pk_lead_events TO pk_{new_name}")


def _column_definitions() -> str:
    return """id integer NOT NULL DEFAULT nextval('lead_events_id_seq'::regclass),
            organization_id integer NOT NULL,
            lead_id integer NOT NULL,
            event_type varchar(40) NOT NULL,
            data jsonb NOT NULL,
            actor_id integer,
            created_at timestamp with time zone NOT NULL"""


def _foreign_keys() -> str:
    return """CONSTRAINT fk_lead_events_organization_id_organizations FOREIGN KEY (organization_id)
                REFERENCES organizations (id) ON DELETE CASCADE,
            CONSTRAINT fk_lead_events_lead_id_leads FOREIGN KEY (lead_id) REFERENCES leads (id) ON DELETE CASCADE,
            CONSTRAINT fk_lead_events_actor_id_users FOREIGN KEY (actor_id) REFERENCES users (id) ON DELETE SET NULL"""


def _copy_rows_and_finish(old_name: str) -> None:
    """Copy the rows, index them (once, after the copy), hand the id sequence to the new table (it
    would go with the old one) and drop the old table."""
    op.execute(f"INSERT INTO lead_events ({COLUMNS}) SELECT {COLUMNS} FROM {old_name}")
    op.execute("CREATE INDEX ix_lead_events_lead_created ON lead_events (lead_id, created_at)")
    op.execute("CREATE INDEX ix_lead_events_organization_id ON lead_events (organization_id)")
    op.execute("CREATE INDEX ix_lead_events_org_type_created ON lead_events (organization_id, event_type, created_at, lead_id)")
    op.execute("ALTER SEQUENCE lead_events_id_seq OWNED BY lead_events.id")
    op.execute("SELECT setval('lead_events_id_seq', max(id)) FROM lead_events HAVING max(id) > (SELECT last_value FROM lead_events_id_seq)")
    op.execute(f"DROP TABLE {old_name}")
    op.execute("ANALYZE lead_events")


def _month(moment: datetime) -> datetime:
    moment = moment.astimezone(timezone.utc)
    return datetime(moment.year, moment.month, 1, tzinfo=timezone.utc)


def _add_months(month: datetime, months: int) -> datetime:
    index = month.year * 12 + month.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=timezone.utc)
