"""Delivery events from the mail provider (SPEC §16): delivered, deferred, bounced, complained.

A request names outbox messages by id; whose events are they? The request is signed with one
organization's webhook secret, and the organization is the one whose secret verifies the signature
among the organizations owning the messages it names (``signing_organization``). Its messages are
updated; the ids of any other organization's messages are answered exactly like ids that do not
exist ("unknown"), so a request can neither change nor find out about another organization's mail.
A request naming no existing message has no organization to vouch for it: it is refused like a bad
signature.

Each event moves the outbox row on (``recording.settled_status``) and is a lead event
(``email_delivered``, ``email_bounced``, ``email_complained``; a deferral is only a status); a hard
bounce or a complaint puts the address on the suppression list. A report repeated by a retrying
sender changes nothing the second time.
"""

from datetime import datetime, timezone
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, Strict
from sqlalchemy import select

from ..extensions import db
from ..models import Organization, OutboxMessage, utcnow
from ..models.email import SENT_STATUSES
from ..validation import DateTime, RowId, StrictModel, ValidationFailed, one_of_kinds, parse, text
from .recording import FINAL_STATUSES, record_lead_event, settled_status
from .suppression import suppress_address
from .webhook_secret import signed_with

MAX_EVENTS = 1000
EVENT_KINDS = ("delivered", "bounced", "complained", "deferred")
BOUNCE_TYPES = ("hard", "soft")
_ALTERNATIVES = [
    {
        "title": "BounceEvent",
        "properties": {"event": {"type": "string", "const": "bounced"}, "bounce_type": {"type": "string", "enum": list(BOUNCE_TYPES)}},
        "required": ["event", "bounce_type"],
    },
    {
        "title": "DeliveryReportEvent",
        "properties": {
            "event": {"type": "string", "enum": [kind for kind in EVENT_KINDS if kind != "bounced"]},
            "bounce_type": {"type": "null"},
        },
        "required": ["event"],
    },
]


class DeliveryEvent(StrictModel):
    """What became of one message; ``bounce_type`` goes with a bounce and only with one."""

    model_config = ConfigDict(json_schema_extra=one_of_kinds(_ALTERNATIVES))

    message_id: Annotated[RowId, Strict()] = Field(description="The outbox message's id (`X-Leadflow-Message-Id`)")
    event: Literal[EVENT_KINDS]
    bounce_type: Literal[BOUNCE_TYPES] | None = None
    timestamp: DateTime = Field(default=None, description="When it happened (ISO 8601; naive times are UTC); default: now")
    detail: text(1000) = Field(default=None, description="The provider's words, e.g. the remote server's reply")


class DeliveryEvents(StrictModel):
    """The events, in the order they happened. A bare list of events is taken as this object's ``events``
    (errors name ``events[i].<field>`` either way); the document shows the object, which every client
    generator types."""

    events: Annotated[list[DeliveryEvent], Field(min_length=1, max_length=MAX_EVENTS)]


def parse_events(data) -> list[DeliveryEvent]:
    """The events of a request body (a list, or ``{"events": [...]}``); ValidationFailed naming
    each bad field."""
    if not isinstance(data, (list, dict)):
        raise ValidationFailed([{"field": "body", "message": 'must be a list of events, or an object with them as "events"'}])
    body = parse(DeliveryEvents, {"events": data} if isinstance(data, list) else data)
    errors = []
    for index, event in enumerate(body.events):
        if event.event == "bounced" and event.bounce_type is None:
            errors.append({"field": f"events[{index}].bounce_type", "message": "is required for a bounce (hard or soft)"})
        if event.event != "bounced" and event.bounce_type is not None:
            errors.append({"field": f"events[{index}].bounce_type", "message": "goes only with a bounce"})
    if errors:
        raise ValidationFailed(errors)
    return body.events


def signing_organization(events: list[DeliveryEvent], body: bytes, signature: str) -> int | None:
    """The organization owning some of the named messages whose secret signed ``body``, or None."""
    owners = select(OutboxMessage.organization_id).where(OutboxMessage.id.in_({event.message_id for event in events}))
    candidates = db.session.execute(select(Organization.id, Organization.webhook_secret).where(Organization.id.in_(owners)))
    for organization_id, secret in candidates:
        if signed_with(secret, body, signature):
            return organization_id
    return None


def apply_events(organization_id: int, events: list[DeliveryEvent]) -> dict:
    """Apply the events to the organization's messages, in order (the caller commits); returns
    ``{"accepted", "unknown"}``: how many named one of its messages, how many did not."""
    ids = {event.message_id for event in events}
    messages = {
        message.id: message
        for message in db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.organization_id == organization_id, OutboxMessage.id.in_(ids))
            .order_by(OutboxMessage.id)
            .with_for_update()
        )
    }
    for event in events:
        if event.message_id in messages:
            _apply(messages[event.message_id], event)
    accepted = sum(1 for event in events if event.message_id in messages)
    return {"accepted": accepted, "unknown": len(events) - accepted}


def _apply(message: OutboxMessage, event: DeliveryEvent) -> None:
    when = _utc(event.timestamp) if event.timestamp else utcnow()
    facts = {"occurred_at": when.isoformat(), **({"detail": event.detail} if event.detail else {})}
    left = message.status in SENT_STATUSES  # a message not sent (yet) keeps its status
    if event.event == "deferred":
        if message.status == "sent":
            message.status = "deferred"
    elif event.event == "delivered":
        if message.delivered_at is None:
            message.delivered_at = when
            message.status = settled_status(message)
            record_lead_event(message, "email_delivered", **facts)
    elif message.status != event.event:  # bounced or complained, reported for the first time
        if left and (message.status not in FINAL_STATUSES or event.event == "complained"):
            message.status = event.event
            message.status_reason = _reason(event)
        extra = {"bounce_type": event.bounce_type} if event.bounce_type else {}
        record_lead_event(message, f"email_{event.event}", **extra, **facts)
    if event.event == "complained" or event.bounce_type == "hard":
        reason = "complained" if event.event == "complained" else "bounced"
        suppress_address(message.organization_id, message.to_address, reason, message.id)


def _reason(event: DeliveryEvent) -> str:
    what = f"{event.bounce_type} bounce" if event.event == "bounced" else "spam complaint"
    return f"{what}: {event.detail}"[:500] if event.detail else what


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
