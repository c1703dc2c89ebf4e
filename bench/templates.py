"""Email template rendering throughput against raw Jinja2, and preview endpoint latency, same machine, same run.

    .venv/bin/python bench/templates.py [--leads 10000] [--requests 200]

Renders a realistic marketing template (header, paragraphs, a loop over tags, conditionals, a
<style> block to inline, a footer with the unsubscribe link) for every lead, with:

- the baseline: a plain ``jinja2.Environment`` (autoescape), compiled once, rendering the HTML only;
- ``render_email`` as in production (cached by ``(template_id, version)``): subject, HTML with CSS
  inlined, script URLs neutralised, and the text part derived from the HTML (body_text empty) by
  the text template derived once from the HTML template;
- the same with the rendered HTML converted to text at every render instead;
- ``render_email`` with a body_text template (so no HTML-to-text derivation);
- the same with the CSS inlined into every rendered email instead of once into the source;
- ``render_email`` with an empty subject and a one-character text: the sandboxed HTML part alone,
  the closest to what the baseline does.

Prints emails per second (the best of three passes over all leads, after a warm-up render) and
the ratio to the baseline for each.

Then the latency of the preview endpoints, through the Flask test client (the whole stack: auth,
tenancy, the database, rendering, the response) on a PostgreSQL database of its own
(``leadflow_bench_<random>``, dropped afterwards; ``TEST_POSTGRES_ADMIN_URL`` as for the tests):

- the baseline: ``GET /api/v1/automations/email-templates/<id>`` (auth, one row, JSON);
- ``POST /api/v1/automations/email-templates/<id>/preview`` with a ``lead_id``;
- ``POST /email-templates/<id>/preview``: the editor's live preview (HTMX fragment) of unsaved content;
- ``POST /email-templates/<id>/frame``: the sandboxed iframe document of unsaved content.

Each is requested ``--requests`` times (after 20 warm-up requests), round-robin so that a busy
machine slows them all alike; prints the median and p95 in milliseconds and the ratio of medians.
"""

import argparse
import os
import secrets
import statistics
import sys
import time
from contextlib import contextmanager
from datetime import date, datetime, timezone
from decimal import Decimal

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import jinja2  # noqa: E402

from webapp.email_templates.rendering import build_context, css, render_email, text  # noqa: E402

SUBJECT = "{{ first_name | default('Hi') }}, your {{ insurance_type }} quote from {{ company_name }}"

BODY_HTML = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>Your {{ insurance_type }} quote from {{ company_name }}</title>
<style>
  body { margin: 0; padding: 0; background: #f4f5f7; font-family: Arial, Helvetica, sans-serif; }
  .wrapper { width: 100%; background: #f4f5f7; padding: 24px 0; }
  .container { max-width: 600px; margin: 0 auto; background: #ffffff; border-radius: 6px; }
  .header { background: #1d4ed8; color: #ffffff; padding: 24px; font-size: 22px; font-weight: bold; }
  .content { padding: 24px; color: #1f2937; font-size: 16px; line-height: 1.5; }
  .content p { margin: 0 0 16px 0; }
  .tags li { color: #374151; margin-bottom: 4px; }
  .cta { display: inline-block; background: #16a34a; color: #ffffff; padding: 12px 20px;
         text-decoration: none; border-radius: 4px; }
  .footer { padding: 16px 24px; color: #6b7280; font-size: 12px; text-align: center; }
  .footer a { color: #6b7280; }
  @media (max-width: 620px) { .container { width: 100% !important; } }
</style>
</head>
<body>
<table class="wrapper" role="presentation" cellpadding="0" cellspacing="0">
<tr><td>
<table class="container" role="presentation" cellpadding="0" cellspacing="0">
  <tr><td class="header">{{ company_name }}</td></tr>
  <tr><td class="content">
    <p>Hi {{ first_name | default("there") }},</p>
    <p>Thanks for asking about {{ insurance_type }} insurance{% if city %} in {{ city }}{% endif %}.
    We compared offers from a dozen carriers and put together a quote that fits what you told us.</p>
    {% if value_estimate %}
    <p>Your estimated yearly premium is <strong>${{ value_estimate }}</strong>, and most customers
    in your situation save a little more by bundling home and auto.</p>
    {% else %}
    <p>Reply to this email with a few details and we will send you a personalised estimate today.</p>
    {% endif %}
    {% if tags %}
    <p>Based on what you told us:</p>
    <ul class="tags">
      {% for tag in tags %}<li>{{ tag | title }}</li>
      {% endfor %}
    </ul>
    {% endif %}
    <p><a class="cta" href="https://example.com/quote?email={{ email | urlencode }}">See my quote</a></p>
    <p>{{ agent_name | default("Your agent") }}{% if agent_email %} &middot;
    <a href="mailto:{{ agent_email }}">{{ agent_email }}</a>{% endif %}</p>
  </td></tr>
  <tr><td class="footer">
    You receive this email because you asked {{ company_name }} for a quote on {{ today }}.<br>
    <a href="{{ unsubscribe_url }}">Unsubscribe</a>
  </td></tr>
</table>
</td></tr>
</table>
</body>
</html>
"""

BODY_TEXT = """Hi {{ first_name | default("there") }},

Thanks for asking about {{ insurance_type }} insurance{% if city %} in {{ city }}{% endif %}.
{% if value_estimate %}Your estimated yearly premium is ${{ value_estimate }}.{% endif %}
{% for tag in tags %}- {{ tag | title }}
{% endfor %}
See my quote: https://example.com/quote?email={{ email | urlencode }}

Unsubscribe: {{ unsubscribe_url }}
"""

FIRST_NAMES = ("Ann", "Bob", "Carla", "Dev", "Elif", None, "Femi", "Grace", "Hugo", "Ines")
CITIES = ("Austin", "Denver", None, "Tampa", "Boise", "Salem", "Reno")
TAGS = ("multi-car", "homeowner", "vip", "renewal", "referral", "young-driver")
TYPES = ("auto", "home", "life", "health", "renters")


def lead_contexts(count: int) -> list[dict]:
    contexts = []
    for number in range(count):
        lead = {
            "first_name": FIRST_NAMES[number % len(FIRST_NAMES)],
            "last_name": f"Lead{number}",
            "email": f"lead{number}@example.com",
            "phone": None,
            "status": "new",
            "priority": "medium",
            "source": "website",
            "insurance_type": TYPES[number % len(TYPES)],
            "state": "TX",
            "city": CITIES[number % len(CITIES)],
            "value_estimate": Decimal(500 + number % 2000) if number % 3 else None,
            "tags": list(TAGS[: number % (len(TAGS) + 1)]),
            "created_at": datetime(2024, 1, 1, tzinfo=timezone.utc),
        }
        agent = {"name": "Alex Morgan", "email": "alex@example.com"} if number % 2 else None
        contexts.append(build_context(lead, "Acme Insurance", agent, f"https://example.com/u/{number}", date(2024, 5, 1)))
    return contexts


def rates(cases: dict, contexts: list[dict], passes: int = 3) -> dict:
    """Emails per second of each case over all ``contexts``: the best of ``passes``. Passes go round
    the cases in turn, so that a busy machine slows them all alike."""
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(passes):
        for label, render_one in cases.items():
            started = time.perf_counter()
            for context in contexts:
                render_one(context)
            best[label] = min(best[label], time.perf_counter() - started)
    return {label: len(contexts) / seconds for label, seconds in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200, help="requests per preview endpoint (0: skip)")
    arguments = parser.parse_args()
    render_throughput(lead_contexts(arguments.leads))
    if arguments.requests:
        preview_latency(arguments.requests)


def render_throughput(contexts: list[dict]) -> None:
    raw_template = jinja2.Environment(autoescape=True).from_string(BODY_HTML)
    cases = {
        "raw Jinja2, HTML only (baseline)": raw_template.render,
        "render_email, text derived from HTML": lambda c: render_email(SUBJECT, BODY_HTML, "", c, cache_key=(1, 1)),
        "  same, HTML converted at every render": lambda c: render_email(SUBJECT, BODY_HTML, "", c, cache_key=(1, 3)),
        "render_email, with a body_text template": lambda c: render_email(SUBJECT, BODY_HTML, BODY_TEXT, c, cache_key=(1, 1)),
        "  same, CSS inlined at every render": lambda c: render_email(SUBJECT, BODY_HTML, BODY_TEXT, c, cache_key=(1, 2)),
        "render_email, HTML part alone": lambda c: render_email("", BODY_HTML, "-", c, cache_key=(1, 1)),
    }
    # Versions 2 and 3 compile as if the CSS could not be inlined once, and the text template could
    # not be derived from the HTML once, respectively.
    with _patched(css, "inline_css_into_source", lambda source: None):
        cases["  same, CSS inlined at every render"](contexts[0])
    with _patched(text, "text_template_source", lambda source: None):
        cases["  same, HTML converted at every render"](contexts[0])
    for render_one in cases.values():  # warm up: compile and cache every template
        render_one(contexts[0])

    results = rates(cases, contexts)
    baseline = results["raw Jinja2, HTML only (baseline)"]
    print(f"{len(contexts):,} leads, one template")
    for label, emails_per_second in results.items():
        print(f"{label:<44} {emails_per_second:>9,.0f} emails/s   ratio {emails_per_second / baseline:.2f}")


@contextmanager
def _patched(module, name: str, replacement):
    original = getattr(module, name)
    setattr(module, name, replacement)
    try:
        yield
    finally:
        setattr(module, name, original)


# --- preview endpoint latency ---------------------------------------------------------------------

PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
WARM_UP = 20


def preview_latency(requests: int) -> None:
    import psycopg

    name = f"leadflow_bench_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
        os.environ.update(
            DATABASE_URL=f"{base}/{name}", SECRET_KEY=os.environ.get("SECRET_KEY", "bench-secret-key"), LEADFLOW_BACKGROUND_SCHEDULER="0"
        )
        os.environ.pop("REDIS_URL", None)
        os.environ.pop("MAIL_SERVER", None)
        _measure_endpoints(requests)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _measure_endpoints(requests: int) -> None:
    from webapp import create_app
    from webapp.api.auth import issue_token
    from webapp.email_templates.services import save_template
    from webapp.extensions import db
    from webapp.models import EmailTemplate, Lead, LeadTag, Organization, User

    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False})
    with app.app_context():
        db.create_all()
        org = Organization(name="Acme Insurance", slug="acme")
        db.session.add(org)
        db.session.flush()
        user = User(organization_id=org.id, email="mia@acme.example.com", name="Mia Marketer", role="marketer")
        user.set_password("bench-pass-123")
        lead = Lead(
            organization_id=org.id,
            first_name="Maria",
            last_name="Lopez",
            email="maria@example.com",
            city="Austin",
            state="TX",
            insurance_type="home",
            value_estimate=Decimal("1850"),
            tag_rows=[LeadTag(tag="homeowner"), LeadTag(tag="vip")],
        )
        db.session.add_all([user, lead])
        db.session.flush()
        lead.assigned_to_id = user.id
        template = EmailTemplate(organization_id=org.id)
        save_template(
            template,
            {
                "name": "Quote",
                "slug": "quote",
                "subject": SUBJECT,
                "body_html": BODY_HTML,
                "body_text": "",
                "template_type": "marketing",
                "is_active": True,
            },
            user.id,
        )
        db.session.commit()
        template_id, lead_id = template.id, lead.id
        with app.test_request_context():
            token = issue_token(user)[0]

    api = app.test_client()
    bearer = {"Authorization": f"Bearer {token}"}
    browser = app.test_client()
    browser.post("/login", data={"email": "mia@acme.example.com", "password": "bench-pass-123"})
    # what the editor posts on a keystroke: the unsaved subject and bodies, and the chosen lead
    unsaved = {
        "name": "Quote",
        "template_type": "marketing",
        "subject": SUBJECT + " today",
        "body_html": BODY_HTML.replace("Thanks for asking", "Thank you for asking"),
        "body_text": "",
        "lead_id": str(lead_id),
    }
    url = f"/api/v1/automations/email-templates/{template_id}"
    cases = {
        "GET template, JSON (baseline)": lambda: api.get(url, headers=bearer),
        "POST API preview, lead_id": lambda: api.post(f"{url}/preview", json={"lead_id": lead_id}, headers=bearer),
        "POST editor live preview (HTMX)": lambda: browser.post(
            f"/email-templates/{template_id}/preview", data=unsaved, headers={"HX-Request": "true"}
        ),
        "POST editor preview iframe document": lambda: browser.post(f"/email-templates/{template_id}/frame", data=unsaved),
    }
    timings = {label: [] for label in cases}
    for round_number in range(WARM_UP + requests):
        for label, request in cases.items():
            started = time.perf_counter()
            response = request()
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise SystemExit(f"{label}: HTTP {response.status_code}: {response.get_data(as_text=True)[:300]}")
            if round_number >= WARM_UP:
                timings[label].append(elapsed * 1000)
    baseline = statistics.median(timings["GET template, JSON (baseline)"])
    print(f"\npreview endpoints, {requests} requests each (Flask test client, PostgreSQL)")
    for label, values in timings.items():
        median = statistics.median(values)
        p95 = statistics.quantiles(values, n=20)[18]
        print(f"{label:<44} median {median:6.2f} ms   p95 {p95:6.2f} ms   ratio {median / baseline:.2f}")


if __name__ == "__main__":
    main()
