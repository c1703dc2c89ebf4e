"""A message's timeline on its outbox page (SPEC §16): queued, sent, then every delivery report, open
and click the lead's timeline holds for it, suspected bots marked, and the unsubscribe credited to it."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from ..extensions import db
from ..models import LeadEvent, OutboxMessage

MESSAGE_EVENTS = ("email_sent", "email_delivered", "email_opened", "email_clicked", "email_bounced", "email_complained")
LABELS = {
    "email_sent": "Sent",
    "email_delivered": "Delivered",
    "email_opened": "Opened",
    "email_clicked": "Clicked",
    "email_bounced": "Bounced",
    "email_complained": "Marked as spam",
}
MAX_EVENTS = 200


@dataclass(frozen=True)
class Moment:
    at: datetime
    label: str
    detail: str = ""
    suspected_bot: bool = False


def message_timeline(message: OutboxMessage) -> list[Moment]:
    """What happened to the message, oldest first."""
    moments = [Moment(message.created_at, "Queued", message.status_reason or "")]
    if message.lead_id is not None:
        events = db.session.scalars(
            select(LeadEvent)
            .where(
                LeadEvent.lead_id == message.lead_id,
                LeadEvent.event_type.in_(MESSAGE_EVENTS),
                LeadEvent.data["message_id"].as_integer() == message.id,
            )
            .order_by(LeadEvent.created_at, LeadEvent.id)
            .limit(MAX_EVENTS)
        )
        moments += [Moment(e.created_at, LABELS[e.event_type], _detail(e.data), bool(e.data.get("suspected_bot"))) for e in events]
    if not any(moment.label == "Sent" for moment in moments) and message.sent_at:
        moments.append(Moment(message.sent_at, "Sent", message.smtp_response or ""))
    if message.unsubscribed_at:
        moments.append(Moment(message.unsubscribed_at, "Unsubscribed", "the lead's last marketing email before it opted out"))
    return sorted(moments, key=lambda moment: moment.at)


def _detail(data: dict) -> str:
    return data.get("url") or data.get("detail") or data.get("bounce_type") or ""
