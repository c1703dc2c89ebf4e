"""The template pages through the test client: list, create, editor, live preview fragments, the
sandboxed preview document and its CSP, versions with diff and restore, the outbox and the lead panel."""

import re

import pytest
from sqlalchemy import select

from tests.conftest import login_browser
from tests.email.helpers import make_template
from tests.factories import make_lead, make_org, make_user
from webapp.email_templates.delivery import queue_email
from webapp.email_templates.rendering.pipeline import render_email
from webapp.extensions import db
from webapp.models import EmailTemplate, OutboxMessage

HX = {"HX-Request": "true", "HX-Target": "main"}


@pytest.fixture
def browser(client, org):
    user = make_user(org, email="mia@acme.example.com", role="marketer", name="Mia Marketer")
    login_browser(client, user.email)
    return client


def form_of(template: EmailTemplate, **changes) -> dict:
    data = {name: getattr(template, name) for name in ("name", "slug", "template_type", "subject", "body_html", "body_text")}
    return {**data, **changes}


def test_the_list_shows_the_organizations_templates_only(browser, org):
    make_template(org, name="Welcome Email")
    make_template(make_org("Other Brokers"), name="Secret Template")

    page = browser.get("/email-templates/").get_data(as_text=True)

    assert "Welcome Email" in page and "Secret Template" not in page
    assert 'href="/email-templates/"' in page and 'href="/outbox/"' in page  # both in the navigation
    fragment = browser.get("/email-templates/?template_type=transactional", headers=HX).get_data(as_text=True)
    assert "<html" not in fragment and "No template of this type." in fragment


def test_create_shows_errors_inline_then_opens_the_editor(browser, org):
    bad = browser.post(
        "/email-templates/new",
        data={"name": "Welcome", "template_type": "marketing", "subject": "Hi {{ first_name }", "body_html": "<p>x</p>"},
    )
    assert bad.status_code == 422
    assert "line 1: unexpected &#39;}&#39;" in bad.get_data(as_text=True)
    assert db.session.scalar(select(EmailTemplate.id)) is None

    good = browser.post(
        "/email-templates/new",
        data={"name": "Welcome", "template_type": "marketing", "subject": "Hi {{ first_name }}", "body_html": "<p>x</p>"},
    )
    template = db.session.scalar(select(EmailTemplate))
    assert good.status_code == 302 and good.headers["Location"].endswith(f"/email-templates/{template.id}")
    assert template.slug == "welcome" and template.version == 1


def test_the_editor_renders_a_preview_for_the_chosen_lead(browser, org):
    template = make_template(org, body_text="Hi {{ first_name }} from {{ city }} {{ nickname }}")
    lead = make_lead(org, first_name="Noor", city="Tampa")

    page = browser.get(f"/email-templates/{template.id}?lead_id={lead.id}").get_data(as_text=True)

    assert f'name="lead_id" id="preview-lead" value="{lead.id}"' in page  # the lead combobox's chosen lead
    assert f'value="Noor Doe (#{lead.id})"' in page
    assert re.search(r'<iframe class="preview-frame"[^>]* sandbox referrerpolicy', page)
    assert "allow-scripts" not in page and "allow-same-origin" not in page
    assert f'src="/email-templates/{template.id}/frame?lead_id={lead.id}"' in page
    assert "Hi Noor from Tampa" in page and "<code>nickname</code>" in page


def test_the_preview_fragment_follows_unsaved_edits(browser, org):
    template = make_template(org)
    lead = make_lead(org, first_name="Noor")

    ok = browser.post(
        f"/email-templates/{template.id}/preview",
        headers=HX,
        data=form_of(template, subject="Hello {{ first_name }}!", body_text="{{ agnt_name }}", lead_id=lead.id),
    )
    body = ok.get_data(as_text=True)
    assert ok.status_code == 200 and "<html" not in body
    assert 'id="preview-subject">Hello Noor!<' in body and "<code>agnt_name</code>" in body and "data-render-ok" in body

    broken = browser.post(
        f"/email-templates/{template.id}/preview", headers=HX, data=form_of(template, body_html="<p>\n{% if first_name %}</p>")
    )
    text = broken.get_data(as_text=True)
    assert "HTML body: line 2:" in text and "data-render-ok" not in text
    assert db.session.get(EmailTemplate, template.id).subject == template.subject  # nothing saved


def test_the_preview_document_has_a_restrictive_csp_and_escapes_lead_data(browser, org):
    template = make_template(org)
    lead = make_lead(org, first_name='<img src=x onerror="alert(1)">')

    response = browser.get(f"/email-templates/{template.id}/frame?lead_id={lead.id}")

    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'; style-src 'unsafe-inline'; img-src data: https:")
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert "<h1>Welcome &lt;img src=x onerror=&#34;alert(1)&#34;&gt;!</h1>" in html

    unsaved = browser.post(f"/email-templates/{template.id}/frame", data=form_of(template, body_html="<p>Draft {{ first_name }}</p>"))
    assert unsaved.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert "<p>Draft Jamie</p>" in unsaved.get_data(as_text=True)  # sample data


def test_saving_bumps_the_version_and_restore_and_diff_work(browser, org):
    template = make_template(org, subject="First subject")
    url = f"/email-templates/{template.id}"

    saved = browser.post(url, headers=HX, data=form_of(template, subject="Second subject"))
    assert saved.status_code == 200 and "Saved as version 2." in saved.get_data(as_text=True)
    assert 'hx-swap-oob="true"' in saved.get_data(as_text=True)  # the heading's version follows
    renamed = browser.post(url, headers=HX, data=form_of(template, subject="Second subject", name="Renamed"))
    assert "Saved." in renamed.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(EmailTemplate, template.id).version == 2

    diff = browser.get(f"{url}/versions/1", headers=HX).get_data(as_text=True)
    assert '<span class="diff-line del">- First subject</span>' in diff
    assert '<span class="diff-line add">+ Second subject</span>' in diff

    restored = browser.post(f"{url}/versions/1/restore", headers=HX)
    assert "Version 1 restored as version 3." in restored.get_data(as_text=True)
    db.session.expire_all()
    current = db.session.get(EmailTemplate, template.id)
    assert (current.version, current.subject) == (3, "First subject")


def test_a_failed_save_keeps_the_edits_and_says_why(browser, org):
    template = make_template(org)
    response = browser.post(
        f"/email-templates/{template.id}", headers=HX, data=form_of(template, subject="Oops {{ first_name }", name="Kept name")
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "line 1: unexpected" in body and 'value="Kept name"' in body


def test_activate_and_deactivate(browser, org):
    template = make_template(org)
    response = browser.post(f"/email-templates/{template.id}/active", data={"is_active": "0"}, headers=HX)
    assert 'id="template-state">inactive' in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(EmailTemplate, template.id).is_active is False


def test_viewers_read_but_do_not_change(client, org):
    template = make_template(org)
    viewer = make_user(org, role="viewer")
    login_browser(client, viewer.email)
    assert client.get(f"/email-templates/{template.id}").status_code == 200
    assert b"Send me a test" not in client.get(f"/email-templates/{template.id}").data
    assert client.post(f"/email-templates/{template.id}", data=form_of(template, subject="x")).status_code == 403
    assert client.post(f"/email-templates/{template.id}/test", data=form_of(template)).status_code == 403
    assert client.get("/email-templates/new").status_code == 403


def test_the_outbox_the_message_page_and_the_lead_panel(browser, org, app):
    template = make_template(org, name="Quote ready")
    lead = make_lead(org, first_name="Noor", email="noor@example.com")
    app.config["MAIL_SERVER"] = None
    queue_email(organization_id=org.id, template_id=template.id, lead_id=lead.id, idempotency_key="k1")
    opted_out = make_lead(org, email="out@example.com", email_opt_out=True)
    queue_email(organization_id=org.id, template_id=template.id, lead_id=opted_out.id, idempotency_key="k2")
    db.session.commit()
    held, suppressed = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()

    page = browser.get("/outbox/").get_data(as_text=True)
    assert "noor@example.com" in page and "out@example.com" in page and 'id="no-mail-server"' in page
    only = browser.get("/outbox/?status=suppressed", headers=HX).get_data(as_text=True)
    assert "out@example.com" in only and "noor@example.com" not in only
    assert "the lead opted out of marketing email" in only

    detail = browser.get(f"/outbox/{held.id}").get_data(as_text=True)
    assert "held" in detail and "Quote ready" in detail and f'src="/outbox/{held.id}/frame"' in detail
    frame = browser.get(f"/outbox/{held.id}/frame")
    assert frame.headers["Content-Security-Policy"].startswith("default-src 'none'") and b"Welcome Noor" in frame.data

    lead_page = browser.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert 'id="lead-emails"' in lead_page and f'href="/outbox/{held.id}"' in lead_page


def test_demo_seed_creates_the_seeds_welcome_email_once(app, org, admin):
    from webapp.email_templates.demo import seed_demo_templates
    from webapp.features import wiring

    assert seed_demo_templates in wiring(app).demo_seeders  # `flask demo seed` calls it after creating the leads
    seed_demo_templates(org, {"Mia Marketer": admin}, None)
    seed_demo_templates(org, {"Mia Marketer": admin}, None)
    db.session.commit()

    names = db.session.scalars(select(EmailTemplate.name)).all()
    assert {"Welcome Email", "Quote follow-up", "Documents received", "New lead assigned"} <= set(names)
    assert len(names) == len(set(names))
    welcome = db.session.scalar(select(EmailTemplate).where(EmailTemplate.slug == "welcome-email"))
    assert welcome.subject == "Welcome to {{ company_name }}" and welcome.version == 1


def test_the_demo_welcome_email_names_the_company_once(app, org, admin):
    from webapp.email_templates.demo import seed_demo_templates
    from webapp.email_templates.services import preview_context

    seed_demo_templates(org, {"Mia Marketer": admin}, None)
    welcome = db.session.scalar(select(EmailTemplate).where(EmailTemplate.slug == "welcome-email"))
    rendered = render_email(welcome.subject, welcome.body_html, welcome.body_text, preview_context(org.id, make_lead(org)))
    assert org.name == "Acme Insurance" and rendered.subject == "Welcome to Acme Insurance"
