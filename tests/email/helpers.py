"""Factories for email tests."""

from webapp.email_templates.services import save_template, validate_template_fields
from webapp.extensions import db
from webapp.models import EmailTemplate

WELCOME = {  # the seed's template example
    "name": "Welcome Email",
    "slug": "welcome-email",
    "subject": "Welcome to {{company_name}} Insurance",
    "body_html": "<html><body><h1>Welcome {{first_name}}!</h1><p>Thank you for your interest in our insurance services.</p></body></html>",
    "body_text": "Welcome {{first_name}}!\n\nThank you for your interest in our insurance services.",
    "template_type": "marketing",
    "is_active": True,
}


def make_template(org, **fields) -> EmailTemplate:
    values = {**WELCOME, **fields}
    if "slug" not in fields and "name" in fields:
        values.pop("slug")
    template = EmailTemplate(organization_id=org.id)
    save_template(template, validate_template_fields(values, partial=False))
    db.session.commit()
    return template
