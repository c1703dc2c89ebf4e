"""The suppression list page in a real Chromium (SPEC §17): import a DNC file and watch its progress
to the end, add an entry with an inline error first, remove one after confirming; by keyboard, at
360 px without sideways scrolling, and nothing serious for axe."""

import re

from playwright.sync_api import expect

from tests.factories import make_org, make_user
from tests.ui.conftest import follow_navigation, screenshot, sign_in
from tests.ui.test_layout_browser import elements_past_the_right_edge, horizontal_overflow, serious_axe_violations

EMAIL = "admin@acme.example.com"


def settled(page) -> None:
    expect(page.locator(".htmx-added, .htmx-settling, .htmx-swapping, .htmx-request")).to_have_count(0)


def dnc_file() -> bytes:
    numbers = [f"512555{n:04d}" for n in range(200)]
    return ("phone\n" + "\n".join(numbers[:120] + ["not a phone", "555-1234"] + numbers[120:]) + "\n").encode()


def test_import_a_dnc_file_and_see_its_progress_complete(app, page, worker_process):
    with app.app_context():
        make_user(make_org("Acme Insurance"), email=EMAIL, role="admin")
    sign_in(page, EMAIL)
    follow_navigation(page, "Suppression list")
    expect(page.get_by_role("heading", name="Suppression list")).to_be_visible()

    page.get_by_label("CSV file").set_input_files(files=[{"name": "dnc.csv", "mimeType": "text/csv", "buffer": dnc_file()}])
    page.get_by_role("button", name="Import", exact=True).click()

    page.wait_for_url(re.compile(r"/suppressions/import/\d+$"))
    progress = page.get_by_role("progressbar", name="Import progress")
    expect(progress).to_have_attribute("aria-valuenow", "100", timeout=30_000)
    expect(progress).to_have_attribute("aria-valuetext", "Done: 200 imported")
    expect(page.locator("#import-state")).to_contain_text("200 entries imported, 2 rows with problems")
    errors = page.locator("#import-errors tbody tr")
    expect(errors).to_have_count(2)
    expect(errors.nth(0)).to_contain_text("122")
    expect(errors.nth(1)).to_contain_text("“555-1234” is not a phone number that can be read")
    screenshot(page, "suppressions-import-done")
    assert serious_axe_violations(page) == []

    page.get_by_role("link", name="See the list").click()
    expect(page.locator("#suppression-count")).to_have_text("200 entries")
    page.get_by_label("Search").fill("512-555-0199")
    settled(page)
    expect(page.locator("#suppression-count")).to_have_text("1 entry")
    expect(page.locator("#suppression-table tbody")).to_contain_text("+15125550199")


def test_add_and_remove_an_entry_by_keyboard_at_360_px(app, browser, live_server):
    with app.app_context():
        make_user(make_org("Acme Insurance"), email=EMAIL, role="admin")
    context = browser.new_context(base_url=live_server, viewport={"width": 360, "height": 800})
    context.set_default_timeout(10_000)
    page = context.new_page()
    sign_in(page, EMAIL)
    page.goto("/suppressions/")
    expect(page.locator("#suppression-count")).to_have_text("0 entries")
    form = page.locator("#add-suppression")

    form.get_by_label("Kind").select_option("phone")
    form.get_by_label("Value").fill("555-1234")
    form.get_by_label("Value").press("Enter")
    expect(form.get_by_label("Value")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#value-error")).to_have_text("is not a phone number that can be read, e.g. +1 512 555 0100")

    form.get_by_label("Kind").select_option("domain")
    form.get_by_label("Value").fill("Spam-Trap.example.net")
    form.get_by_label("Reason").select_option("manual")
    form.get_by_label("Reason").focus()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Add", exact=True)).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(".flash")).to_contain_text("spam-trap.example.net is on the suppression list.")
    expect(page.locator("#suppression-count")).to_have_text("1 entry")
    assert horizontal_overflow(page) <= 0, elements_past_the_right_edge(page)
    assert serious_axe_violations(page) == []
    screenshot(page, "suppressions-360")

    remove = page.get_by_role("button", name="Remove spam-trap.example.net")
    page.once("dialog", lambda dialog: dialog.accept())
    remove.focus()
    page.keyboard.press("Enter")
    settled(page)
    expect(page.locator("#suppression-table tbody tr")).to_have_count(0)
    page.reload()
    expect(page.locator("#suppression-count")).to_have_text("0 entries")
    context.close()
