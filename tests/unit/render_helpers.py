"""The lead, agent and day the renderer's unit tests render with."""

from datetime import date, datetime, timezone
from decimal import Decimal

from webapp.email_templates.rendering import build_context

TODAY = date(2024, 5, 1)
LEAD = {
    "first_name": "Ann",
    "last_name": "Lee",
    "email": "ann@example.com",
    "phone": "+1 555 0100",
    "status": "qualified",
    "priority": "high",
    "source": "referral",
    "insurance_type": "home",
    "state": "TX",
    "city": "Austin",
    "value_estimate": Decimal("1200.50"),
    "tags": ["vip", "homeowner"],
    "created_at": datetime(2024, 4, 2, 9, 30, tzinfo=timezone.utc),
}
AGENT = {"name": "Bob Agent", "email": "bob@acme.example"}


def context(**lead_changes) -> dict:
    return build_context({**LEAD, **lead_changes}, "Acme Insurance", AGENT, "https://acme.example/u/abc", TODAY)
