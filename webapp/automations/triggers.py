"""Which automations a lead event starts (SPEC §7), checked in the transaction of the change.

``match_events`` is the lead-events hook: for each event it finds the active automations whose
trigger fits, checks their conditions, and records one run per (automation, lead) with its steps.
The runs are handed to workers after the commit (``engine.queue_runs``).
"""

from decimal import Decimal, InvalidOperation

from sqlalchemy import select

from ..extensions import db
from ..models import Automation, LeadEvent

EVENT_TRIGGERS = {
    "lead_created": "lead_created",
    "lead_status_changed": "lead_status_changed",
    "lead_priority_changed": "lead_priority_changed",
    "lead_assigned": "lead_assigned",
    "lead_value_changed": "lead_value_changed",
    "segment_entered": "segment_entered",
    "segment_exited": "segment_exited",
    "email_opened": "email_opened",
    "email_clicked": "email_clicked",
}


def _number(value):
    try:
        return Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        return None


def trigger_fits(trigger_type: str, config: dict, event: LeadEvent) -> bool:
    """Does this event fire a trigger of this type and configuration?"""
    if EVENT_TRIGGERS.get(event.event_type) != trigger_type:
        return False
    data = event.data or {}
    if trigger_type == "lead_status_changed":
        return _matches(config.get("from_status"), data.get("old")) and _matches(config.get("to_status"), data.get("new"))
    if trigger_type == "lead_priority_changed":
        return _matches(config.get("from_priority"), data.get("old")) and _matches(config.get("to_priority"), data.get("new"))
    if trigger_type == "lead_assigned":
        return data.get("new") is not None and _matches(config.get("user_id"), data.get("new"))
    if trigger_type == "lead_value_changed":
        return _value_change_fits(config, _number(data.get("old")), _number(data.get("new")))
    if trigger_type in ("segment_entered", "segment_exited"):
        return str(config.get("segment_id")) == str(data.get("segment_id"))
    if trigger_type in ("email_opened", "email_clicked"):  # a person's, of this template and automation if given
        return (
            not data.get("suspected_bot")
            and _matches(config.get("template_id"), data.get("template_id"))
            and _matches(config.get("automation_id"), data.get("automation_id"))
        )
    return True


def _matches(expected, actual) -> bool:
    return expected in (None, "") or str(expected) == str(actual)


def _value_change_fits(config: dict, old, new) -> bool:
    if new is None:
        return False
    low, high, min_change = (_number(config.get(k)) for k in ("min_value", "max_value", "min_change"))
    if low is not None and new < low:
        return False
    if high is not None and new > high:
        return False
    if min_change is not None and abs(new - (old or Decimal(0))) < min_change:
        return False
    return True


def active_automations(organization_id: int, trigger_types: set[str]) -> list[Automation]:
    return db.session.scalars(
        select(Automation)
        .where(Automation.organization_id == organization_id, Automation.is_active.is_(True), Automation.trigger_type.in_(trigger_types))
        .order_by(Automation.id)
    ).all()


def match_events(organization_id: int, events: list[LeadEvent]) -> None:
    """The lead-events hook: start the runs these events trigger."""
    from .engine import create_runs, current_chain

    trigger_types = {EVENT_TRIGGERS[e.event_type] for e in events if e.event_type in EVENT_TRIGGERS}
    if not trigger_types:
        return
    automations = active_automations(organization_id, trigger_types)
    if not automations:
        return
    chain = current_chain()
    wanted = []
    for event in events:
        for automation in automations:
            if automation.id in chain.get(event.lead_id, ()):  # loop protection
                continue
            if trigger_fits(automation.trigger_type, automation.trigger_configuration or {}, event):
                wanted.append((automation, event.lead_id, event.id))
    if wanted:
        create_runs(organization_id, wanted, chain)
