"""The segment builder in a real Chromium: build the seed's "High-Value Auto Leads" with the visual rule
builder (operators follow the field, the live preview follows every edit and agrees with the API), save,
refresh and ask "why" — all through HTMX swaps, without a page reload (SPEC §10)."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect
from sqlalchemy import update

from tests.factories import make_lead, make_org, make_user
from tests.ui.combobox import choose_lead
from tests.ui.conftest import screenshot, sign_in
from webapp.extensions import db
from webapp.models import Lead

EMAIL = "mia@acme.example.com"
PASSWORD = "secret-pass-1"
ENUM_OPERATORS = ["is", "is not", "is any of", "is none of"]
NUMBER_OPERATORS = ["equals", "does not equal", "is greater than", "is less than", "is any of", "is none of"]


@pytest.fixture
def acme(app):
    """40 leads: every combination the seed's three rules tell apart, so each rule changes the count."""
    with app.app_context():
        org = make_org("Acme Insurance")
        make_user(org, email=EMAIL, role="marketer", name="Mia Marketer")
        people = ["Maria Garcia", "John Smith", "Wei Chen", "Aisha Khan", "Carlos Lopez", "Priya Patel", "James Brown", "Linda Davis"]
        ids = []
        for n in range(40):
            first, last = people[n % len(people)].split()
            lead = make_lead(
                org,
                first_name=first,
                last_name=f"{last}{n}",
                insurance_type=["auto", "home"][n % 2],
                value_estimate=Decimal(400 + 100 * n),
                status=["new", "contacted", "new"][n % 3],
                tags=("vip",) if n % 4 == 0 else (),
            )
            ids.append(lead.id)
        make_lead(make_org("Beta Brokers"), insurance_type="auto", value_estimate=Decimal(99999), status="new")
        leads = db.session.scalars(db.select(Lead).where(Lead.organization_id == org.id)).all()
        counts = {
            "auto": sum(lead.insurance_type == "auto" for lead in leads),
            "auto_value": sum(lead.insurance_type == "auto" and lead.value_estimate > 1000 for lead in leads),
            "seed": sum(lead.insurance_type == "auto" and lead.value_estimate > 1000 and lead.status == "new" for lead in leads),
        }
        db.session.remove()
    return {"ids": ids, "counts": counts}


def rule_row(page, n):
    return page.locator("li.rule-row").nth(n)


def operator_labels(row) -> list[str]:
    return [label.strip() for label in row.locator("select.rule-operator option").all_inner_texts()]


def settled(page) -> None:
    """Wait until HTMX has swapped, settled and wired up what it swapped in (as a person would)."""
    expect(page.locator(".htmx-added, .htmx-settling, .htmx-swapping, .htmx-request")).to_have_count(0)


def add_rule(page, field: str, operator: str | None = None):
    count = page.locator("li.rule-row").count()
    page.get_by_role("button", name="+ Add rule").click()
    expect(page.locator("li.rule-row")).to_have_count(count + 1)
    settled(page)
    row = rule_row(page, count)
    if row.get_attribute("data-field") != field:
        row.locator("select.rule-field").select_option(field)
        expect(row).to_have_attribute("data-field", field)  # the row was swapped for the field's operators
        settled(page)
    if operator and row.get_attribute("data-operator") != operator:
        row.locator("select.rule-operator").select_option(operator)
        expect(row).to_have_attribute("data-operator", operator)  # swapped for the operator's widget
        settled(page)
    return row


def preview_count(page) -> int:
    return int(page.locator("#preview-count").inner_text().replace(",", ""))


def api_token(page) -> str:
    response = page.request.post("/api/v1/auth/token", data={"email": EMAIL, "password": PASSWORD})
    assert response.ok, response.text()
    return response.json()["access_token"]


def test_build_save_refresh_and_explain_the_seeds_segment(page, acme, app):
    counts = acme["counts"]
    sign_in(page, EMAIL)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Segments").click()
    page.get_by_role("link", name="+ New segment").first.click()
    expect(page.get_by_role("heading", name="New segment")).to_be_visible()
    page.evaluate("window.builderMarker = 'no reload'")
    page.get_by_label("Name", exact=True).fill("High-Value Auto Leads")
    page.get_by_label("Description").fill("Leads interested in auto insurance with high estimated value")
    expect(page.locator("#preview-empty")).to_contain_text("Add a rule")

    # Rule 1: insurance type is auto. A new row starts as "Status"; the value waits to be chosen.
    first = add_rule(page, "insurance_type")
    assert operator_labels(first) == ENUM_OPERATORS
    expect(first.locator(".rule-error")).to_have_text("Choose a value.")
    first.locator("select[name$='-value']").select_option("auto")
    expect(page.locator("#preview-count")).to_have_text(str(counts["auto"]))

    # Rule 2: value estimate greater than 1000. The operator list changes with the field.
    second = add_rule(page, "status")
    assert operator_labels(second) == ENUM_OPERATORS
    second.locator("select.rule-field").select_option("value_estimate")
    expect(second.locator("select.rule-operator option")).to_have_text(NUMBER_OPERATORS)
    settled(page)
    second.locator("select.rule-operator").select_option("greater_than")
    expect(second).to_have_attribute("data-operator", "greater_than")
    settled(page)
    second.locator("input[type=number]").fill("1000")
    expect(page.locator("#preview-count")).to_have_text(str(counts["auto_value"]))
    assert counts["auto_value"] < counts["auto"]

    # Rule 3: status is new.
    third = add_rule(page, "status", "equals")
    third.locator("select[name$='-value']").select_option("new")
    expect(page.locator("#preview-count")).to_have_text(str(counts["seed"]))
    expect(page.locator(".preview-leads tbody tr")).to_have_count(min(10, counts["seed"]))

    # A wrong value is flagged on its own row at once; removing the row restores the count.
    fourth = add_rule(page, "state", "equals")
    fourth.locator("input[name$='-value']").fill("Texas")
    expect(fourth.locator(".rule-error")).to_contain_text("not a US state code")
    expect(page.locator(".preview-invalid")).to_be_visible()
    screenshot(page, "segment-builder-inline-error")
    settled(page)
    fourth.get_by_role("button", name="Remove this rule").click()
    expect(page.locator("li.rule-row")).to_have_count(3)
    expect(page.locator("#preview-count")).to_have_text(str(counts["seed"]))

    # AND → OR changes the answer without a reload, and back.
    page.get_by_label("any of the rules (OR)").check()
    expect(page.locator("#preview-count")).not_to_have_text(str(counts["seed"]))
    page.get_by_label("all of the rules (AND)").check()
    expect(page.locator("#preview-count")).to_have_text(str(counts["seed"]))
    assert page.evaluate("window.builderMarker") == "no reload"
    built_count = preview_count(page)
    screenshot(page, "segment-builder")

    page.get_by_role("button", name="Save segment").click()
    expect(page.get_by_role("heading", name="High-Value Auto Leads")).to_be_visible()
    expect(page.locator("#member-count")).to_have_text(str(built_count))
    expect(page.locator(".flash.success")).to_contain_text(f"{built_count} entered")
    segment_id = int(re.search(r"/segments/(\d+)", page.url).group(1))

    # The preview agreed with the API's evaluate.
    token = api_token(page)
    evaluated = page.request.post(f"/api/v1/segments/{segment_id}/evaluate", headers={"Authorization": f"Bearer {token}"}).json()
    assert evaluated["count"] == built_count
    saved = page.request.get(f"/api/v1/segments/{segment_id}", headers={"Authorization": f"Bearer {token}"}).json()
    assert [(r["field"], r["operator"]) for r in saved["rules"]] == [
        ("insurance_type", "equals"),
        ("value_estimate", "greater_than"),
        ("status", "equals"),
    ]

    # Behind the app's back a lead starts matching: a refresh finds it and says so.
    late = acme["ids"][1]  # home, 500, contacted
    with app.app_context():
        db.session.execute(update(Lead).where(Lead.id == late).values(insurance_type="auto", value_estimate=Decimal(2500), status="new"))
        db.session.commit()
    page.evaluate("window.detailMarker = 'no reload'")
    page.get_by_role("button", name="Refresh now").click()
    expect(page.locator("#refresh-result")).to_contain_text("1 entered")
    expect(page.locator("#refresh-result")).to_contain_text("0 left")
    expect(page.locator("#member-count")).to_have_text(str(built_count + 1))
    expect(page.locator("#member-total")).to_have_text(str(built_count + 1))  # the members section re-loaded
    expect(page.locator(f"#segment-members tr[data-lead-id='{late}']")).to_be_visible()
    screenshot(page, "segment-page-refreshed")

    # Why is a lead not in it? Each rule's verdict.
    outsider = acme["ids"][3]  # home, 700, new
    choose_lead(page.get_by_role("combobox", name="Find a lead"), str(outsider), outsider)
    expect(page.locator("#why-verdict")).to_contain_text("Matches 1 of 3 rules")
    expect(page.locator("ol.rule-verdicts li")).to_have_count(3)
    expect(page.locator("ol.rule-verdicts li.fail")).to_have_count(2)
    expect(page.locator("ol.rule-verdicts li").first).to_contain_text("This lead: home")
    assert page.evaluate("window.detailMarker") == "no reload"
    expect(page).to_have_url(re.compile(rf"lead_id={outsider}"))
    page.locator("#segment-why").scroll_into_view_if_needed()
    screenshot(page, "segment-why")

    # ... and one that is in it.
    page.locator(f"#segment-members tr[data-lead-id='{late}']").get_by_role("link", name="Why?").click()
    expect(page.locator("#why-verdict")).to_contain_text("Matches 3 of 3 rules")
    expect(page.locator(".why")).to_contain_text("Member since")


def test_relative_dates_and_tags_in_the_builder(page, acme):
    sign_in(page, EMAIL)
    page.goto("/segments/new")
    page.get_by_label("Name", exact=True).fill("Recent VIPs")
    dates = add_rule(page, "created_at", "greater_than")
    dates.locator("select.rule-mode").select_option("days")  # "days ago"
    expect(dates.locator("input[name$='-amount']")).to_be_visible()  # the row was redrawn for the mode
    settled(page)
    dates.locator("input[name$='-amount']").fill("7")
    expect(page.locator("#preview-count")).to_have_text("40")
    tags = add_rule(page, "tags", "contains")
    assert operator_labels(tags) == ["has the tag", "does not have the tag", "has any of the tags", "has none of the tags"]
    tags.locator("input[name$='-value']").fill("vip")
    expect(page.locator("#preview-count")).to_have_text("10")
    screenshot(page, "segment-builder-relative-and-tags")
    page.get_by_role("button", name="Save segment").click()
    expect(page.locator("#member-count")).to_have_text("10")
    expect(page.locator("#segment-rules")).to_contain_text("Created is after 7 days ago")
    screenshot(page, "segment-page")
