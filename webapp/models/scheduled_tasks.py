"""Scheduled tasks: durable delayed, recurring and batch work (SPEC §8).

A task is a row first (``scheduled_tasks.definitions``); workers only execute it
(``scheduled_tasks.execution``).
"""

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import JSONType, OrgScopedMixin, UTCDateTime, utcnow

TASK_STATUSES = ("pending", "running", "completed", "failed", "retry_scheduled", "cancelled")
DUE_STATUSES = ("pending", "retry_scheduled")
FINISHED_STATUSES = ("completed", "failed", "cancelled")
DEFAULT_PRIORITY = 50
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_TIMEOUT_SECONDS = 300
HISTORY_LIMIT = 50  # attempts kept per task; a recurring task would otherwise grow without end
MAX_NAME_LENGTH = 200
PRIORITY_RANGE = (0, 100)
MAX_ATTEMPTS_LIMIT = 25
MAX_TIMEOUT_SECONDS = 24 * 3600
# The payloads of the built-in types (segments.task_types runs them; the bulk-action page builds them).
# operation → the payload key that holds its value (None: the operation takes no value)
BATCH_OPERATIONS = {"add_tag": "tag", "remove_tag": "tag", "set_status": "status", "set_priority": "priority", "refresh_segment": None}
MAX_LEAD_IDS = 10_000
MAINTENANCE_OPERATIONS = ("purge", "refresh_dynamic_segments")
MAX_PURGE_DAYS = 3650

# Literal SQL so that the partial indexes below also serve prepared (generic) plans.
DUE_PREDICATE = text("status IN ('pending', 'retry_scheduled')")
RUNNING_PREDICATE = text("status = 'running'")


class ScheduledTask(OrgScopedMixin, db.Model):
    """One piece of scheduled work, its state, and the history of its attempts."""

    __tablename__ = "scheduled_tasks"
    __table_args__ = (
        CheckConstraint("priority BETWEEN 0 AND 100", name="priority_range"),
        CheckConstraint("max_attempts >= 1", name="max_attempts_positive"),
        CheckConstraint("timeout_seconds >= 1", name="timeout_positive"),
        CheckConstraint(
            "status IN ('pending', 'running', 'completed', 'failed', 'retry_scheduled', 'cancelled')",
            name="status_known",
        ),
        # The claim: due rows, highest priority first, oldest first (engine.claim_due_tasks).
        Index(
            "ix_scheduled_tasks_due",
            text("priority DESC"),
            "scheduled_for",
            "id",
            postgresql_where=DUE_PREDICATE,
            sqlite_where=DUE_PREDICATE,
        ),
        # Reclaiming the tasks of dead workers looks at running rows only: a handful.
        Index("ix_scheduled_tasks_running", "started_at", postgresql_where=RUNNING_PREDICATE, sqlite_where=RUNNING_PREDICATE),
        # Lists in the API/UI and process-due for one organization.
        Index("ix_scheduled_tasks_org_status", "organization_id", "status", "scheduled_for"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_type: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200), default="")
    payload: Mapped[dict] = mapped_column(JSONType, default=dict)
    scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    priority: Mapped[int] = mapped_column(default=DEFAULT_PRIORITY)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=DEFAULT_MAX_ATTEMPTS)
    last_error: Mapped[str | None] = mapped_column(Text)
    recurrence: Mapped[str | None] = mapped_column(String(100))
    timeout_seconds: Mapped[int] = mapped_column(default=DEFAULT_TIMEOUT_SECONDS)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_by: Mapped[str | None] = mapped_column(String(200))
    result: Mapped[dict | None] = mapped_column(JSONType)
    # [{"attempt", "started_at", "finished_at", "worker", "outcome", "error"}], newest last.
    attempt_history: Mapped[list] = mapped_column(JSONType, default=list)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
