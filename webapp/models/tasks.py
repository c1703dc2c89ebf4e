"""Follow-up tasks for agents: calls, emails, meetings about a lead (SPEC §14)."""

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import OrgScopedMixin, UTCDateTime

TASK_TYPES = ("call", "email", "follow_up", "meeting", "review")
TASK_STATUSES = ("open", "done", "cancelled")
CALL_OUTCOMES = ("reached", "voicemail", "no_answer", "wrong_number")
DUE_HOUR_UTC = 17  # a due date given without a time: 17:00 (UTC until leads carry a time zone, SPEC §17)
MAX_TITLE_LENGTH = 300
MAX_NOTES_LENGTH = 5000
MAX_OUTCOME_LENGTH = 500


class Task(OrgScopedMixin, db.Model):
    """A task for an agent about a lead; created by hand or by the ``create_task`` automation step.

    ``idempotency_key`` is the automation step's: a step that runs twice creates one task.
    """

    __tablename__ = "tasks"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'done', 'cancelled')", name="status_known"),
        Index("ix_tasks_org_assignee_status_due", "organization_id", "assignee_id", "status", "due_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    task_type: Mapped[str] = mapped_column(String(20), default="follow_up")
    title: Mapped[str] = mapped_column(String(MAX_TITLE_LENGTH))
    notes: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default="open", server_default="open")
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    outcome: Mapped[str | None] = mapped_column(String(MAX_OUTCOME_LENGTH))
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    lead = relationship("Lead")
    assignee = relationship("User", foreign_keys=[assignee_id])
    completed_by = relationship("User", foreign_keys=[completed_by_id])
