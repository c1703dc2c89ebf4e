"""CSV import: the chosen column mapping and mode, and how many rows were rejected

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    json_type = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    with op.batch_alter_table("import_jobs") as batch:
        batch.add_column(sa.Column("options", json_type, server_default="{}", nullable=False))
        batch.add_column(sa.Column("rejected_count", sa.Integer(), server_default="0", nullable=False))


def downgrade():
    with op.batch_alter_table("import_jobs") as batch:
        batch.drop_column("rejected_count")
        batch.drop_column("options")
