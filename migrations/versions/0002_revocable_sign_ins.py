"""revocable sign-ins: browser sessions as rows, a token version per user; attempts of swept jobs

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

import webapp.models.base

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("users", sa.Column("token_version", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", webapp.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", webapp.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_user_sessions_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sessions")),
    )
    op.create_index(op.f("ix_user_sessions_user_id"), "user_sessions", ["user_id"], unique=False)
    op.add_column("import_jobs", sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
    op.add_column("segment_refreshes", sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))


def downgrade():
    with op.batch_alter_table("segment_refreshes") as batch:
        batch.drop_column("attempts")
    with op.batch_alter_table("import_jobs") as batch:
        batch.drop_column("attempts")
    op.drop_index(op.f("ix_user_sessions_user_id"), table_name="user_sessions")
    op.drop_table("user_sessions")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("token_version")
