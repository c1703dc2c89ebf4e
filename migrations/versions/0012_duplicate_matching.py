"""Duplicates on arrival: leads found by email (in any case) or phone; stored phones in E.164

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# The plain North American numbers of ``contactability.phones`` (10 digits, an optional leading 1, the
# separators " -.()" ignored, a leading "+1" too): the bulk of stored phones, put in E.164 as new ones
# are. Other phones stay as they are (a duplicate is then not found by them).
PLAIN_NANP = r"^(?:\+?1)?([2-9][0-9]{2}[2-9][0-9]{6})$"  # substring() gives the group: the 10 digits


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            sa.text(
                "UPDATE leads SET phone = '+1' || substring(translate(phone, ' -.()', '') FROM :pattern) "
                "WHERE translate(phone, ' -.()', '') ~ :pattern AND phone <> '+1' || substring(translate(phone, ' -.()', '') FROM :pattern)"
            ).bindparams(pattern=PLAIN_NANP)
        )
    op.create_index("ix_leads_org_email_lower", "leads", ["organization_id", sa.text("lower(email)"), "created_at"])
    op.create_index("ix_leads_org_phone", "leads", ["organization_id", "phone", "created_at"])


def downgrade():
    op.drop_index("ix_leads_org_phone", table_name="leads")
    op.drop_index("ix_leads_org_email_lower", table_name="leads")
