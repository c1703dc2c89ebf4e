"""Automations, their steps, and the runs that execute them for one lead (SPEC §7)."""

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import JSONType, OrgScopedMixin, TimestampMixin, UTCDateTime, utcnow

TRIGGER_TYPES = (
    "lead_created",
    "lead_status_changed",
    "lead_priority_changed",
    "lead_assigned",
    "lead_value_changed",
    "segment_entered",
    "segment_exited",
    "email_opened",
    "email_clicked",
    "lead_not_contacted",
    "time_based",
    "manual",
)
ACTION_TYPES = (
    "send_email",
    "send_notification",
    "update_lead_status",
    "update_lead_priority",
    "assign_lead",
    "add_tag",
    "remove_tag",
    "create_task",
    # flow actions (SPEC §15): they carry branches and decide which one a run follows
    "branch",
    "split",
    "wait_until",
    "exit",
)
RUN_STATUSES = ("pending", "running", "waiting", "completed", "failed", "skipped", "cancelled", "exited", "goal_reached")
STEP_STATUSES = ("pending", "running", "waiting", "completed", "failed", "skipped", "cancelled")
OPEN_RUN_STATUSES = ("pending", "running", "waiting")


class Automation(OrgScopedMixin, db.Model):
    __tablename__ = "automations"
    __table_args__ = (
        UniqueConstraint("organization_id", "slug", name="uq_automations_org_slug"),
        Index("ix_automations_org_trigger", "organization_id", "trigger_type", "is_active"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    slug: Mapped[str] = mapped_column(String(200))
    trigger_type: Mapped[str] = mapped_column(String(40))
    trigger_configuration: Mapped[dict] = mapped_column(JSONType, default=dict)
    conditions: Mapped[dict] = mapped_column(JSONType, default=dict)  # {"match_all": bool, "rules": [...]}
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    run_immediately: Mapped[bool] = mapped_column(Boolean, default=True)
    delay_minutes: Mapped[int] = mapped_column(Integer, default=0)
    allow_reentry: Mapped[bool] = mapped_column(Boolean, default=False)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"), index=True)
    goal: Mapped[dict] = mapped_column(JSONType, default=dict)  # {"match_all_rules": bool, "rules": [...]}: reached, the run ends
    version: Mapped[int] = mapped_column(Integer, default=1)  # of the definition: actions, trigger, conditions, goal

    # Every step of the tree; ``journey.action_tree`` nests them under their flow actions.
    actions: Mapped[list["AutomationAction"]] = relationship(
        back_populates="automation", cascade="all, delete-orphan", order_by="AutomationAction.action_order"
    )
    campaign = relationship("Campaign")


class AutomationAction(TimestampMixin, db.Model):
    """One step of an automation: in its top-level list, or in a ``branch`` of the flow action ``parent``."""

    __tablename__ = "automation_actions"
    id: Mapped[int] = mapped_column(primary_key=True)
    automation_id: Mapped[int] = mapped_column(ForeignKey("automations.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("automation_actions.id", ondelete="CASCADE"), index=True)
    branch: Mapped[str | None] = mapped_column(String(40))
    action_type: Mapped[str] = mapped_column(String(40))
    action_order: Mapped[int] = mapped_column(Integer, default=0)  # within its list
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    configuration: Mapped[dict] = mapped_column(JSONType, default=dict)
    delay_minutes: Mapped[int] = mapped_column(Integer, default=0)
    conditions: Mapped[dict] = mapped_column(JSONType, default=dict)
    automation: Mapped[Automation] = relationship(back_populates="actions")
    parent: Mapped["AutomationAction | None"] = relationship(remote_side=[id])

    @property
    def organization_id(self) -> int:
        return self.automation.organization_id


class AutomationVersion(db.Model):
    """A saved definition of an automation: what its runs of that version execute to their end."""

    __tablename__ = "automation_versions"
    __table_args__ = (UniqueConstraint("automation_id", "version", name="uq_automation_versions_automation_version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    automation_id: Mapped[int] = mapped_column(ForeignKey("automations.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict] = mapped_column(JSONType)  # journey.definition_of(): trigger, conditions, goal, delay, action tree
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AutomationRun(OrgScopedMixin, db.Model):
    """One execution of an automation for one lead."""

    __tablename__ = "automation_runs"
    __table_args__ = (
        Index("ix_automation_runs_automation_created", "automation_id", "created_at"),
        Index("ix_automation_runs_lead", "lead_id", "automation_id"),
        Index("ix_automation_runs_status_updated", "status", "updated_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    automation_id: Mapped[int] = mapped_column(ForeignKey("automations.id", ondelete="CASCADE"))
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    version: Mapped[int] = mapped_column(Integer, default=1)  # of the automation's definition, kept to the end
    path: Mapped[list] = mapped_column(JSONType, default=list)  # [{"action_id", "branch"}] of the steps finished
    trigger_type: Mapped[str] = mapped_column(String(40))
    trigger_event_id: Mapped[int | None] = mapped_column(Integer)
    # Automations that led to this run, for loop protection (a chain never re-enters one of them).
    chain: Mapped[list] = mapped_column(JSONType, default=list)
    # Makes trigger handling idempotent: without re-entry one run per (automation, lead) ever.
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    steps: Mapped[list["AutomationRunStep"]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="AutomationRunStep.position"
    )
    automation: Mapped[Automation] = relationship()
    lead = relationship("Lead")


class AutomationRunStep(TimestampMixin, db.Model):
    """What one step did (or does) in one run, created when the run reaches it; its idempotency key guards its effect."""

    __tablename__ = "automation_run_steps"
    __table_args__ = (UniqueConstraint("run_id", "action_id", name="uq_automation_run_steps_run_action"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("automation_runs.id", ondelete="CASCADE"), index=True)
    # The action of the run's version (no foreign key: a later version may have removed the row).
    action_id: Mapped[int | None] = mapped_column(Integer)
    action_type: Mapped[str] = mapped_column(String(40))
    position: Mapped[int] = mapped_column(Integer)  # 0, 1, 2… in the order the run reached its steps
    configuration: Mapped[dict] = mapped_column(JSONType, default=dict)  # the step as it was when the run began
    conditions: Mapped[dict] = mapped_column(JSONType, default=dict)
    delay_minutes: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    output: Mapped[dict | None] = mapped_column(JSONType)
    error: Mapped[str | None] = mapped_column(Text)
    run: Mapped[AutomationRun] = relationship(back_populates="steps")

    @property
    def idempotency_key(self) -> str:
        return f"run-step:{self.id}"
