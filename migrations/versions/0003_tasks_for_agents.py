"""tasks for agents: notes, a due time, a status, who completed a task and with what outcome

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

import webapp.models.base

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("notes", sa.Text(), nullable=True))
        batch.add_column(sa.Column("due_at", webapp.models.base.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("status", sa.String(length=20), server_default="open", nullable=False))
        batch.add_column(sa.Column("completed_by_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("outcome", sa.String(length=500), nullable=True))
    # A due date alone meant the end of the working day: 17:00 UTC (SPEC §14).
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE tasks SET due_at = (due_date + time '17:00') AT TIME ZONE 'UTC' WHERE due_date IS NOT NULL")
    else:
        op.execute("UPDATE tasks SET due_at = datetime(due_date, '+17 hours') WHERE due_date IS NOT NULL")
    op.execute("UPDATE tasks SET status = 'done' WHERE completed_at IS NOT NULL")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("due_date")
        batch.create_foreign_key(op.f("fk_tasks_completed_by_id_users"), "users", ["completed_by_id"], ["id"], ondelete="SET NULL")
        batch.create_check_constraint(op.f("ck_tasks_status_known"), "status IN ('open', 'done', 'cancelled')")
        batch.create_index("ix_tasks_org_assignee_status_due", ["organization_id", "assignee_id", "status", "due_at"], unique=False)


def downgrade():
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("due_date", sa.Date(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE tasks SET due_date = (due_at AT TIME ZONE 'UTC')::date WHERE due_at IS NOT NULL")
    else:
        op.execute("UPDATE tasks SET due_date = date(due_at) WHERE due_at IS NOT NULL")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_index("ix_tasks_org_assignee_status_due")
        batch.drop_constraint(op.f("ck_tasks_status_known"), type_="check")
        batch.drop_constraint(op.f("fk_tasks_completed_by_id_users"), type_="foreignkey")
        batch.drop_column("outcome")
        batch.drop_column("completed_by_id")
        batch.drop_column("status")
        batch.drop_column("due_at")
        batch.drop_column("notes")
