"""Contactability: a lead's time zone, an organization's contact policy

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    json_type = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    with op.batch_alter_table("organizations") as batch:
        batch.add_column(sa.Column("contact_policy", json_type, nullable=True))
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("timezone")
    with op.batch_alter_table("organizations") as batch:
        batch.drop_column("contact_policy")
