"""An activity rule (SPEC §16) in the segment builder, in a real Chromium: "Activity" has its own
labelled widgets (event, at least, in the last, template, automation), the live preview counts from the
leads' events, the saved segment says the rule in words, "why" explains it for a lead, axe finds
nothing serious, and the whole row can be built with the keyboard alone."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.email.helpers import make_template
from tests.factories import make_lead, make_org, make_user
from tests.ui.combobox import choose_lead
from tests.ui.conftest import screenshot, sign_in
from tests.ui.test_keyboard_browser import arrow_select, expect_focus_not_on_body, settled, tab_to
from tests.ui.test_layout_browser import serious_axe_violations
from webapp.extensions import db
from webapp.models import LeadEvent, utcnow

MARKETER = "mia@acme.example.com"
DESCRIPTION = "email opened at least 2 times from the email template “Welcome” in the last 7 days"


@pytest.fixture
def acme(app):
    """Eight leads: two opened Welcome twice this week, one once, one twice but long ago, one opened
    Renewal twice; another organization's lead opened Welcome twice too (never counted)."""
    with app.app_context():
        org = make_org("Acme Insurance")
        make_user(org, email=MARKETER, role="marketer", name="Mia Marketer")
        welcome = make_template(org, name="Welcome")
        renewal = make_template(org, name="Renewal", subject="Time to renew")
        leads = [make_lead(org, first_name=name, last_name="Lee") for name in ("Ana", "Ben", "Cleo", "Dan", "Eve", "Finn", "Gus", "Hal")]
        now = utcnow()
        opens = {0: (welcome, [1, 2]), 1: (welcome, [3, 30]), 2: (welcome, [2]), 3: (welcome, [20, 25]), 4: (renewal, [1, 2])}
        for index, (template, days_ago) in opens.items():
            for days in days_ago:
                db.session.add(
                    LeadEvent(
                        organization_id=org.id,
                        lead_id=leads[index].id,
                        event_type="email_opened",
                        data={"template_id": template.id, "message_id": 1000 + index},
                        created_at=now - timedelta(days=days, hours=1),
                    )
                )
        other = make_org("Beta Brokers")
        outsider = make_lead(other, first_name="Ola")
        for days in (1, 2):
            db.session.add(
                LeadEvent(
                    organization_id=other.id,
                    lead_id=outsider.id,
                    event_type="email_opened",
                    data={"template_id": welcome.id},
                    created_at=now - timedelta(days=days),
                )
            )
        db.session.commit()
        ids = {"welcome": welcome.id, "fan": leads[0].id, "once": leads[2].id}
        db.session.remove()
    return ids


def activity_row(page):
    """A new rule row switched to "Activity" (the row is redrawn with its own widgets)."""
    page.get_by_role("button", name="+ Add rule").click()
    row = page.locator("li.rule-row").last
    settled(page)
    row.locator("select.rule-field").select_option("activity")
    expect(row).to_have_attribute("data-field", "activity")
    settled(page)
    return row


def test_an_activity_rule_is_built_previewed_saved_and_explained(page, acme):
    sign_in(page, MARKETER)
    page.goto("/segments/new")
    page.get_by_label("Name", exact=True).fill("Welcome fans")
    row = activity_row(page)

    # Its own widgets, each with a label, none but the event needed.
    expect(row.locator("select.rule-operator option")).to_have_text(["has done", "has not done"])
    expect(row.get_by_label("Event")).to_have_value("email_opened")
    for label in ("at least", "in the last", "Time unit", "Email template", "Automation"):
        expect(row.get_by_label(label, exact=True)).to_be_visible()
    expect(page.locator("#preview-count")).to_have_text("5")  # everyone who ever opened one

    row.get_by_label("at least", exact=True).fill("2")
    expect(page.locator("#preview-count")).to_have_text("4")
    row.get_by_label("in the last", exact=True).fill("7")
    row.get_by_label("Time unit").select_option("days")
    expect(page.locator("#preview-count")).to_have_text("2")
    row.get_by_label("Email template").select_option(label="from Welcome")
    expect(page.locator("#preview-count")).to_have_text("1")
    assert serious_axe_violations(page) == []

    # A count of 0 is refused on its row, naming the part.
    row.get_by_label("at least", exact=True).fill("0")
    expect(row.locator(".rule-error")).to_have_text("At least: must be a whole number from 1 to 1000")
    row.get_by_label("at least", exact=True).fill("2")
    expect(page.locator("#preview-count")).to_have_text("1")
    screenshot(page, "segment-builder-activity")

    page.get_by_role("button", name="Save segment").click()
    expect(page.get_by_role("heading", name="Welcome fans")).to_be_visible()
    expect(page.locator("#member-count")).to_have_text("1")
    expect(page.locator("ol.rule-summary")).to_have_text(f"Activity: {DESCRIPTION}")

    # Why is the lead who opened it once not in it?
    choose_lead(page.get_by_role("combobox", name="Find a lead"), "Cleo", acme["once"])
    expect(page.locator("#why-verdict")).to_contain_text("Matches 0 of 1 rule")
    verdict = page.locator("ol.rule-verdicts li")
    expect(verdict).to_contain_text(DESCRIPTION)
    expect(verdict).to_contain_text("This lead: 1 such event, the last on")
    assert serious_axe_violations(page) == []
    screenshot(page, "segment-why-activity")

    # Editing keeps every part of the rule.
    page.get_by_role("link", name="Edit rules").click()
    row = page.locator("li.rule-row").first
    expect(row.get_by_label("Event")).to_have_value("email_opened")
    expect(row.get_by_label("at least", exact=True)).to_have_value("2")
    expect(row.get_by_label("in the last", exact=True)).to_have_value("7")
    expect(row.get_by_label("Email template")).to_have_value(str(acme["welcome"]))
    expect(page.locator("#preview-count")).to_have_text("1")


def test_an_activity_row_is_built_with_the_keyboard_alone(page, acme):
    sign_in(page, MARKETER)
    page.goto("/segments/new")
    tab_to(page, page.get_by_role("button", name="+ Add rule"))
    page.keyboard.press("Enter")
    row, field = page.locator("li.rule-row").first, page.locator("#rules-0-field")
    expect(field).to_be_focused()
    settled(page)
    arrow_select(page, field, "activity", row, "data-field")  # each key redraws the row; the focus stays

    order = ["#rules-0-operator", "#rules-0-event_type", "#rules-0-at_least", "#rules-0-within_amount", "#rules-0-within_unit"]
    for selector in order:
        page.keyboard.press("Tab")
        expect(page.locator(selector)).to_be_focused()
        if selector == "#rules-0-at_least":
            page.keyboard.type("2")
        elif selector == "#rules-0-within_amount":
            page.keyboard.type("7")
    page.keyboard.press("Tab")
    template = page.locator("#rules-0-template_id")
    expect(template).to_be_focused()
    arrow_select(page, template, str(acme["welcome"]))
    expect(page.locator("#preview-count")).to_have_text("1")
    expect_focus_not_on_body(page)
    page.keyboard.press("Tab")
    expect(page.locator("#rules-0-automation_id")).to_be_focused()
    page.keyboard.press("Tab")
    expect(row.get_by_role("button", name="Remove this rule")).to_be_focused()
