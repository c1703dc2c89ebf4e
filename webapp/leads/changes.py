"""What happens after leads change, in the same transaction: the hooks of ``features.Wiring``.

``lead_change_hooks`` re-check changed leads (dynamic segments) and may return further events
(``segment_entered``); ``event_hooks`` see every event of the change (automation triggers).
Hooks run before the caller commits, so their rows are part of the same unit of work. Inside
``changes_collected()`` (a batch of automation runs) the changes are collected and their hooks run
once, for all of them, when it ends.
"""

import contextlib
import contextvars
from datetime import datetime
from typing import NamedTuple

from ..extensions import db
from ..features import wiring
from ..models import LeadEvent, utcnow

# {organization_id: (lead ids, events)} of the changes made inside changes_collected()
_collected: contextvars.ContextVar[dict | None] = contextvars.ContextVar("collected_lead_changes", default=None)


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
    collected = _collected.get()
    if collected is not None:
        ids, all_events = collected.setdefault(organization_id, (set(), []))
        ids.update(lead_ids)
        all_events.extend(events)
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


@contextlib.contextmanager
def changes_collected():
    """Inside, ``after_lead_changes`` only collects; on leaving without an error, the hooks run once
    per organization for all the changes (one segment re-check, one trigger lookup, not one per change)."""
    collected = {}
    token = _collected.set(collected)
    try:
        yield
    finally:
        _collected.reset(token)
    for organization_id, (lead_ids, events) in collected.items():
        after_lead_changes(organization_id, sorted(lead_ids), events)
