"""The facts the contactability check needs, for many leads in a few queries (a batch of 100 leads:
one query for the suppression list, one per channel for recent contacts)."""

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import select

from ..extensions import db
from ..models import Lead, OutboxMessage, SuppressedAddress, Task
from ..models.email import SENT_STATUSES
from .check import ContactFacts, check_contactability
from .policy import CHANNELS, ContactPolicy, organization_policy

BATCH = 100


def load_facts(
    organization_id: int, leads: list[Lead], channels, policy: ContactPolicy, now: datetime
) -> dict[tuple[int, str], ContactFacts]:
    """``{(lead id, channel): ContactFacts}`` for these leads of the organization."""
    suppressions = _suppressions(organization_id, leads) if "email" in channels else {}
    facts = {}
    for channel in channels:
        longest = max((cap.per_days for cap in policy.caps_for(channel)), default=0)
        contacts = _recent_contacts(organization_id, [lead.id for lead in leads], channel, now - timedelta(days=longest)) if longest else {}
        for lead in leads:
            suppression = suppressions.get((lead.email or "").strip().lower()) if channel == "email" else None
            facts[(lead.id, channel)] = ContactFacts(suppression=suppression, contacts=tuple(contacts.get(lead.id, ())))
    return facts


def _suppressions(organization_id: int, leads: list[Lead]) -> dict[str, str]:
    """The suppression list's reason for each suppressed address of these leads (lower-cased)."""
    addresses = {lead.email.strip().lower() for lead in leads if lead.email}
    if not addresses:
        return {}
    rows = db.session.execute(
        select(SuppressedAddress.email, SuppressedAddress.reason).where(
            SuppressedAddress.organization_id == organization_id, SuppressedAddress.email.in_(addresses)
        )
    )
    return dict(rows.all())


def _recent_contacts(organization_id: int, lead_ids: list[int], channel: str, since: datetime) -> dict[int, list[datetime]]:
    """When each lead was contacted on ``channel`` after ``since``: emails that left our server, calls
    completed by an agent. Text messages are not sent yet: none."""
    if channel == "email":
        statement = select(OutboxMessage.lead_id, OutboxMessage.sent_at).where(
            OutboxMessage.organization_id == organization_id,
            OutboxMessage.lead_id.in_(lead_ids),
            OutboxMessage.status.in_(SENT_STATUSES),
            OutboxMessage.sent_at > since,
        )
    elif channel == "phone":
        statement = select(Task.lead_id, Task.completed_at).where(
            Task.organization_id == organization_id,
            Task.lead_id.in_(lead_ids),
            Task.task_type == "call",
            Task.status == "done",
            Task.completed_at > since,
        )
    else:
        return {}
    contacts = defaultdict(list)
    for lead_id, moment in db.session.execute(statement):
        contacts[lead_id].append(moment)
    return contacts


def contactability_of_leads(organization_id: int, leads: list[Lead], channels, now: datetime, policy: ContactPolicy | None = None) -> dict:
    """``{(lead id, channel): verdict}`` (``check_contactability``) for these leads of the organization,
    their facts read ``BATCH`` leads at a time."""
    policy = policy or organization_policy(organization_id)
    channels = tuple(channel for channel in CHANNELS if channel in channels)
    verdicts = {}
    for start in range(0, len(leads), BATCH):
        batch = leads[start : start + BATCH]
        facts = load_facts(organization_id, batch, channels, policy, now)
        for lead in batch:
            for channel in channels:
                verdicts[(lead.id, channel)] = check_contactability(lead, channel, policy, now, facts[(lead.id, channel)])
    return verdicts
