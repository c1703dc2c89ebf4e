"""The facts the contactability check needs, for many leads in a few queries (a batch of 100 leads:
one query for the suppression list, one for the consents, one per channel for recent contacts)."""

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select

from ..engagement.suppression import precedence
from ..extensions import db
from ..leads.consents import current_consents
from ..models import Lead, OutboxMessage, Suppression, Task
from ..models.email import SENT_STATUSES
from .check import ContactFacts, check_contactability
from .phones import e164_or_none
from .policy import CHANNELS, ContactPolicy, organization_policy

BATCH = 100


def load_facts(
    organization_id: int, leads: list[Lead], channels, policy: ContactPolicy, now: datetime
) -> dict[tuple[int, str], ContactFacts]:
    """``{(lead id, channel): ContactFacts}`` for these leads of the organization."""
    suppressions = _suppressions(organization_id, leads, channels)
    consents = current_consents(organization_id, [lead.id for lead in leads], channels)
    facts = {}
    for channel in channels:
        longest = max((cap.per_days for cap in policy.caps_for(channel)), default=0)
        contacts = _recent_contacts(organization_id, [lead.id for lead in leads], channel, now - timedelta(days=longest)) if longest else {}
        for lead in leads:
            suppression, suppressed = suppressions.get((lead.id, channel), (None, None))
            facts[(lead.id, channel)] = ContactFacts(
                suppression=suppression,
                suppressed=suppressed,
                contacts=tuple(contacts.get(lead.id, ())),
                consent=consents.get((lead.id, channel)),
            )
    return facts


def _suppressions(organization_id: int, leads: list[Lead], channels) -> dict[tuple[int, str], tuple[str, str]]:
    """``{(lead id, channel): (reason, what is suppressed)}`` for the leads the suppression list
    covers, in one query: on email the address's own row or its domain's; on phone and sms the
    number's (the lead's phone in E.164; one that cannot be read matches nothing). Of several rows,
    the strongest reason speaks (a bounce before an unsubscribe)."""
    emails, phones = {}, {}
    for lead in leads:
        if "email" in channels and lead.email and lead.email.strip():
            emails[lead.id] = lead.email.strip().lower()
        if {"phone", "sms"} & set(channels):
            number = e164_or_none(lead.phone)
            if number:
                phones[lead.id] = number
    wanted = []
    if emails:
        wanted.append(and_(Suppression.kind == "email", Suppression.value.in_(set(emails.values()))))
        domains = {email.rpartition("@")[2] for email in emails.values() if "@" in email}
        if domains:
            wanted.append(and_(Suppression.kind == "domain", Suppression.value.in_(domains)))
    if phones:
        wanted.append(and_(Suppression.kind == "phone", Suppression.value.in_(set(phones.values()))))
    if not wanted:
        return {}
    rows = db.session.execute(
        select(Suppression.kind, Suppression.value, Suppression.reason).where(Suppression.organization_id == organization_id, or_(*wanted))
    )
    reasons = {(kind, value): reason for kind, value, reason in rows}
    found = {}

    def keep(lead_id: int, channel: str, key: tuple[str, str], what: str) -> None:
        reason = reasons.get(key)
        if reason is not None and ((lead_id, channel) not in found or precedence(reason) < precedence(found[(lead_id, channel)][0])):
            found[(lead_id, channel)] = (reason, what)

    for lead_id, email in emails.items():
        keep(lead_id, "email", ("email", email), "The address")
        keep(lead_id, "email", ("domain", email.rpartition("@")[2]), f"The domain {email.rpartition('@')[2]}")
    for lead_id, number in phones.items():
        for channel in {"phone", "sms"} & set(channels):
            keep(lead_id, channel, ("phone", number), f"The phone number {number}")
    return found


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
