"""Email engagement: tracking settings and results, delivery events' webhook secret, suppressed addresses

Revision ID: 0006
Revises: 0005

Templates track opens and clicks unless told otherwise; messages already in the outbox track nothing.
Every organization gets a webhook secret of its own.
"""

import secrets

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import webapp.models.base

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    json_type = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    moment = webapp.models.base.UTCDateTime(timezone=True)
    with op.batch_alter_table("email_templates") as batch:
        batch.add_column(sa.Column("track_opens", sa.Boolean(), server_default="1", nullable=False))
        batch.add_column(sa.Column("track_clicks", sa.Boolean(), server_default="1", nullable=False))
    with op.batch_alter_table("outbox_messages") as batch:
        batch.add_column(sa.Column("track_opens", sa.Boolean(), server_default="0", nullable=False))
        batch.add_column(sa.Column("links", json_type, nullable=True))
        batch.add_column(sa.Column("delivered_at", moment, nullable=True))
        batch.add_column(sa.Column("opened_at", moment, nullable=True))
        batch.add_column(sa.Column("clicked_at", moment, nullable=True))
        batch.add_column(sa.Column("open_count", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("click_count", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("organizations") as batch:
        batch.add_column(sa.Column("webhook_secret", sa.String(length=100), nullable=True))
    op.create_table(
        "suppressed_addresses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("updated_at", moment, nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["outbox_messages.id"], name=op.f("fk_suppressed_addresses_message_id_outbox_messages"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_suppressed_addresses_organization_id_organizations"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppressed_addresses")),
        sa.UniqueConstraint("organization_id", "email", name="uq_suppressed_addresses_org_email"),
    )
    op.create_index(op.f("ix_suppressed_addresses_organization_id"), "suppressed_addresses", ["organization_id"], unique=False)
    _webhook_secrets()


def _webhook_secrets():
    """A random secret for each existing organization (new ones get theirs from the model)."""
    conn = op.get_bind()
    for (organization_id,) in conn.execute(sa.text("SELECT id FROM organizations")).all():
        conn.execute(
            sa.text("UPDATE organizations SET webhook_secret = :secret WHERE id = :id"),
            {"secret": secrets.token_urlsafe(32), "id": organization_id},
        )


def downgrade():
    # Statuses the earlier schema does not know: what those messages were before they left.
    statuses = "'deferred', 'delivered', 'opened', 'clicked', 'bounced', 'complained'"
    op.execute(f"UPDATE outbox_messages SET status = 'sent' WHERE status IN ({statuses})")
    op.drop_index(op.f("ix_suppressed_addresses_organization_id"), table_name="suppressed_addresses")
    op.drop_table("suppressed_addresses")
    with op.batch_alter_table("organizations") as batch:
        batch.drop_column("webhook_secret")
    with op.batch_alter_table("outbox_messages") as batch:
        batch.drop_column("click_count")
        batch.drop_column("open_count")
        batch.drop_column("clicked_at")
        batch.drop_column("opened_at")
        batch.drop_column("delivered_at")
        batch.drop_column("links")
        batch.drop_column("track_opens")
    with op.batch_alter_table("email_templates") as batch:
        batch.drop_column("track_clicks")
        batch.drop_column("track_opens")
