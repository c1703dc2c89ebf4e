"""The suppression list: emails, domains and phone numbers with their reason and source, and its CSV imports

Revision ID: 0010
Revises: 0009

The addresses suppressed after a hard bounce or a complaint become email suppressions. A downgrade
keeps only those (the earlier schema knows no other kind or reason).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import webapp.models.base

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _timestamps():
    moment = webapp.models.base.UTCDateTime(timezone=True)
    return [sa.Column("created_at", moment, nullable=False), sa.Column("updated_at", moment, nullable=False)]


def _organization(table: str):
    return [
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f(f"fk_{table}_organization_id_organizations"), ondelete="CASCADE"
        ),
    ]


def upgrade():
    json_type = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    op.create_table(
        "suppressions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=100), server_default="", nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        *_organization("suppressions"),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["message_id"], ["outbox_messages.id"], name=op.f("fk_suppressions_message_id_outbox_messages"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppressions")),
        sa.UniqueConstraint("organization_id", "kind", "value", name="uq_suppressions_org_kind_value"),
    )
    op.create_table(
        "suppression_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("filename", sa.String(length=300), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("imported", sa.Integer(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("errors", json_type, nullable=False),
        *_organization("suppression_imports"),
        *_timestamps(),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_suppression_imports_user_id_users"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppression_imports")),
    )
    op.create_index(op.f("ix_suppression_imports_organization_id"), "suppression_imports", ["organization_id"], unique=False)
    op.execute(
        "INSERT INTO suppressions (organization_id, kind, value, reason, source, message_id, created_at, updated_at) "
        "SELECT organization_id, 'email', email, reason, 'delivery event', message_id, created_at, updated_at FROM suppressed_addresses"
    )
    op.drop_index(op.f("ix_suppressed_addresses_organization_id"), table_name="suppressed_addresses")
    op.drop_table("suppressed_addresses")


def downgrade():
    op.create_table(
        "suppressed_addresses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        *_organization("suppressed_addresses"),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["message_id"], ["outbox_messages.id"], name=op.f("fk_suppressed_addresses_message_id_outbox_messages"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppressed_addresses")),
        sa.UniqueConstraint("organization_id", "email", name="uq_suppressed_addresses_org_email"),
    )
    op.create_index(op.f("ix_suppressed_addresses_organization_id"), "suppressed_addresses", ["organization_id"], unique=False)
    op.execute(
        "INSERT INTO suppressed_addresses (organization_id, email, reason, message_id, created_at, updated_at) "
        "SELECT organization_id, value, reason, message_id, created_at, updated_at FROM suppressions "
        "WHERE kind = 'email' AND reason IN ('bounced', 'complained')"
    )
    op.drop_index(op.f("ix_suppression_imports_organization_id"), table_name="suppression_imports")
    op.drop_table("suppression_imports")
    op.drop_table("suppressions")
