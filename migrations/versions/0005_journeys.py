"""Journeys: steps nested in the branches of flow actions, goals, versions, run paths

Revision ID: 0005
Revises: 0004

Every automation gets version 1, its definition as it stands (runs already recorded execute it). A
run step's action is no longer a foreign key: a later version may remove the action's row while the
runs of an earlier version still name it.
"""

import json
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import webapp.models.base

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    json_type = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    with op.batch_alter_table("automations") as batch:
        batch.add_column(sa.Column("goal", json_type, server_default="{}", nullable=False))
        batch.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))
    with op.batch_alter_table("automation_actions") as batch:
        batch.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("branch", sa.String(length=40), nullable=True))
        batch.create_foreign_key(
            op.f("fk_automation_actions_parent_id_automation_actions"), "automation_actions", ["parent_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_index(op.f("ix_automation_actions_parent_id"), ["parent_id"], unique=False)
    with op.batch_alter_table("automation_runs") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))
        batch.add_column(sa.Column("path", json_type, server_default="[]", nullable=False))
    with op.batch_alter_table("automation_run_steps") as batch:
        batch.drop_constraint("fk_automation_run_steps_action_id_automation_actions", type_="foreignkey")
        batch.create_unique_constraint("uq_automation_run_steps_run_action", ["run_id", "action_id"])
    op.create_table(
        "automation_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("automation_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", json_type, nullable=False),
        sa.Column("created_at", webapp.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["automation_id"], ["automations.id"], name=op.f("fk_automation_versions_automation_id_automations"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_versions")),
        sa.UniqueConstraint("automation_id", "version", name="uq_automation_versions_automation_version"),
    )
    _first_versions()


def _first_versions():
    """Version 1 of every automation: its definition as journey.definition_of() writes it."""
    conn = op.get_bind()

    def loaded(value):
        return json.loads(value) if isinstance(value, str) else (value or {})

    actions = {}
    for row in conn.execute(
        sa.text(
            "SELECT id, automation_id, action_type, action_order, is_active, configuration, delay_minutes, conditions"
            " FROM automation_actions ORDER BY automation_id, action_order, id"
        )
    ):
        actions.setdefault(row.automation_id, []).append(
            {
                "id": row.id,
                "action_type": row.action_type,
                "action_order": row.action_order,
                "is_active": bool(row.is_active),
                "configuration": loaded(row.configuration),
                "delay_minutes": row.delay_minutes or 0,
                "conditions": loaded(row.conditions),
            }
        )
    versions = sa.table(
        "automation_versions",
        sa.column("automation_id", sa.Integer),
        sa.column("version", sa.Integer),
        sa.column("definition", sa.JSON),
        sa.column("created_at", sa.DateTime(timezone=True)),  # the migration's time: when its version was recorded
    )
    rows, now = [], datetime.now(timezone.utc)
    for row in conn.execute(
        sa.text("SELECT id, trigger_type, trigger_configuration, conditions, run_immediately, delay_minutes FROM automations")
    ):
        definition = {
            "trigger_type": row.trigger_type,
            "trigger_configuration": loaded(row.trigger_configuration),
            "conditions": loaded(row.conditions),
            "goal": {},
            "run_immediately": bool(row.run_immediately),
            "delay_minutes": row.delay_minutes or 0,
            "actions": actions.get(row.id, []),
        }
        rows.append({"automation_id": row.id, "version": 1, "definition": definition, "created_at": now})
    if rows:
        op.bulk_insert(versions, rows)


def downgrade():
    op.drop_table("automation_versions")
    op.execute("UPDATE automation_run_steps SET action_id = NULL WHERE action_id NOT IN (SELECT id FROM automation_actions)")
    with op.batch_alter_table("automation_run_steps") as batch:
        batch.drop_constraint("uq_automation_run_steps_run_action", type_="unique")
        batch.create_foreign_key(
            "fk_automation_run_steps_action_id_automation_actions",
            "automation_actions",
            ["action_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("automation_runs") as batch:
        batch.drop_column("path")
        batch.drop_column("version")
    op.execute("DELETE FROM automation_actions WHERE parent_id IS NOT NULL")
    with op.batch_alter_table("automation_actions") as batch:
        batch.drop_index(op.f("ix_automation_actions_parent_id"))
        batch.drop_constraint(op.f("fk_automation_actions_parent_id_automation_actions"), type_="foreignkey")
        batch.drop_column("branch")
        batch.drop_column("parent_id")
    with op.batch_alter_table("automations") as batch:
        batch.drop_column("version")
        batch.drop_column("goal")
