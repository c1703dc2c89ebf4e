"""Lead consents in a real Chromium (SPEC §17): an agent records a text-message consent on the lead page
with the keyboard; the history and the "Contactability" card change without a reload; a wrong value
is shown next to its field; a revocation blocks the channel; axe finds nothing serious, at 1360 and
at 360 px."""

import pytest
from playwright.sync_api import expect

from tests.factories import make_lead, make_org, make_user
from tests.ui.conftest import screenshot, sign_in
from tests.ui.test_journey_editor_browser import settled
from tests.ui.test_layout_browser import serious_axe_violations
from webapp.extensions import db

EMAIL = "alex@acme.example.com"
CERTIFICATE = "https://cert.trustedform.com/0123456789abcdef"


@pytest.fixture
def lead_needing_consent(app):
    """An agent, and a lead of an organization whose policy requires consent for text messages."""
    with app.app_context():
        org = make_org("Acme Insurance")
        org.contact_policy = {"require_consent": {"sms": True}}
        make_user(org, email=EMAIL, role="agent", name="Alex Agent")
        lead = make_lead(org, first_name="Priya", last_name="Johnson", phone="+15125550142", state="TX")
        db.session.commit()
        lead_id = lead.id
        db.session.remove()
    return lead_id


def test_an_agent_records_a_consent_and_the_contactability_card_follows(page, lead_needing_consent):
    sign_in(page, EMAIL)
    page.goto(f"/leads/{lead_needing_consent}")
    consents, verdicts = page.locator("#lead-consents"), page.locator("#lead-contactability")
    expect(verdicts.locator("[data-channel=sms] [data-code=no_consent]")).to_be_visible()
    expect(consents.locator("[data-channel=sms]")).to_contain_text("none recorded")
    page.evaluate("window.leadflowMarker = 'on the lead page'")

    summary = consents.locator("summary")
    summary.focus()
    page.keyboard.press("Enter")  # the disclosure opens from the keyboard
    form = consents.locator("form")
    form.get_by_label("Channel").select_option("sms")
    form.get_by_label("How it was given").select_option("web_form")
    form.get_by_label("When (UTC)").fill("2999-01-01T10:00")
    form.get_by_label("Certificate URL").fill(CERTIFICATE)
    form.get_by_label("LeadiD token").fill("LID-42")
    form.get_by_label("Certificate URL").press("Enter")  # submits from the keyboard
    settled(page)
    error = consents.locator("#consent-captured_at-error")
    expect(error).to_have_text("must not be in the future")
    expect(consents.get_by_label("When (UTC)")).to_have_attribute("aria-invalid", "true")
    expect(consents.get_by_label("Certificate URL")).to_have_value(CERTIFICATE)  # what was typed is kept
    expect(verdicts.locator("[data-channel=sms] [data-code=no_consent]")).to_be_visible()

    consents.get_by_label("When (UTC)").fill("")
    consents.get_by_role("button", name="Record").click()
    settled(page)
    expect(consents.get_by_role("status")).to_have_text("Text consent granted.")
    expect(consents.locator("[data-channel=sms] .badge")).to_have_text("granted")
    history = consents.locator("#consent-history li")
    expect(history).to_have_count(1)
    expect(history.first).to_contain_text("(web form)")
    expect(history.first.get_by_role("link", name="Certificate")).to_have_attribute("href", CERTIFICATE)
    expect(history.first).to_contain_text("LID-42")
    expect(verdicts.locator("[data-channel=sms] .badge")).to_have_text("allowed")
    assert page.evaluate("window.leadflowMarker") == "on the lead page"  # no reload
    assert serious_axe_violations(page) == []
    screenshot(page, "lead-consents-granted")

    consents.locator("summary").click()
    consents.get_by_label("Channel").select_option("sms")
    consents.get_by_label("Status").select_option("revoked")
    consents.get_by_label("How it was given").select_option("phone")
    consents.get_by_role("button", name="Record").click()
    settled(page)
    expect(consents.locator("#consent-history li")).to_have_count(2)
    expect(consents.locator("[data-channel=sms] .badge")).to_have_text("revoked")
    expect(verdicts.locator("[data-channel=sms] [data-code=consent_revoked]")).to_be_visible()


def test_the_consent_card_fits_a_narrow_screen(page, lead_needing_consent):
    page.set_viewport_size({"width": 360, "height": 800})
    sign_in(page, EMAIL)
    page.goto(f"/leads/{lead_needing_consent}")
    consents = page.locator("#lead-consents")
    consents.locator("summary").click()
    expect(consents.get_by_role("button", name="Record")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    card = consents.bounding_box()
    assert card["x"] >= 0 and card["x"] + card["width"] <= 360
    assert serious_axe_violations(page) == []
    screenshot(page, "lead-consents-360")
