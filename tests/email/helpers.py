"""Factories for email tests."""

from sqlalchemy import select

from webapp.api.examples import SEED_TEMPLATE
from webapp.email_templates.delivery import queue_email
from webapp.email_templates.services import save_template, validate_template_fields
from webapp.extensions import db
from webapp.models import EmailTemplate, LeadEvent, OutboxMessage

WELCOME = SEED_TEMPLATE  # the seed's template example, as the API document shows it


def make_template(org, **fields) -> EmailTemplate:
    values = {**WELCOME, **fields}
    if "slug" not in fields and "name" in fields:
        values.pop("slug")
    template = EmailTemplate(organization_id=org.id)
    save_template(template, validate_template_fields(values, partial=False))
    db.session.commit()
    return template


def send_now(lead, template: EmailTemplate, run_jobs, key: str = "run-step:1") -> OutboxMessage:
    """Queue the email as an automation step does, and send it through the test's SMTP server."""
    result = queue_email(organization_id=lead.organization_id, template_id=template.id, lead_id=lead.id, idempotency_key=key)
    db.session.commit()
    run_jobs()
    message = reloaded(db.session.get(OutboxMessage, result["message_id"]))
    assert message.status == "sent", message.last_error
    return message


def reloaded(message: OutboxMessage) -> OutboxMessage:
    db.session.expire_all()
    return db.session.get(OutboxMessage, message.id)


def lead_events(event_type: str) -> list[LeadEvent]:
    db.session.expire_all()
    return db.session.scalars(select(LeadEvent).where(LeadEvent.event_type == event_type).order_by(LeadEvent.id)).all()
