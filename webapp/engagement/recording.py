"""What an open, a click or a delivery event does: the outbox row moves on, the lead's timeline grows.

A message that left our server moves along ``sent → deferred → delivered → opened → clicked``, never
back (a late delivery report after an open keeps it opened) unless its clicks turn out to be a link
scanner's; ``bounced`` and ``complained`` are where it ends. Every open and click is a lead event,
with the template, automation, run and step it came from; a suspected bot's is flagged
``suspected_bot`` and moves nothing: an open within two seconds of sending, or clicks on every link
of a message within two seconds (a link scanner). Only the others count on the row
(``opened_at``/``clicked_at`` the first, ``open_count``/``click_count`` all). Each function works in
the caller's transaction, with the message's row locked; the caller commits.
"""

import re
from datetime import timedelta

from sqlalchemy import and_, select

from ..extensions import db
from ..leads.changes import after_lead_changes, new_event
from ..models import AutomationRun, AutomationRunStep, LeadEvent, OutboxMessage, utcnow
from ..models.email import SENT_STATUSES

BOT_WINDOW = timedelta(seconds=2)
FINAL_STATUSES = ("bounced", "complained")
_STEP_KEY = re.compile(r"run-step:(\d+)")  # the idempotency key of an automation step's email


def record_open(message_id: int) -> bool:
    """Record an open of the message (the pixel was fetched); False when there is no such message."""
    message = _locked(message_id)
    if message is None:
        return False
    now = utcnow()
    bot = _too_soon(message, now)
    if not bot:
        message.open_count += 1
        message.opened_at = message.opened_at or now
        message.status = settled_status(message)
    record_lead_event(message, "email_opened", suspected_bot=bot)
    return True


def record_click(message_id: int, index: int) -> str | None:
    """Record a click on the message's link ``index`` and return the URL recorded for it; None (and
    nothing recorded) when the message or the link does not exist."""
    message = _locked(message_id)
    links = (message.links or []) if message is not None else []
    if not 0 <= index < len(links):
        return None
    now = utcnow()
    bot = _too_soon(message, now)
    if not bot:
        scan = _scanned_clicks(message, index, now)
        if scan is not None:  # this click completes a scan of every link: all of them were a bot's
            bot = True
            for event in scan:
                event.data = {**event.data, "suspected_bot": True}
            message.click_count -= len(scan)
            message.clicked_at = message.clicked_at if message.click_count else None
    if not bot:
        message.click_count += 1
        message.clicked_at = message.clicked_at or now
    message.status = settled_status(message)
    record_lead_event(message, "email_clicked", url=links[index], link_index=index, suspected_bot=bot)
    return links[index]


def recorded_link(message_id: int, index: int) -> str | None:
    """The URL recorded for the message's link ``index``, or None."""
    links = db.session.scalar(select(OutboxMessage.links).where(OutboxMessage.id == message_id)) or []
    return links[index] if 0 <= index < len(links) else None


def settled_status(message: OutboxMessage) -> str:
    """The status of a message that left, from what is known of it (see the module's docstring)."""
    if message.status not in SENT_STATUSES or message.status in FINAL_STATUSES:
        return message.status
    if message.click_count:
        return "clicked"
    if message.open_count:
        return "opened"
    if message.delivered_at is not None:
        return "delivered"
    return "deferred" if message.status == "deferred" else "sent"


def record_lead_event(message: OutboxMessage, event_type: str, **data) -> None:
    """A lead event about an email to the lead (none for test emails and emails to agents), with
    where the email came from; through the lead-change hooks, so that journeys and triggers see it."""
    if message.lead_id is None or message.is_test or message.recipient != "lead":
        return
    event = new_event(message.organization_id, message.lead_id, event_type, {**message_origin(message), **data})
    after_lead_changes(message.organization_id, [], [event])


def message_origin(message: OutboxMessage) -> dict:
    """``message_id`` and ``template_id``, and ``automation_id``, ``automation_run_id``, ``step_id``
    and ``action_id`` for an automation step's email."""
    origin = {"message_id": message.id, "template_id": message.template_id}
    if message.automation_run_id is None:
        return origin
    key = _STEP_KEY.fullmatch(message.idempotency_key or "")
    step_id = int(key.group(1)) if key else None
    row = db.session.execute(
        select(AutomationRun.automation_id, AutomationRunStep.id, AutomationRunStep.action_id)
        .outerjoin(AutomationRunStep, and_(AutomationRunStep.run_id == AutomationRun.id, AutomationRunStep.id == step_id))
        .where(AutomationRun.id == message.automation_run_id)
    ).first()
    origin["automation_run_id"] = message.automation_run_id
    if row is not None:
        origin["automation_id"] = row.automation_id
        if row.id is not None:
            origin.update(step_id=row.id, action_id=row.action_id)
    return origin


def _locked(message_id: int) -> OutboxMessage | None:
    return db.session.scalar(
        select(OutboxMessage).where(OutboxMessage.id == message_id).with_for_update().execution_options(populate_existing=True)
    )


def _too_soon(message: OutboxMessage, now) -> bool:
    """Within two seconds of sending (or before the send was recorded): no person reads that fast."""
    return message.sent_at is None or now - message.sent_at < BOT_WINDOW


def _scanned_clicks(message: OutboxMessage, index: int, now) -> list[LeadEvent] | None:
    """When the clicks of the last two seconds and this one cover every link of the message (two or
    more), the earlier ones not flagged yet; otherwise None."""
    if message.lead_id is None or len(message.links) < 2:
        return None
    recent = [
        event
        for event in db.session.scalars(
            select(LeadEvent).where(
                LeadEvent.lead_id == message.lead_id, LeadEvent.event_type == "email_clicked", LeadEvent.created_at >= now - BOT_WINDOW
            )
        )
        if event.data.get("message_id") == message.id
    ]
    if {event.data.get("link_index") for event in recent} | {index} != set(range(len(message.links))):
        return None
    return [event for event in recent if not event.data.get("suspected_bot")]
