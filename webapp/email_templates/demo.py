"""Demo templates for ``flask demo seed``: the seed's "Welcome Email" and a few a broker would write."""

from sqlalchemy import select

from ..extensions import db
from ..models import EmailTemplate, Organization
from .services import save_template

FOOTER = (
    '<p style="font-size:12px;color:#6b7280">{{ company_name }} · You receive this because you asked us '
    'for a quote. <a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
)
DEMO_TEMPLATES = (
    {
        "name": "Welcome Email",
        "slug": "welcome-email",
        "template_type": "marketing",
        "subject": "Welcome to {{ company_name }}",  # the company name says "Insurance" already
        "body_html": "<html><body><h1>Welcome {{first_name}}!</h1><p>Thank you for your interest in our insurance "
        "services.</p>" + FOOTER + "</body></html>",
        "body_text": "Welcome {{first_name}}!\n\nThank you for your interest in our insurance services.\n\n"
        "Unsubscribe: {{ unsubscribe_url }}",
    },
    {
        "name": "Quote follow-up",
        "slug": "quote-follow-up",
        "template_type": "marketing",
        "subject": "{{ first_name | default('Hi') }}, your {{ insurance_type }} quote is ready",
        "body_html": """<html><head><style>
  .card { max-width: 560px; margin: 0 auto; padding: 24px; font-family: Arial, sans-serif; color: #1f2937; }
  .cta { display: inline-block; background: #4f46e5; color: #ffffff; padding: 10px 18px; border-radius: 6px;
         text-decoration: none; }
</style></head><body><div class="card">
  <h2>Hi {{ first_name | default("there") }},</h2>
  <p>We compared carriers for your {{ insurance_type }} insurance{% if city %} in {{ city }}{% endif %}.
  {% if value_estimate %}Your estimated yearly premium is <strong>${{ value_estimate }}</strong>.{% endif %}</p>
  <p><a class="cta" href="https://example.com/quotes">See my quote</a></p>
  <p>{{ agent_name | default("Your agent") }}{% if agent_email %} · {{ agent_email }}{% endif %}</p>
  """
        + FOOTER
        + """
</div></body></html>""",
        "body_text": "",
    },
    {
        "name": "Policy renewal reminder",
        "slug": "policy-renewal-reminder",
        "template_type": "marketing",
        "subject": "Your {{ insurance_type }} policy renews soon",
        "body_html": "<html><body><p>Hi {{ first_name | default('there') }},</p><p>Your policy renews soon. Reply to "
        "this email and {{ agent_name | default('your agent') }} will review your coverage with you.</p>" + FOOTER + "</body></html>",
        "body_text": "",
    },
    {
        "name": "Documents received",
        "slug": "documents-received",
        "template_type": "transactional",
        "subject": "We received your documents",
        "body_html": "<html><body><p>Hi {{ full_name | default('there') }},</p><p>We received your documents on "
        "{{ today.strftime('%B %d, %Y') }}. We will be in touch within two business days.</p>"
        "<p>{{ company_name }}</p></body></html>",
        "body_text": "",
    },
    {
        "name": "New lead assigned",
        "slug": "new-lead-assigned",
        "template_type": "notification",
        "subject": "New {{ priority }} lead: {{ full_name }}",
        "body_html": "",
        "body_text": "{{ full_name }} ({{ email | default('no email') }}, {{ phone | default('no phone') }}) wants "
        "{{ insurance_type }} insurance in {{ city }}, {{ state }}. Estimated value: "
        "${{ value_estimate | default('?') }}.",
    },
)


def seed_demo_templates(org: Organization, people: dict, rng) -> None:
    """Create the demo templates the organization does not have yet (by slug)."""
    author = people.get("Mia Marketer")
    existing = set(db.session.scalars(select(EmailTemplate.slug).where(EmailTemplate.organization_id == org.id)))
    for values in DEMO_TEMPLATES:
        if values["slug"] not in existing:
            save_template(EmailTemplate(organization_id=org.id, is_active=True), dict(values), author.id if author else None)
