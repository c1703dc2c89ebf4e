"""The two scheduled-task types automations own: delayed steps and time_based occurrences."""

from sqlalchemy import select

from ..extensions import db
from ..models import Automation, AutomationRun, AutomationRunStep, ScheduledTask
from ..models.base import MAX_ID
from ..validation import is_row_id
from .engine import create_runs, resume_delayed_step

_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
# A step of a run, waiting for its delay (the scheduler makes these; which ids exist aside).
DELAYED_AUTOMATION_PAYLOAD = {
    "type": "object",
    "properties": {"run_id": _ID, "step_id": _ID},
    "required": ["run_id", "step_id"],
    "additionalProperties": False,
}
# A time_based automation of the organization.
RECURRING_CAMPAIGN_PAYLOAD = {
    "type": "object",
    "properties": {"automation_id": _ID},
    "required": ["automation_id"],
    "additionalProperties": False,
}


def _unknown(payload: dict, allowed: set[str]) -> list[dict]:
    return [{"field": f"payload.{k}", "message": "unknown key"} for k in sorted(set(payload) - allowed)]


def _as_id(value) -> int | None:
    return value if is_row_id(value) else None


def validate_delayed_automation(payload: dict, organization_id: int) -> list[dict]:
    errors = _unknown(payload, {"run_id", "step_id"})
    run_id, step_id = _as_id(payload.get("run_id")), _as_id(payload.get("step_id"))
    run = db.session.get(AutomationRun, run_id) if run_id else None
    if run is None or run.organization_id != organization_id:
        errors.append({"field": "payload.run_id", "message": "no such automation run"})
    elif (
        step_id is None
        or db.session.scalar(select(AutomationRunStep.id).where(AutomationRunStep.id == step_id, AutomationRunStep.run_id == run.id))
        is None
    ):
        errors.append({"field": "payload.step_id", "message": "no such step in this run"})
    return errors


def validate_recurring_campaign(payload: dict, organization_id: int) -> list[dict]:
    errors = _unknown(payload, {"automation_id"})
    automation_id = _as_id(payload.get("automation_id"))
    automation = db.session.get(Automation, automation_id) if automation_id else None
    if automation is None or automation.organization_id != organization_id:
        errors.append({"field": "payload.automation_id", "message": "no such automation"})
    elif automation.trigger_type != "time_based":
        errors.append({"field": "payload.automation_id", "message": "the automation's trigger is not time_based"})
    return errors


def run_recurring_campaign(task: ScheduledTask) -> dict:
    """One occurrence of a time_based automation: a run for every active member of its audience."""
    from ..models import LeadSegment

    automation = db.session.get(Automation, task.payload["automation_id"])
    if automation is None or not automation.is_active:
        return {"runs": 0, "reason": "the automation is not active"}
    segment_id = (automation.trigger_configuration or {}).get("segment_id")
    member_ids = db.session.scalars(
        select(LeadSegment.lead_id).where(LeadSegment.segment_id == int(segment_id), LeadSegment.is_active.is_(True))
    ).all()
    occurrence = task.scheduled_for.isoformat()
    run_ids = create_runs(automation.organization_id, [(automation, lead_id, None) for lead_id in member_ids], occurrence=occurrence)
    return {"runs": len(run_ids), "members": len(member_ids), "occurrence": occurrence}


def run_delayed_automation(task: ScheduledTask) -> dict:
    return resume_delayed_step(task)
