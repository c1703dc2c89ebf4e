"""Segment counts at scale: lead states stored upper-case (a check constraint keeps them so, and
segment rules compare the column as stored, without lower()); the indexes of the random sample that
segment estimates count (PostgreSQL only)

Revision ID: 0013
Revises: 0012
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("UPDATE leads SET state = upper(state) WHERE state <> upper(state)")
    with op.batch_alter_table("leads") as batch:
        batch.create_check_constraint(op.f("ck_leads_state_upper_case"), "state = upper(state)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX ix_leads_sample ON leads (organization_id, (hashint4(id) & 65535))")
        op.execute(
            "CREATE INDEX ix_leads_sample_slice ON leads (organization_id, (hashint4(id) & 65535)) "
            "INCLUDE (id, status, priority, source, insurance_type, state, city, value_estimate, created_at, updated_at) "
            "WHERE (hashint4(id) & 65535) < 2048"
        )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_leads_sample_slice")
        op.execute("DROP INDEX ix_leads_sample")
    with op.batch_alter_table("leads") as batch:
        batch.drop_constraint(op.f("ck_leads_state_upper_case"), type_="check")
