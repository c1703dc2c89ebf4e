"""Demo segments for ``flask demo seed``: the seed's High-Value Auto Leads among them."""

from sqlalchemy import select

from ..extensions import db
from ..models import Lead, LeadTag, Segment
from .services import add_leads, create_segment

DEMO_SEGMENTS = [
    {
        "name": "High-Value Auto Leads",
        "slug": "high-value-auto-leads",
        "description": "Leads interested in auto insurance with high estimated value",
        "rules": [
            {"field": "insurance_type", "operator": "equals", "value": "auto"},
            {"field": "value_estimate", "operator": "greater_than", "value": "1000"},
            {"field": "status", "operator": "equals", "value": "new"},
        ],
    },
    {
        "name": "New leads older than 24 hours",
        "slug": "new-leads-older-than-24-hours",
        "description": "Still new a day after they arrived: nobody has called yet",
        "rules": [
            {"field": "status", "operator": "equals", "value": "new"},
            {"field": "created_at", "operator": "less_than", "value": "24 hours ago"},
        ],
    },
    {
        "name": "VIP leads",
        "slug": "vip-leads",
        "description": "Tagged vip",
        "rules": [{"field": "tags", "operator": "contains", "value": "vip"}],
    },
    {
        "name": "Sun Belt homeowners",
        "slug": "sun-belt-homeowners",
        "description": "Home and renters leads in the south",
        "rules": [
            {"field": "state", "operator": "in", "value": ["TX", "FL", "AZ", "GA"]},
            {"field": "insurance_type", "operator": "in", "value": ["home", "renters"]},
        ],
    },
    {
        "name": "Hot prospects",
        "slug": "hot-prospects",
        "description": "Any sign that a lead is worth a call today",
        "match_all_rules": False,
        "rules": [
            {"field": "priority", "operator": "equals", "value": "urgent"},
            {"field": "value_estimate", "operator": "greater_than", "value": "5000"},
            {"field": "tags", "operator": "contains", "value": "referral-bonus"},
            {"field": "status", "operator": "equals", "value": "quoted"},
        ],
    },
]


def seed_demo_segments(org, people, rng) -> None:
    """Demo segments (the seed's High-Value Auto Leads among them), filled, and a static one by hand."""
    admin = people.get("Mia Marketer") or next(iter(people.values()), None)
    actor_id = admin.id if admin else None
    for spec in DEMO_SEGMENTS:
        if db.session.scalar(select(Segment.id).where(Segment.organization_id == org.id, Segment.slug == spec["slug"])):
            continue
        create_segment(org.id, {"is_dynamic": True, "is_active": True, **spec}, actor_id)
    if not db.session.scalar(select(Segment.id).where(Segment.organization_id == org.id, Segment.slug == "webinar-follow-ups")):
        segment, _ = create_segment(
            org.id,
            {
                "name": "Webinar follow-ups",
                "slug": "webinar-follow-ups",
                "description": "Picked by hand after the spring webinar",
                "is_dynamic": False,
            },
            actor_id,
        )
        picked = db.session.scalars(
            select(Lead.id)
            .join(LeadTag, LeadTag.lead_id == Lead.id)
            .where(Lead.organization_id == org.id, LeadTag.tag == "webinar")
            .order_by(Lead.id)
            .limit(12)
        ).all()
        if picked:
            add_leads(segment, picked, actor_id)
