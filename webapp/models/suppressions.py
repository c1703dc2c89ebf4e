"""The suppression list (SPEC §17): addresses, domains and phone numbers nobody may contact, and the
CSV imports that fill it.

A row is one value of one kind per organization: an email address or a domain (lower-cased), or a
phone number (E.164). Hard bounces and spam complaints land here from delivery events, unsubscribes
from the unsubscribe page, the rest (a national DNC file, litigators, manual entries) from the API,
the page and imports.
"""

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import JSONType, OrgScopedMixin

SUPPRESSION_KINDS = ("email", "phone", "domain")
SUPPRESSION_REASONS = ("unsubscribed", "bounced", "complained", "dnc", "litigator", "manual")
IMPORT_STATUSES = ("queued", "running", "completed", "failed")


class Suppression(OrgScopedMixin, db.Model):
    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("organization_id", "kind", "value", name="uq_suppressions_org_kind_value"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    # The unique index (organization_id, kind, value) serves every lookup by organization: one index
    # fewer to keep up to date while a DNC file of millions of numbers is imported.
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[str] = mapped_column(String(10))
    value: Mapped[str] = mapped_column(String(320))  # emails and domains lower-cased, phones in E.164
    reason: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(100), default="", server_default="")  # "api", "import #12", "delivery event"
    message_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_messages.id", ondelete="SET NULL"))


class SuppressionImport(OrgScopedMixin, db.Model):
    """A CSV file of suppressions and its background job's progress.

    ``status``: ``queued``, ``running``, ``completed`` (the valid rows imported, the others in
    ``errors``) or ``failed`` (the file could not be read). ``errors``: the first problems,
    ``[{"row", "message"}]``; ``error_count`` counts them all. ``content`` is the uploaded file,
    emptied once the import is finished.
    """

    __tablename__ = "suppression_imports"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(300), default="")
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    processed: Mapped[int] = mapped_column(default=0)
    imported: Mapped[int] = mapped_column(default=0)
    error_count: Mapped[int] = mapped_column(default=0)
    errors: Mapped[list] = mapped_column(JSONType, default=list)

    @property
    def percent(self) -> int:
        if self.status in ("completed", "failed"):
            return 100
        return int(100 * self.processed / self.total) if self.total else 0
