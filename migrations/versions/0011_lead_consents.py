"""Lead consents: channel, status, method, when and the evidence; never edited

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

import webapp.models.base

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    moment = webapp.models.base.UTCDateTime(timezone=True)
    op.create_table(
        "lead_consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("captured_at", moment, nullable=False),
        sa.Column("source_url", sa.String(length=2000), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("disclosure_text", sa.Text(), nullable=True),
        sa.Column("certificate_url", sa.String(length=2000), nullable=True),
        sa.Column("lead_id_token", sa.String(length=200), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", moment, nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_lead_consents_organization_id_organizations"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], name=op.f("fk_lead_consents_lead_id_leads"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_lead_consents_created_by_id_users"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_consents")),
    )
    op.create_index(op.f("ix_lead_consents_organization_id"), "lead_consents", ["organization_id"], unique=False)
    op.create_index("ix_lead_consents_lead_channel_captured", "lead_consents", ["lead_id", "channel", "captured_at"], unique=False)


def downgrade():
    op.drop_index("ix_lead_consents_lead_channel_captured", table_name="lead_consents")
    op.drop_index(op.f("ix_lead_consents_organization_id"), table_name="lead_consents")
    op.drop_table("lead_consents")
