"""Addresses no email goes to any more, after a hard bounce or a spam complaint (SPEC §16).

The first piece of the suppression list of SPEC §17: one row per organization and address (lower-cased),
with the reason and the message whose delivery event put it there.
"""

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import OrgScopedMixin

SUPPRESSION_REASONS = ("bounced", "complained")


class SuppressedAddress(OrgScopedMixin, db.Model):
    __tablename__ = "suppressed_addresses"
    __table_args__ = (UniqueConstraint("organization_id", "email", name="uq_suppressed_addresses_org_email"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))  # lower-cased
    reason: Mapped[str] = mapped_column(String(20))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_messages.id", ondelete="SET NULL"))
