"""Factories for email tests."""

from webapp.api.examples import SEED_TEMPLATE
from webapp.email_templates.services import save_template, validate_template_fields
from webapp.extensions import db
from webapp.models import EmailTemplate

WELCOME = SEED_TEMPLATE  # the seed's template example, as the API document shows it


def make_template(org, **fields) -> EmailTemplate:
    values = {**WELCOME, **fields}
    if "slug" not in fields and "name" in fields:
        values.pop("slug")
    template = EmailTemplate(organization_id=org.id)
    save_template(template, validate_template_fields(values, partial=False))
    db.session.commit()
    return template
