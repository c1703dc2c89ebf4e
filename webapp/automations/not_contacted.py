"""Speed to lead (SPEC §17): the ``lead_not_contacted`` trigger, found by a periodic job.

A lead fires an active ``lead_not_contacted`` automation once, when ``within_minutes`` after its
creation it has had no contact (``leads.first_contact``). Every tick, one query per automation finds
the leads that became due since a ``LOOKBACK`` ago and have no contact and no run of it yet; their
runs start with the key of a once-per-lead run (``engine._dedupe_key``), so a second tick, or two
workers ticking at once, start nothing twice.
"""

from datetime import datetime, timedelta

from sqlalchemy import select

from ..extensions import db
from ..leads.first_contact import never_contacted
from ..models import Automation, AutomationRun, Lead, utcnow
from .engine import create_runs

TRIGGER = "lead_not_contacted"
LOOKBACK = timedelta(days=1)  # how long a lead stays due: workers down for less lose no trigger
MAX_LEADS_PER_TICK = 5000  # per automation; the rest are found on the next tick


def start_not_contacted_runs(now: datetime | None = None) -> int:
    """The periodic job: start the runs of every active ``lead_not_contacted`` automation; returns how many started."""
    now = now or utcnow()
    automations = db.session.scalars(
        select(Automation).where(Automation.trigger_type == TRIGGER, Automation.is_active.is_(True)).order_by(Automation.id)
    ).all()
    started = 0
    for automation in automations:
        lead_ids = due_leads(automation, now)
        if lead_ids:
            started += len(create_runs(automation.organization_id, [(automation, lead_id, None) for lead_id in lead_ids]))
    db.session.commit()
    return started


def due_leads(automation: Automation, now: datetime) -> list[int]:
    """The ids of the leads the automation fires for now: created between ``within_minutes`` plus the
    lookback and ``within_minutes`` ago, never contacted, without a run of it."""
    within = timedelta(minutes=int((automation.trigger_configuration or {}).get("within_minutes") or 0))
    if not within:
        return []
    organization_id = automation.organization_id
    has_run = select(AutomationRun.id).where(AutomationRun.automation_id == automation.id, AutomationRun.lead_id == Lead.id).exists()
    return db.session.scalars(
        select(Lead.id)
        .where(
            Lead.organization_id == organization_id,
            Lead.created_at > now - within - LOOKBACK,
            Lead.created_at <= now - within,
            ~has_run,
            *never_contacted(organization_id, Lead.id),
        )
        .order_by(Lead.id)
        .limit(MAX_LEADS_PER_TICK)
    ).all()
