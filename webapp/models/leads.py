"""Leads, their tags and events, and campaigns (SPEC §4)."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import DDL, Boolean, CheckConstraint, ForeignKey, Index, Numeric, String, Text, event, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import JSONType, OrgScopedMixin, PartitionedPrimaryKey, UTCDateTime, utcnow

STATUSES = ("new", "contacted", "qualified", "quoted", "converted", "lost")
PRIORITIES = ("low", "medium", "high", "urgent")
SOURCES = ("website", "referral", "facebook", "google_ads", "email", "phone", "partner", "event", "other")
INSURANCE_TYPES = ("auto", "home", "life", "health", "business", "renters", "umbrella", "other")
CAMPAIGN_STATUSES = ("draft", "active", "paused", "completed")
MAX_TAG_LENGTH = 50  # lead_tags.tag
# The fields a lead is created with (API, forms, CSV import), which templates can also print.
LEAD_INPUT_FIELDS = ("first_name", "last_name", "email", "phone", "status", "priority", "source",
                     "insurance_type", "state", "city", "value_estimate", "tags")  # fmt: skip
# What a lead's timeline records (``lead_events.event_type``): what a journey can wait for.
LEAD_EVENT_TYPES = ("lead_created", "lead_updated", "lead_status_changed", "lead_priority_changed", "lead_assigned",
                    "lead_value_changed", "tag_added", "tag_removed", "segment_entered", "segment_exited", "email_sent",
                    "email_delivered", "email_opened", "email_clicked", "email_bounced", "email_complained",
                    "email_opt_out", "task_created", "task_updated", "task_completed", "consent_granted",
                    "consent_revoked", "lead_duplicate_received")  # fmt: skip
US_STATES = frozenset(
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ "
    "NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR VI GU AS MP".split()
)


class Campaign(OrgScopedMixin, db.Model):
    __tablename__ = "campaigns"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    channel: Mapped[str | None] = mapped_column(String(100))
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    budget: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))


SAMPLE_COLUMNS = ("status", "priority", "source", "insurance_type", "state", "city", "value_estimate", "created_at", "updated_at")


class Lead(OrgScopedMixin, db.Model):
    __tablename__ = "leads"
    __table_args__ = (
        Index("ix_leads_org_status", "organization_id", "status"),
        Index("ix_leads_org_created", "organization_id", "created_at"),
        CheckConstraint("state = upper(state)", name="state_upper_case"),  # segment rules compare it as stored
        # The random sample of segment estimates (``segments.estimates``); PostgreSQL only. The first
        # 2,048 of 65,536 buckets (the samples of organizations over 640,000 leads) also carry every
        # column a rule reads, so that their estimates are index-only scans of a small index.
        Index("ix_leads_sample", "organization_id", text("(hashint4(id) & 65535)")).ddl_if(dialect="postgresql"),
        Index(
            "ix_leads_sample_slice",
            "organization_id",
            text("(hashint4(id) & 65535)"),
            postgresql_include=["id", *SAMPLE_COLUMNS],
            postgresql_where=text("(hashint4(id) & 65535) < 2048"),
        ).ddl_if(dialect="postgresql"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="new")
    priority: Mapped[str] = mapped_column(String(20), default="medium")
    source: Mapped[str | None] = mapped_column(String(20))
    insurance_type: Mapped[str | None] = mapped_column(String(20))
    state: Mapped[str | None] = mapped_column(String(2))
    city: Mapped[str | None] = mapped_column(String(100))
    timezone: Mapped[str | None] = mapped_column(String(64))  # IANA name; None: the state's (``contactability.timezones``)
    value_estimate: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"), index=True)
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    email_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)

    tag_rows: Mapped[list["LeadTag"]] = relationship(cascade="all, delete-orphan", lazy="selectin", order_by="LeadTag.tag")
    campaign: Mapped[Campaign | None] = relationship()
    assigned_to = relationship("User")

    @property
    def tags(self) -> list[str]:
        return [row.tag for row in self.tag_rows]

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


# Duplicates on arrival (``leads.duplicates``): an organization's leads with an email (in any case) or a phone, created since a moment.
Index("ix_leads_org_email_lower", Lead.organization_id, func.lower(Lead.email), Lead.created_at)
Index("ix_leads_org_phone", Lead.organization_id, Lead.phone, Lead.created_at)


class LeadTag(db.Model):
    """One tag of a lead: a row per tag so that tag rules are indexed lookups on every backend."""

    __tablename__ = "lead_tags"
    __table_args__ = (Index("ix_lead_tags_tag_lead", "tag", "lead_id"),)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(MAX_TAG_LENGTH), primary_key=True)


class LeadEvent(db.Model):
    """Something that happened to a lead: the timeline, and the input of triggers.

    On PostgreSQL the table is partitioned by month of ``created_at`` (``leads.partitions``: monthly
    partitions created ahead, a DEFAULT one for any other date, old months dropped by the retention
    setting); elsewhere it is one plain table."""

    __tablename__ = "lead_events"
    __table_args__ = (
        PartitionedPrimaryKey("id", partition_key="created_at"),
        Index("ix_lead_events_lead_created", "lead_id", "created_at"),
        # Activity rules (segments.activity): an organization's events of a type since a moment, with their leads.
        Index("ix_lead_events_org_type_created", "organization_id", "event_type", "created_at", "lead_id"),
        {"postgresql_partition_by": "RANGE (created_at)"},
    )
    id: Mapped[int] = mapped_column()
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict] = mapped_column(JSONType, default=dict)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor = relationship("User")


# Every PostgreSQL insert finds a partition from the start: the DEFAULT one takes what no month does.
event.listen(
    LeadEvent.__table__,
    "after_create",
    DDL("CREATE TABLE lead_events_default PARTITION OF lead_events DEFAULT").execute_if(dialect="postgresql"),
)


class IdempotencyRecord(OrgScopedMixin, db.Model):
    """The first response to a request sent with an Idempotency-Key (kept 24 hours)."""

    __tablename__ = "idempotency_records"
    __table_args__ = (Index("uq_idempotency_org_key", "organization_id", "key", unique=True),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int]
    response_body: Mapped[dict] = mapped_column(JSONType)
    location: Mapped[str | None] = mapped_column(String(300))


class ImportJob(OrgScopedMixin, db.Model):
    """A CSV import: the file, the choices made for it, then the background job's progress and report.

    ``status``: ``mapping`` (uploaded, columns not yet matched to lead fields), ``pending``,
    ``running``, ``completed`` (every valid row imported; ``rejected_count`` rows reported when the
    valid rows were asked for) or ``failed`` (nothing imported). ``options``: ``{"mapping": [field
    or null per column of the header], "mode": "all_or_nothing" | "valid_rows"}``. Once finished,
    ``content`` holds only the rejected rows (a CSV with their problems), or nothing.
    """

    __tablename__ = "import_jobs"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(300), default="")
    content: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")  # jobs that started it
    options: Mapped[dict] = mapped_column(JSONType, default=dict, server_default="{}")
    total_rows: Mapped[int] = mapped_column(default=0)
    processed_rows: Mapped[int] = mapped_column(default=0)
    created_count: Mapped[int] = mapped_column(default=0)
    rejected_count: Mapped[int] = mapped_column(default=0, server_default="0")
    errors: Mapped[list] = mapped_column(JSONType, default=list)

    @property
    def mode(self) -> str:
        return (self.options or {}).get("mode") or "all_or_nothing"

    @property
    def outcome(self) -> str | None:
        """How a finished import ended: ``completed``, ``partial`` (valid rows imported, others
        rejected) or ``failed``; None while it is not finished."""
        if self.status == "completed":
            return "partial" if self.rejected_count else "completed"
        return "failed" if self.status == "failed" else None

    @property
    def percent(self) -> int:
        """Checking the rows is the first half of the work, creating the leads the second; a finished
        import is at 100 whatever its outcome (the bar then shows the outcome, not work left)."""
        if self.status in ("completed", "failed"):
            return 100
        if not self.total_rows:
            return 0
        to_create = max(self.total_rows - self.rejected_count, 1)
        return min(99, int(50 * self.processed_rows / self.total_rows + 50 * self.created_count / to_create))
