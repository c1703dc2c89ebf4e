"""The email template editor in a real Chromium (SPEC §10): the live preview follows edits for the chosen
lead, desktop/mobile widths, HTML/text tabs, missing-variable warnings, the sandboxed frame, saving,
versions with diff and restore, "send me a test" and the outbox."""

import re

import pytest
from playwright.sync_api import expect

from tests.email.helpers import make_template
from tests.factories import make_lead, make_org, make_user
from tests.ui.combobox import choose_lead
from tests.ui.conftest import follow_navigation, screenshot, sign_in
from webapp.email_templates.services import save_template
from webapp.extensions import db

FIRST_HTML = """<html><head><style>
  .card { max-width: 560px; margin: 0 auto; padding: 24px; font-family: Arial, sans-serif; color: #1f2937; }
  .cta { display: inline-block; background: #4f46e5; color: #ffffff; padding: 10px 18px; border-radius: 6px; text-decoration: none; }
</style></head><body><div class="card">
  <h2>Hi {{ first_name | default("there") }},</h2>
  <p>Your {{ insurance_type }} quote{% if city %} for {{ city }}{% endif %} is ready.</p>
  <p><a class="cta" href="https://example.com/quotes">See my quote</a></p>
  <p>{{ agent_name | default("Your agent") }} · {{ company_name }}</p>
  <p style="font-size:12px;color:#6b7280"><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>
</div></body></html>"""


@pytest.fixture
def editor_data(app):
    with app.app_context():
        org = make_org("Acme Insurance")
        agent = make_user(org, email="alex@acme.example.com", role="agent", name="Alex Morgan")
        marketer = make_user(org, email="mia@acme.example.com", role="marketer", name="Mia Marketer")
        maria = make_lead(
            org,
            first_name="Maria",
            last_name="Lopez",
            email="maria@example.com",
            city="Austin",
            insurance_type="home",
            assigned_to_id=agent.id,
        )
        make_lead(org, first_name="Noor", last_name="Haddad", email="noor@example.com", city="Tampa")
        template = make_template(
            org, name="Quote ready", slug="quote-ready", subject="Your quote is ready", body_html=FIRST_HTML, body_text=""
        )
        save_template(template, {"subject": "{{ first_name | default('Hi') }}, your {{ insurance_type }} quote is ready"}, marketer.id)
        db.session.commit()
        yield {"email": marketer.email, "template_id": template.id, "maria_id": maria.id}
        db.session.remove()


def shown_frame(page):
    return page.frame_locator("#preview-html-panel iframe.preview-frame:not(.loading)")


def test_edit_and_watch_the_preview_follow_for_the_chosen_lead(editor_data, page):
    sign_in(page, editor_data["email"])
    follow_navigation(page, "Email templates")
    expect(page.get_by_role("heading", name="Email templates")).to_be_visible()
    screenshot(page, "email-templates-list")
    page.get_by_role("link", name="Quote ready").click()
    expect(page.locator("#template-version")).to_have_text("version 2")

    # sample data first, then the chosen lead
    expect(shown_frame(page).locator("h2")).to_have_text("Hi Jamie,")
    choose_lead(page.get_by_role("combobox", name="Preview for"), "maria", editor_data["maria_id"])
    expect(page.locator("#preview-subject")).to_have_text("Maria, your home quote is ready")
    expect(shown_frame(page).locator("h2")).to_have_text("Hi Maria,")
    expect(shown_frame(page).locator("body")).to_contain_text("Alex Morgan · Acme Insurance")
    iframe = page.locator("#preview-html-panel iframe.preview-frame:not(.loading)")
    assert iframe.get_attribute("sandbox") == ""
    screenshot(page, "email-template-editor-desktop")

    # an unsaved edit: the frame and the subject follow, nothing is saved
    body = page.get_by_label("HTML body")
    offer = '\n  <p class="offer">Special offer for {{ first_name }} in {{ city }}!</p>'
    body.fill(FIRST_HTML.replace("is ready.</p>", "is ready.</p>" + offer))
    expect(shown_frame(page).locator("p.offer")).to_have_text("Special offer for Maria in Austin!")
    page.get_by_label("Subject").fill("{{ first_name }}, 10% off your {{ insurance_type }} policy")
    expect(page.locator("#preview-subject")).to_have_text("Maria, 10% off your home policy")

    # a misspelt variable is a warning; a syntax error is shown while the last good render stays
    body.press("End")
    page.locator("#body_html").evaluate("(el) => { el.focus(); el.setSelectionRange(el.value.length, el.value.length); }")
    page.keyboard.type("<p>{{ agnt_name }}</p>")
    expect(page.locator("#missing-variables")).to_contain_text("agnt_name")
    screenshot(page, "email-template-missing-variable")
    page.get_by_label("Subject").fill("{{ first_name }, oops")
    expect(page.locator("#preview-errors")).to_contain_text("Subject: line 1: unexpected '}'")
    expect(shown_frame(page).locator("p.offer")).to_be_visible()
    screenshot(page, "email-template-syntax-error")
    page.get_by_label("Subject").fill("{{ first_name }}, 10% off your {{ insurance_type }} policy")
    expect(page.locator("#preview-subject")).to_have_text("Maria, 10% off your home policy")

    # widths and parts
    page.get_by_role("button", name="Mobile").click()
    expect(page.get_by_role("button", name="Mobile")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#preview-html-panel iframe.preview-frame:not(.loading)")).to_have_css("width", "375px")
    screenshot(page, "email-template-mobile")
    page.get_by_role("tab", name="Text").click()
    expect(page.locator("#preview-text")).to_be_visible()
    expect(page.locator("#preview-text")).to_contain_text("Special offer for Maria in Austin!")
    expect(page.locator("#preview-text")).to_contain_text("See my quote (https://example.com/quotes)")
    expect(page.locator("#preview-html-panel")).to_be_hidden()
    screenshot(page, "email-template-text-tab")
    page.get_by_role("tab", name="HTML").click()
    page.get_by_role("button", name="Desktop").click()
    expect(page.locator("#preview-html-panel")).to_be_visible()

    # save: a new version, and the heading follows without a reload
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#save-notice")).to_have_text("Saved as version 3.")
    expect(page.locator("#template-version")).to_have_text("version 3")
    expect(page.locator("#versions tbody tr")).to_have_count(3)


def test_scripts_in_a_template_do_not_run_in_the_preview(editor_data, page):
    sign_in(page, editor_data["email"])
    page.goto(f"/email-templates/{editor_data['template_id']}")
    page.get_by_label("HTML body").fill(
        '<p id="x">Hello</p><script>parent.document.body.dataset.pwned = "1"; '
        'document.getElementById("x").textContent = "ran";</script>'
        '<img src="x" onerror="parent.document.body.dataset.pwned = 2">'
    )
    expect(shown_frame(page).locator("#x")).to_have_text("Hello")
    page.wait_for_timeout(300)
    assert page.evaluate("document.body.dataset.pwned") is None


def test_compare_and_restore_an_older_version(editor_data, page):
    sign_in(page, editor_data["email"])
    page.goto(f"/email-templates/{editor_data['template_id']}")
    page.on("dialog", lambda dialog: dialog.accept())

    row = page.locator("#version-1")
    row.get_by_role("link", name="Compare").click()
    expect(page.locator("#diff")).to_contain_text("Changes from version 1 to the current version 2")
    expect(page.locator("#diff .diff-line.del")).to_have_text("- Your quote is ready")
    page.evaluate("window.scrollTo(0, 0)")  # the preview is sticky: a full-page shot shows it where the view was
    screenshot(page, "email-template-version-diff")

    page.locator("#version-1").get_by_role("button", name="Restore").click()
    expect(page.locator("#save-notice")).to_have_text("Version 1 restored as version 3.")
    expect(page.locator("#template-version")).to_have_text("version 3")
    expect(page.get_by_label("Subject")).to_have_value("Your quote is ready")
    expect(page.locator("#preview-subject")).to_have_text("Your quote is ready")
    expect(page.locator("#version-2")).to_be_visible()
    expect(page.locator("#version-3")).to_contain_text("(restored v1)")
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "email-template-restored")


def test_send_me_a_test_lands_in_the_outbox(editor_data, page):
    sign_in(page, editor_data["email"])
    page.goto(f"/email-templates/{editor_data['template_id']}?lead_id={editor_data['maria_id']}")
    expect(shown_frame(page).locator("h2")).to_have_text("Hi Maria,")

    page.get_by_role("button", name="Send me a test").click()
    expect(page.locator("#test-result")).to_contain_text("mia@acme.example.com")

    follow_navigation(page, "Outbox")
    row = page.locator("table.outbox tbody tr").first
    expect(row).to_contain_text("[Test] Maria, your home quote is ready")
    expect(row).to_contain_text("held")
    screenshot(page, "outbox-list")
    row.get_by_role("link", name=re.compile(r"\[Test\]")).click()
    expect(page.frame_locator("iframe.message-frame").locator("h2")).to_have_text("Hi Maria,")
    screenshot(page, "outbox-message")


def test_create_a_template_and_land_in_the_editor(editor_data, page):
    sign_in(page, editor_data["email"])
    page.goto("/email-templates/")
    page.get_by_role("link", name="+ New template").click()
    page.get_by_label("Name").fill("Renewal reminder")
    page.get_by_label("Subject").fill("{{ first_name }, renew now")
    page.get_by_role("button", name="Create template").click()
    expect(page.locator(".field.has-error")).to_contain_text("line 1: unexpected '}'")
    screenshot(page, "email-template-new-with-error")

    page.get_by_label("Subject").fill("{{ first_name | default('Hi') }}, time to renew")
    page.get_by_role("button", name="Create template").click()
    expect(page.get_by_role("heading", name="Renewal reminder")).to_be_visible()
    expect(page.locator("#template-version")).to_have_text("version 1")
    expect(shown_frame(page).locator("h1")).to_have_text("Hi Jamie,")
