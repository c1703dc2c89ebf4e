"""An organization's send rate limit; the email an unsubscribe is credited to

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

import webapp.models.base

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("organizations") as batch:
        batch.add_column(sa.Column("send_rate_per_second", sa.Integer(), nullable=True))
    with op.batch_alter_table("outbox_messages") as batch:
        batch.add_column(sa.Column("unsubscribed_at", webapp.models.base.UTCDateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("outbox_messages") as batch:
        batch.drop_column("unsubscribed_at")
    with op.batch_alter_table("organizations") as batch:
        batch.drop_column("send_rate_per_second")
