"""Lead consents (SPEC §17): who agreed to be contacted on which channel, how, and the evidence.

Rows are never edited: a revocation is a new row, and a lead's current state on a channel is its
latest row by ``captured_at`` (then id)."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow

CONSENT_CHANNELS = ("email", "sms", "phone")
CONSENT_STATUSES = ("granted", "revoked")
CONSENT_METHODS = ("web_form", "phone", "paper", "import", "api")
MAX_URL_LENGTH = 2000
MAX_DISCLOSURE_LENGTH = 5000
MAX_TOKEN_LENGTH = 200


class LeadConsent(db.Model):
    __tablename__ = "lead_consents"
    __table_args__ = (Index("ix_lead_consents_lead_channel_captured", "lead_id", "channel", "captured_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10))
    method: Mapped[str] = mapped_column(String(20))
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    source_url: Mapped[str | None] = mapped_column(String(MAX_URL_LENGTH))
    ip: Mapped[str | None] = mapped_column(String(45))
    disclosure_text: Mapped[str | None] = mapped_column(Text)
    certificate_url: Mapped[str | None] = mapped_column(String(MAX_URL_LENGTH))  # e.g. a TrustedForm certificate
    lead_id_token: Mapped[str | None] = mapped_column(String(MAX_TOKEN_LENGTH))  # e.g. a Jornaya LeadiD
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
