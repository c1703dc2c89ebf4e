"""What happens after leads change, in the same transaction: the hooks of ``features.Wiring``.

``lead_change_hooks`` re-check changed leads (dynamic segments) and may return further events
(``segment_entered``); ``event_hooks`` see every event of the change (automation triggers).
Hooks run before the caller commits, so their rows are part of the same unit of work.
"""

from datetime import datetime
from typing import NamedTuple

from ..extensions import db
from ..features import wiring
from ..models import LeadEvent, utcnow


class EventRow(NamedTuple):
    """A lead event written in bulk, as hooks read it: the columns of ``LeadEvent`` without an ORM object.

    Hooks receive ``LeadEvent`` objects or these; they read the attributes below and nothing else.
    """

    id: int
    organization_id: int
    lead_id: int
    event_type: str
    data: dict
    actor_id: int | None
    created_at: datetime


def new_event(organization_id: int, lead_id: int, event_type: str, data: dict | None = None, actor_id: int | None = None) -> LeadEvent:
    """A lead event added to the session (the caller's transaction records it)."""
    event = LeadEvent(
        organization_id=organization_id, lead_id=lead_id, event_type=event_type, data=data or {}, actor_id=actor_id, created_at=utcnow()
    )
    db.session.add(event)
    return event


def after_lead_changes(organization_id: int, lead_ids: list[int], events: list[LeadEvent | EventRow]) -> None:
    """Run the hooks for a change of these leads; call once per change, before committing."""
    if not lead_ids and not events:
        return
    db.session.flush()
    events = list(events)
    hooks = wiring()
    for hook in hooks.lead_change_hooks:
        events.extend(hook(organization_id, lead_ids) or [])
    if events:
        db.session.flush()
        for hook in hooks.event_hooks:
            hook(organization_id, events)
