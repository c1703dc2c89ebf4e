"""Activity rules: lead events by organization, type and time

Revision ID: 0008
Revises: 0007

A segment, condition or branch with an activity rule (SPEC §16) asks for an organization's events of
one type since a moment, and the leads they belong to: one range of this index (read alone on
PostgreSQL, an index-only scan).
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_lead_events_org_type_created", "lead_events", ["organization_id", "event_type", "created_at", "lead_id"], unique=False
    )


def downgrade():
    op.drop_index("ix_lead_events_org_type_created", table_name="lead_events")
