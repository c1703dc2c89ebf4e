"""Segments: groups of leads by rules (dynamic) or by hand (static), their members and history (SPEC §5).

A lead's membership is a row of ``lead_segments``; leaving closes the row (``is_active`` false,
``exited_at``) and re-entering opens a new one, so the history is kept. At most one open row per
(segment, lead): a partial unique index guards it.
"""

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import JSONType, OrgScopedMixin, TimestampMixin, UTCDateTime, utcnow
from .leads import Lead

ADDED_BY = ("rule", "user")
REFRESH_STATUSES = ("pending", "running", "completed", "failed")
# Literal SQL so that the partial indexes also serve prepared (generic) plans.
ACTIVE_PREDICATE = text("is_active")


class Segment(OrgScopedMixin, db.Model):
    __tablename__ = "segments"
    __table_args__ = (
        UniqueConstraint("organization_id", "slug", name="uq_segments_org_slug"),
        Index("ix_segments_org_dynamic", "organization_id", "is_dynamic", "is_active"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    slug: Mapped[str] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_dynamic: Mapped[bool] = mapped_column(Boolean, default=True)
    match_all_rules: Mapped[bool] = mapped_column(Boolean, default=True)
    member_count: Mapped[int] = mapped_column(Integer, default=0)
    last_evaluated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the size chart last got a point (segment_snapshots): small changes add at most one an hour.
    last_snapshot_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    rules: Mapped[list["SegmentRule"]] = relationship(
        back_populates="segment", cascade="all, delete-orphan", order_by="SegmentRule.position", lazy="selectin"
    )

    @property
    def raw_rules(self) -> list[dict]:
        """The stored rules as ``{field, operator, value}`` dicts, in order (what the engine validates)."""
        return [{"field": r.field, "operator": r.operator, "value": r.value} for r in self.rules]


class SegmentRule(TimestampMixin, db.Model):
    """One rule of a segment; ``value`` is stored in the engine's canonical JSON form."""

    __tablename__ = "segment_rules"
    id: Mapped[int] = mapped_column(primary_key=True)
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"), index=True)
    field: Mapped[str] = mapped_column(String(40))
    operator: Mapped[str] = mapped_column(String(40))
    value: Mapped[object] = mapped_column(JSONType)
    position: Mapped[int] = mapped_column(Integer, default=0)
    segment: Mapped[Segment] = relationship(back_populates="rules")


class LeadSegment(db.Model):
    """One stay of a lead in a segment: open while ``is_active``, closed by ``exited_at``."""

    __tablename__ = "lead_segments"
    __table_args__ = (
        # One open stay per (segment, lead); also the members of a segment in lead order.
        Index(
            "uq_lead_segments_active",
            "segment_id",
            "lead_id",
            unique=True,
            postgresql_where=ACTIVE_PREDICATE,
            sqlite_where=ACTIVE_PREDICATE,
        ),
        # A lead's segments (incremental re-check, the lead page); also serves the cascade on lead delete.
        Index("ix_lead_segments_lead", "lead_id", "segment_id"),
        # The rows one refresh opened or closed (its events are selected by these), and the history.
        Index("ix_lead_segments_segment_entered", "segment_id", "entered_at"),
        Index("ix_lead_segments_segment_exited", "segment_id", "exited_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    exited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    added_by: Mapped[str] = mapped_column(String(20), default="rule")  # "rule", or "user" (added_by_id)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    lead: Mapped[Lead] = relationship()
    segment: Mapped[Segment] = relationship()
    added_by_user = relationship("User")


class SegmentRefresh(OrgScopedMixin, db.Model):
    """One full refresh of a dynamic segment: its progress (as a job) and its result."""

    __tablename__ = "segment_refreshes"
    __table_args__ = (
        Index("ix_segment_refreshes_segment", "segment_id", "id"),
        Index("ix_segment_refreshes_status", "status", "updated_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # jobs that started it
    trigger: Mapped[str] = mapped_column(String(20), default="manual")  # manual, rules, api, periodic
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    processed: Mapped[int] = mapped_column(Integer, default=0)  # lead-id chunks done
    total: Mapped[int] = mapped_column(Integer, default=0)
    entered: Mapped[int] = mapped_column(Integer, default=0)
    exited: Mapped[int] = mapped_column(Integer, default=0)
    member_count: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def percent(self) -> int:
        if self.status == "completed":
            return 100
        return min(99, int(100 * self.processed / self.total)) if self.total else 0


class SegmentSnapshot(db.Model):
    """A segment's size at one moment: the points of its size-over-time chart."""

    __tablename__ = "segment_snapshots"
    __table_args__ = (Index("ix_segment_snapshots_segment_taken", "segment_id", "taken_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"))
    member_count: Mapped[int] = mapped_column(Integer)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
