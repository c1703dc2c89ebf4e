"""Helpers for segment tests: the seed's segment, segments through the API, events read back."""

from sqlalchemy import select

from webapp.api.examples import SEED_SEGMENT
from webapp.extensions import db
from webapp.models import LeadEvent, LeadSegment

SEED_RULES = SEED_SEGMENT["rules"]  # the seed's segment, as the API document shows it


def create_segment(api, **fields) -> dict:
    body = {**SEED_SEGMENT, **fields}
    response = api.post("/api/v1/segments", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def active_member_ids(segment_id: int) -> set[int]:
    db.session.expire_all()
    return set(db.session.scalars(select(LeadSegment.lead_id).where(LeadSegment.segment_id == segment_id, LeadSegment.is_active.is_(True))))


def segment_events(segment_id: int | None = None) -> list[tuple[str, int]]:
    """``(event_type, lead_id)`` of the segment events recorded so far, oldest first."""
    db.session.expire_all()
    events = db.session.scalars(
        select(LeadEvent).where(LeadEvent.event_type.in_(("segment_entered", "segment_exited"))).order_by(LeadEvent.id)
    ).all()
    return [(e.event_type, e.lead_id) for e in events if segment_id is None or e.data.get("segment_id") == segment_id]
