"""Email templates, their saved versions, and the outbox of rendered messages (SPEC §6)."""

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import OrgScopedMixin, UTCDateTime

TEMPLATE_TYPES = ("marketing", "transactional", "notification")
# A message's status: the first six while it is being sent (or not), then what became of it once it
# left (SPEC §16: delivery events, opens and clicks move it along; ``engagement.recording``).
MESSAGE_STATUSES = ("queued", "sending", "sent", "failed", "suppressed", "held",
                    "deferred", "delivered", "opened", "clicked", "bounced", "complained")  # fmt: skip
SENT_STATUSES = ("sent", "deferred", "delivered", "opened", "clicked", "bounced", "complained")  # it left our server
CONTENT_FIELDS = ("subject", "body_html", "body_text")  # a change of one of them is a new version


class EmailTemplate(OrgScopedMixin, db.Model):
    __tablename__ = "email_templates"
    __table_args__ = (UniqueConstraint("organization_id", "slug", name="uq_email_templates_org_slug"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(1000))
    body_html: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    template_type: Mapped[str] = mapped_column(String(20), default="marketing")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Open pixel and rewritten links in the emails sent to leads (SPEC §16); not part of a version.
    track_opens: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    track_clicks: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")

    versions: Mapped[list["EmailTemplateVersion"]] = relationship(
        back_populates="template", cascade="all, delete-orphan", passive_deletes=True, order_by="EmailTemplateVersion.version.desc()"
    )


class EmailTemplateVersion(OrgScopedMixin, db.Model):
    """The content of a template as saved at one version (the current one included)."""

    __tablename__ = "email_template_versions"
    __table_args__ = (UniqueConstraint("template_id", "version", name="uq_email_template_versions_number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("email_templates.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(String(1000))
    body_html: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    saved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    restored_from: Mapped[int | None] = mapped_column(Integer)  # the version this one restored, if any

    template: Mapped[EmailTemplate] = relationship(back_populates="versions")
    saved_by = relationship("User")


class OutboxMessage(OrgScopedMixin, db.Model):
    """One rendered email for one recipient: a row first, then sent (or held) by a job.

    ``idempotency_key`` (given by the caller, e.g. an automation step) makes queueing idempotent;
    the job sends only a ``queued`` message, marking it ``sending`` under a lease first.
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_messages_org_created", "organization_id", "created_at"),
        # The sweeper looks at unfinished rows only.
        Index(
            "ix_outbox_messages_unfinished",
            "status",
            "updated_at",
            postgresql_where=text("status IN ('queued', 'sending')"),
            sqlite_where=text("status IN ('queued', 'sending')"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"), index=True)
    template_id: Mapped[int | None] = mapped_column(ForeignKey("email_templates.id", ondelete="SET NULL"), index=True)
    template_version: Mapped[int | None] = mapped_column(Integer)
    automation_run_id: Mapped[int | None] = mapped_column(ForeignKey("automation_runs.id", ondelete="SET NULL"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    is_test: Mapped[bool] = mapped_column(Boolean, default=False)
    template_type: Mapped[str] = mapped_column(String(20), default="marketing")
    recipient: Mapped[str] = mapped_column(String(20), default="lead")  # lead, assignee, user
    to_address: Mapped[str] = mapped_column(String(320), default="")
    to_name: Mapped[str] = mapped_column(String(200), default="")
    subject: Mapped[str] = mapped_column(String(1000), default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    unsubscribe_url: Mapped[str | None] = mapped_column(String(1000))  # List-Unsubscribe, marketing to a lead
    message_id_header: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str] = mapped_column(String(20), default="queued")
    status_reason: Mapped[str | None] = mapped_column(String(500))  # why suppressed or held
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    smtp_response: Mapped[str | None] = mapped_column(String(1000))
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a retry waits until then
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # while sending
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Tracking (SPEC §16), decided when the message is queued and applied when it is sent: the pixel,
    # and the http(s) links of the HTML part in order (a click goes only to one of these), or None.
    track_opens: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    links: Mapped[list | None] = mapped_column(JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql"))
    # What became of it once sent: the first delivery report, first open and click (suspected bots
    # aside), and how many opens and clicks there were.
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    clicked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    open_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    click_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the lead unsubscribed after this email (``unsubscribe``)

    lead = relationship("Lead")
    template = relationship("EmailTemplate")
