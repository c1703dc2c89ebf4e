"""The leads pages in a real Chromium: filter without reloading, edit with a timeline, CSV import with progress."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.factories import make_lead, make_org, make_user
from tests.ui.conftest import screenshot, sign_in

EMAIL = "marketer@acme.example.com"
FIRST_NAMES = ["Maria", "John", "Wei", "Aisha", "Carlos", "Priya", "James", "Linda", "David", "Elena"]
LAST_NAMES = ["Garcia", "Smith", "Chen", "Khan", "Lopez", "Patel"]
STATUSES = ["new", "contacted", "qualified", "quoted", "converted", "lost"]
CITIES = [("TX", "Austin"), ("CA", "San Diego"), ("FL", "Miami"), ("NY", "Buffalo"), ("IL", "Chicago")]


@pytest.fixture
def leads_of_acme(app):
    """An organization, a marketer and 30 committed leads; the status counts let tests check filters."""
    with app.app_context():
        org = make_org("Acme Insurance")
        make_user(org, email=EMAIL, role="marketer", name="Mia Marketer")
        counts = {}
        for n in range(30):
            status = STATUSES[n % len(STATUSES)]
            counts[status] = counts.get(status, 0) + 1
            state, city = CITIES[n % len(CITIES)]
            make_lead(
                org,
                first_name=FIRST_NAMES[n % 10],
                last_name=LAST_NAMES[n % 6],
                status=status,
                priority=["low", "medium", "high", "urgent"][n % 4],
                state=state,
                city=city,
                value_estimate=Decimal(500 + 250 * n),
                tags=("vip",) if n % 5 == 0 else (),
            )
        make_lead(org, first_name="Zelda", last_name="Quincy", email="zelda@example.com", status="new")
        counts["new"] += 1
    return counts


def lead_count(page) -> int:
    return int(re.match(r"[\d,]+", page.locator("#lead-count").inner_text()).group().replace(",", ""))


def test_filtering_the_lead_list_swaps_the_results_without_a_reload(page, leads_of_acme):
    sign_in(page, EMAIL)
    page.goto("/leads/")
    expect(page.locator("#lead-count")).to_have_text("31 leads")
    page.evaluate("window.leadflowMarker = 'set before filtering'")

    page.get_by_label("Search").fill("zelda")
    page.wait_for_url(re.compile(r"/leads/\?.*q=zelda"))
    expect(page.locator("#lead-count")).to_have_text("1 lead")
    expect(page.locator("#lead-results tbody tr")).to_have_count(1)
    expect(page.locator("#lead-results")).to_contain_text("Zelda Quincy")

    page.get_by_label("Search").fill("")
    page.get_by_label("Status").select_option("contacted")
    page.wait_for_url(re.compile(r"status=contacted"))
    expect(page.locator("#lead-count")).to_have_text(f"{leads_of_acme['contacted']} leads")
    for badge in page.locator("#lead-results tbody td:nth-child(2) .badge").all():
        assert badge.inner_text() == "contacted"

    assert page.evaluate("window.leadflowMarker") == "set before filtering", "the page was reloaded"
    screenshot(page, "leads-list")

    page.go_back()  # history entries were pushed by the swaps
    page.wait_for_url(re.compile(r"q=&|q=$|/leads/\?(?!.*status=contacted)"))


def test_lead_list_pages_through_results(page, leads_of_acme):
    sign_in(page, EMAIL)
    page.goto("/leads/")
    page.evaluate("window.leadflowMarker = 1")

    page.get_by_role("link", name="Next →").click()

    page.wait_for_url(re.compile(r"page=2"))
    expect(page.locator("#lead-results tbody tr")).to_have_count(31 - 25)
    assert page.evaluate("window.leadflowMarker") == 1


def test_editing_a_lead_shows_the_change_in_its_timeline(page, leads_of_acme):
    sign_in(page, EMAIL)
    page.goto("/leads/?q=zelda")
    page.get_by_role("link", name="Zelda Quincy").click()
    expect(page.get_by_role("heading", name="Zelda Quincy")).to_be_visible()
    expect(page.locator("#timeline li")).to_have_count(1)  # created by the factory: no event

    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Status").select_option("qualified")
    page.get_by_label("Tags").fill("vip, Spanish")
    page.get_by_role("button", name="Save changes").click()

    expect(page.locator(".flash.success")).to_have_text("Lead saved.")
    timeline = page.locator("#timeline")
    expect(timeline.locator("li[data-event=lead_status_changed]")).to_contain_text("Status changed from new to qualified")
    expect(timeline.locator("li[data-event=tag_added]")).to_have_count(2)
    expect(timeline).to_contain_text("Tag spanish added")
    expect(page.locator(".page-head .badge").first).to_have_text("qualified")
    expect(page.locator("main")).not_to_contain_text("<div")  # panels of other features render as HTML, not text
    screenshot(page, "lead-detail")


def test_a_bad_email_is_shown_inline_and_changes_nothing(page, leads_of_acme):
    sign_in(page, EMAIL)
    page.goto("/leads/?q=zelda")
    page.get_by_role("link", name="Zelda Quincy").click()
    page.get_by_role("link", name="Edit").click()

    page.get_by_label("Email", exact=True).fill("zelda@@example")
    page.get_by_label("City").fill("Dallas")
    page.get_by_role("button", name="Save changes").click()

    email_field = page.locator(".field.has-error", has=page.get_by_label("Email", exact=True))
    expect(email_field.locator(".error")).to_contain_text("not a valid email address")
    expect(page.get_by_label("Email", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("alert")).to_contain_text("Please correct the highlighted fields.")
    screenshot(page, "lead-edit-errors")

    page.goto("/leads/?q=zelda")
    expect(page.locator("#lead-results")).to_contain_text("zelda@example.com")
    expect(page.locator("#lead-results")).not_to_contain_text("Dallas")


def csv_of(rows: int) -> bytes:
    lines = ["first_name,last_name,email,status,priority,source,insurance_type,state,city,value_estimate,tags"]
    for n in range(rows):
        state, city = CITIES[n % len(CITIES)]
        lines.append(f'Imported{n},Person,imported{n}@example.com,new,medium,website,auto,{state},{city},{100 + n},"csv, batch{n % 3}"')
    return ("\n".join(lines) + "\n").encode()


def test_csv_import_shows_progress_until_the_leads_are_there(page, leads_of_acme, worker_process):
    rows = 6000
    sign_in(page, EMAIL)
    page.goto("/leads/")
    page.get_by_role("link", name="Import CSV").click()

    page.get_by_label("CSV file").set_input_files(files=[{"name": "spring-leads.csv", "mimeType": "text/csv", "buffer": csv_of(rows)}])
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_role("button", name="Start import").click()

    page.wait_for_url(re.compile(r"/leads/import/\d+$"))
    progress = page.get_by_role("progressbar", name="Import progress")
    expect(progress).to_be_visible()
    page.evaluate("window.leadflowMarker = 'polling'")
    seen = []
    for _ in range(240):
        value = int(progress.get_attribute("aria-valuenow"))
        if 0 < value < 100 and not any(0 < v < 100 for v in seen):
            screenshot(page, "import-progress")  # caught half-way
        seen.append(value)
        if value == 100:
            break
        page.wait_for_timeout(100)
    if not any(0 < v < 100 for v in seen):
        screenshot(page, "import-progress")
    expect(progress).to_have_attribute("aria-valuenow", "100", timeout=60_000)
    assert seen == sorted(seen), f"progress went backwards: {seen}"
    expect(page.locator("#import-progress")).to_contain_text(f"{rows:,} leads imported")
    assert page.evaluate("window.leadflowMarker") == "polling", "progress must update by swaps, not reloads"
    screenshot(page, "import-done")

    page.get_by_role("link", name="See the leads").click()
    expect(page.locator("#lead-count")).to_have_text(f"{rows + 31:,} leads")
    page.get_by_label("Tag").fill("batch1")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#lead-count")).to_have_text(f"{rows // 3:,} leads")


def test_a_csv_with_bad_rows_lists_them_and_imports_nothing(page, leads_of_acme, worker_process):
    sign_in(page, EMAIL)
    page.goto("/leads/import")
    content = b"first_name,email,state\nAnn,ann@example.com,TX\nBen,not-an-email,TX\nCat,cat@example.com,XX\n"
    page.get_by_label("CSV file").set_input_files(files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": content}])
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_role("button", name="Start import").click()

    errors = page.locator("#import-errors tbody tr")
    expect(errors).to_have_count(2, timeout=30_000)
    expect(page.locator("#import-progress")).to_contain_text("Nothing was imported: 2 of 3 rows have problems (2 problems found).")
    expect(errors.nth(0)).to_contain_text("3")
    expect(errors.nth(0)).to_contain_text("email")
    expect(errors.nth(1)).to_contain_text("state")

    page.goto("/leads/")
    expect(page.locator("#lead-count")).to_have_text("31 leads")
