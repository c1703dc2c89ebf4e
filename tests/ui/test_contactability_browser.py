"""Contactability in a real Chromium (SPEC §17): the lead page's "Contactability" card shows the lead's
time zone and local time and, per channel, the same verdict as the check (quiet hours with the time
contact is next allowed, an opt-out, "allowed", or no number/address to contact at all); the contact
policy form saves what is typed (seen again after a reload and through the API) and refuses a wrong
entry next to its field, changing nothing. Axe finds nothing serious; at 390 px nothing scrolls sideways."""

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.factories import make_lead, make_org, make_user
from tests.ui.conftest import screenshot, sign_in
from tests.ui.test_layout_browser import elements_past_the_right_edge, horizontal_overflow, serious_axe_violations
from webapp.extensions import db

EMAIL = "ada@acme.example.com"
NEW_YORK, PHOENIX = ZoneInfo("America/New_York"), ZoneInfo("America/Phoenix")


def quiet_hours_around_now_in_new_york() -> dict:
    """Quiet hours from an hour ago to two hours from now in New York: quiet there now, not in Arizona
    (two or three hours behind), whatever the time of day the test runs. ``ends``: the end as the card
    shows it, on the lead's clock."""
    now = datetime.now(UTC).astimezone(NEW_YORK).replace(second=0, microsecond=0)
    start, end = now - timedelta(hours=1), now + timedelta(hours=2)
    return {"start": f"{start:%H:%M}", "end": f"{end:%H:%M}", "ends": f"{end:%a %H:%M}"}


@pytest.fixture
def leads(app):
    """Acme (quiet hours around now in New York) and its leads: one in New York, one in Arizona, one in
    Arizona who opted out of email, one in Arizona without a phone or an email."""
    with app.app_context():
        org = make_org("Acme Insurance")
        quiet = quiet_hours_around_now_in_new_york()
        org.contact_policy = {"quiet_hours": {"start": quiet["start"], "end": quiet["end"]}}
        make_user(org, email=EMAIL, role="admin", name="Ada Admin")
        fields = {"last_name": "Lead", "phone": "+15125550142"}
        ids = {
            "new_york": make_lead(org, first_name="Nora", state="NY", city="Albany", **fields).id,
            "arizona": make_lead(org, first_name="Ari", state="AZ", city="Phoenix", **fields).id,
            "opted_out": make_lead(org, first_name="Otto", state="AZ", city="Tucson", email_opt_out=True, **fields).id,
            "unreachable": make_lead(org, first_name="Una", last_name="Lead", state="AZ", city="Mesa", email=None, phone=None).id,
        }
        db.session.commit()
        db.session.remove()
    return {**ids, "quiet": quiet}


def local_clocks(zone: ZoneInfo) -> list[str]:
    """The card's local time now or a minute later (the page is rendered in between)."""
    now = datetime.now(UTC).astimezone(zone)
    return [f"{moment:%a %H:%M}" for moment in (now, now + timedelta(minutes=1))]


def verdict(page, channel: str):
    return page.locator(f"#lead-contactability [data-channel={channel}]")


def test_the_card_shows_quiet_hours_in_the_leads_own_time_zone(page, leads):
    sign_in(page, EMAIL)
    page.goto(f"/leads/{leads['new_york']}")
    card = page.locator("#lead-contactability")
    expect(card).to_contain_text("Time zone America/New_York (from the state)")
    assert card.locator("#lead-local-time").inner_text() in local_clocks(NEW_YORK)
    for channel in ("email", "sms", "phone"):
        expect(verdict(page, channel).locator(".badge")).to_have_text("blocked")
        expect(verdict(page, channel).locator("[data-code=quiet_hours]")).to_contain_text(
            f"within the quiet hours {leads['quiet']['start']}–{leads['quiet']['end']}"
        )
        expect(verdict(page, channel)).to_contain_text(f"until {leads['quiet']['ends']} local time")
    screenshot(page, "contactability-card-quiet-hours")

    page.goto(f"/leads/{leads['arizona']}")
    expect(card).to_contain_text("Time zone America/Phoenix (from the state)")
    assert card.locator("#lead-local-time").inner_text() in local_clocks(PHOENIX)
    for channel in ("email", "sms", "phone"):
        expect(verdict(page, channel)).to_have_text("allowed")


def test_the_card_shows_an_opt_out_and_a_lead_with_nothing_to_contact(page, leads):
    sign_in(page, EMAIL)
    page.goto(f"/leads/{leads['opted_out']}")
    expect(verdict(page, "email").locator(".badge")).to_have_text("blocked")
    expect(verdict(page, "email").locator("[data-code=opted_out]")).to_contain_text("opted out")
    expect(verdict(page, "phone")).to_have_text("allowed")

    page.goto(f"/leads/{leads['unreachable']}")
    expect(verdict(page, "email")).to_have_text("no email address")
    expect(verdict(page, "sms")).to_have_text("no phone number")
    expect(verdict(page, "phone")).to_have_text("no phone number")
    screenshot(page, "contactability-card-nothing-to-contact")


def test_the_card_fits_a_laptop_and_a_phone_and_axe_finds_nothing_serious(page, leads):
    page.set_viewport_size({"width": 1366, "height": 900})
    sign_in(page, EMAIL)
    page.goto(f"/leads/{leads['new_york']}")
    assert serious_axe_violations(page) == []
    screenshot(page, "contactability-card-1366")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    card = page.locator("#lead-contactability")
    expect(card).to_be_visible()
    assert horizontal_overflow(page) <= 0, elements_past_the_right_edge(page)
    box = card.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert serious_axe_violations(page) == []
    card.scroll_into_view_if_needed()
    screenshot(page, "contactability-card-390")


SAVED_POLICY = {
    "quiet_hours": {"start": "21:30", "end": "08:15"},
    "frequency_caps": [{"channel": "sms", "max": 2, "per_days": 7}],
    "require_consent": {"email": False, "sms": True, "phone": True},
    "when_blocked": "skip",
    "default_timezone": "America/Chicago",
    "dedupe": {"match_on": ["email", "phone"], "window_days": 14, "action": "reject"},
}


@pytest.fixture
def admin(app):
    with app.app_context():
        make_user(make_org("Acme Insurance"), email=EMAIL, role="admin", name="Ada Admin")
        db.session.remove()


def policy_through_the_api(page) -> dict:
    token = page.request.post("/api/v1/auth/token", data={"email": EMAIL, "password": "secret-pass-1"}).json()["access_token"]
    response = page.request.get("/api/v1/settings/contact-policy", headers={"Authorization": f"Bearer {token}"})
    assert response.ok, response.text()
    return response.json()


def type_into(page, label: str, text: str) -> None:
    field = page.get_by_label(label, exact=True)
    field.focus()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type(text)


def test_an_admin_sets_the_contact_policy_and_a_wrong_entry_changes_nothing(page, admin):
    sign_in(page, EMAIL)
    page.goto("/admin/contact-policy/")
    expect(page.get_by_role("heading", name="Contact policy", exact=True)).to_be_visible()

    page.get_by_label("No contact during these hours").focus()
    page.keyboard.press("Space")
    page.get_by_label("From", exact=True).fill("21:30")
    page.get_by_label("to", exact=True).fill("08:15")
    page.get_by_label("Channel of cap 1").select_option("sms")
    type_into(page, "At most, cap 1", "2")
    type_into(page, "In days, cap 1", "7")
    for channel in ("sms", "phone"):
        page.get_by_label(f"Require consent for {channel}").focus()
        page.keyboard.press("Space")
    page.get_by_label("An automation step that may not contact the lead").select_option("skip")
    type_into(page, "Default time zone", "America/Chicago")
    page.get_by_label("Look for an existing lead when one arrives").focus()
    page.keyboard.press("Space")
    page.get_by_label("phone", exact=True).focus()
    page.keyboard.press("Space")
    page.get_by_label("Then").select_option("reject")
    type_into(page, "within the last (days)", "14")
    page.keyboard.press("Enter")  # submits the form from the keyboard

    expect(page.locator(".flash")).to_contain_text("The contact policy is saved.")
    page.reload()
    expect(page.get_by_label("No contact during these hours")).to_be_checked()
    expect(page.get_by_label("From", exact=True)).to_have_value("21:30")
    expect(page.get_by_label("to", exact=True)).to_have_value("08:15")
    expect(page.get_by_label("Channel of cap 1")).to_have_value("sms")
    expect(page.get_by_label("At most, cap 1")).to_have_value("2")
    expect(page.get_by_label("In days, cap 1")).to_have_value("7")
    expect(page.get_by_label("Require consent for email")).not_to_be_checked()
    expect(page.get_by_label("Require consent for sms")).to_be_checked()
    expect(page.get_by_label("Require consent for phone")).to_be_checked()
    expect(page.get_by_label("An automation step that may not contact the lead")).to_have_value("skip")
    expect(page.get_by_label("Default time zone")).to_have_value("America/Chicago")
    expect(page.get_by_label("Look for an existing lead when one arrives")).to_be_checked()
    expect(page.get_by_label("within the last (days)")).to_have_value("14")
    expect(page.get_by_label("Then")).to_have_value("reject")
    assert policy_through_the_api(page) == SAVED_POLICY

    page.get_by_label("From", exact=True).fill("")
    type_into(page, "At most, cap 1", "0")
    type_into(page, "Default time zone", "Mars/Olympus")
    page.get_by_role("button", name="Save the contact policy").click()

    expect(page.get_by_role("alert").first).to_contain_text("Please correct the highlighted fields.")
    quiet_error = page.locator("#quiet-hours").get_by_role("alert")
    expect(quiet_error).to_contain_text('must be a time of day as "HH:MM"')
    expect(page.get_by_label("From", exact=True)).to_have_attribute("aria-invalid", "true")
    first_cap = page.locator("#frequency-caps tbody tr").first
    expect(first_cap.get_by_role("alert")).to_contain_text("greater than or equal to 1")
    expect(page.get_by_label("At most, cap 1")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("At most, cap 1")).to_have_accessible_description("Input should be greater than or equal to 1")
    expect(page.locator("#when-blocked").get_by_role("alert")).to_contain_text("IANA time zone")
    expect(page.get_by_label("Default time zone")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Default time zone")).to_have_accessible_description(
        re.compile(r"without a known state\. must be an IANA time zone")
    )
    expect(page.get_by_label("Default time zone")).to_have_value("Mars/Olympus")  # what was typed is kept
    assert serious_axe_violations(page) == []
    screenshot(page, "contact-policy-errors")
    assert policy_through_the_api(page) == SAVED_POLICY  # nothing changed
    page.goto("/admin/contact-policy/")
    expect(page.get_by_label("Default time zone")).to_have_value("America/Chicago")


def test_the_contact_policy_form_fits_a_laptop_and_a_phone_and_axe_finds_nothing_serious(page, admin):
    page.set_viewport_size({"width": 1366, "height": 900})
    sign_in(page, EMAIL)
    page.goto("/admin/contact-policy/")
    assert serious_axe_violations(page) == []
    screenshot(page, "contact-policy-1366")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.get_by_role("button", name="Save the contact policy")).to_be_visible()
    assert horizontal_overflow(page) <= 0, elements_past_the_right_edge(page)
    assert serious_axe_violations(page) == []
    screenshot(page, "contact-policy-390")
