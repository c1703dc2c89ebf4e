"""The variables a template is rendered with (SPEC §6): one lead's, or plausible samples for a preview."""

from datetime import date, datetime, timezone
from decimal import Decimal

from jinja2.exceptions import SecurityError

from ...models.leads import LEAD_INPUT_FIELDS
from .errors import TemplateRenderError
from .values import SCALAR_TYPES, checked_size

LEAD_FIELDS = (*LEAD_INPUT_FIELDS, "created_at")


def build_context(lead: dict, organization_name: str, agent: dict | None, unsubscribe_url: str, today: date) -> dict:
    """The variables of SPEC §6 for one lead: its fields, full_name, company_name, agent_name,
    agent_email, unsubscribe_url and today. ``agent`` is the assigned user as ``{name, email}``."""
    context = {name: lead.get(name) for name in LEAD_FIELDS}
    context["tags"] = list(lead.get("tags") or [])
    context["full_name"] = " ".join(p for p in (lead.get("first_name"), lead.get("last_name")) if p)
    context["company_name"] = organization_name
    context["agent_name"] = (agent.get("name") or agent.get("email")) if agent else None
    context["agent_email"] = agent.get("email") if agent else None
    context["unsubscribe_url"] = unsubscribe_url
    context["today"] = today
    return context


def sample_context(organization_name: str = "Acme Insurance", today: date | None = None) -> dict:
    """Plausible variables for previewing a template without a lead."""
    lead = {
        "first_name": "Jamie",
        "last_name": "Rivera",
        "email": "jamie.rivera@example.com",
        "phone": "+1 512 555 0142",
        "status": "qualified",
        "priority": "high",
        "source": "website",
        "insurance_type": "auto",
        "state": "TX",
        "city": "Austin",
        "value_estimate": Decimal("1850.00"),
        "tags": ["multi-car", "homeowner"],
        "created_at": datetime(2024, 3, 4, 15, 30, tzinfo=timezone.utc),
    }
    agent = {"name": "Alex Morgan", "email": "alex.morgan@example.com"}
    unsubscribe_url = "https://example.com/unsubscribe/sample"
    return build_context(lead, organization_name, agent, unsubscribe_url, today or date.today())


def check_context(context: dict) -> None:
    """Raise TypeError unless every variable is plain data of bounded size."""
    for name, value in context.items():
        try:
            if type(value) not in SCALAR_TYPES:
                checked_size(value)
        except (SecurityError, TemplateRenderError) as error:
            raise TypeError(f"context variable {name!r} is not plain data: {error}") from None
