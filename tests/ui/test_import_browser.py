"""CSV import in a real Chromium: upload, match the columns, import the valid rows, download the rejected ones."""

import csv
import io
import re

from playwright.sync_api import expect

from tests.factories import make_org, make_user
from tests.ui.conftest import screenshot, sign_in

EMAIL = "importer@acme.example.com"


def spreadsheet_export() -> bytes:
    """20 leads under spreadsheet headers; row 6's value is no number, row 15's address has no @."""
    lines = ["First Name,Last Name,E-mail,Value,zip"]
    for n in range(20):
        value = "about 2k" if n == 4 else "1500"
        email = "lead13-at-example.com" if n == 13 else f"lead{n}@example.com"
        lines.append(f"Lead{n},Person,{email},{value},7870{n % 10}")
    return ("\n".join(lines) + "\n").encode()


def test_upload_match_columns_import_valid_rows_and_download_the_rejected(app, page, worker_process):
    with app.app_context():
        make_user(make_org("Acme Insurance"), email=EMAIL, role="marketer")
    sign_in(page, EMAIL)
    page.goto("/leads/import")
    expect(page.get_by_role("link", name="Download a sample CSV file")).to_have_attribute("href", "/static/samples/leads-import-sample.csv")

    page.get_by_label("CSV file").set_input_files(files=[{"name": "export.csv", "mimeType": "text/csv", "buffer": spreadsheet_export()}])
    page.get_by_role("button", name="Upload", exact=True).click()

    page.wait_for_url(re.compile(r"/leads/import/\d+/mapping$"))
    expect(page.get_by_label("E-mail")).to_have_value("email")
    expect(page.get_by_label("First Name")).to_have_value("first_name")
    expect(page.get_by_label("Value", exact=True)).to_have_value("value_estimate")
    expect(page.get_by_label("zip")).to_have_value("")  # no lead field: ignored
    expect(page.locator("#import-preview tbody tr")).to_have_count(5)
    expect(page.get_by_label("Import nothing if any row has a problem")).to_be_checked()
    page.get_by_label("Import the valid rows and report the others").check()
    screenshot(page, "import-mapping")
    page.get_by_role("button", name="Start import").click()

    page.wait_for_url(re.compile(r"/leads/import/\d+$"))
    progress = page.get_by_role("progressbar", name="Import progress")
    expect(progress).to_have_attribute("aria-valuenow", "100", timeout=30_000)
    expect(progress).to_have_attribute("aria-valuetext", "Done: 18 imported, 2 rejected")
    expect(page.locator("#import-progress")).to_contain_text("18 leads imported, 2 rows rejected.")
    errors = page.locator("#import-errors tbody tr")
    expect(errors).to_have_count(2)
    expect(errors.nth(0)).to_contain_text("enter a number, like 1500 or 1500.50")
    screenshot(page, "import-partial")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download the rejected rows (CSV)").click()
    with open(download.value.path(), encoding="utf-8") as rejected:
        rows = list(csv.DictReader(io.StringIO(rejected.read())))
    assert [(row["First Name"], row["row"]) for row in rows] == [("Lead4", "6"), ("Lead13", "15")]
    assert rows[0]["error"] == "Value: enter a number, like 1500 or 1500.50"

    page.get_by_role("link", name="See the leads").click()
    expect(page.locator("#lead-count")).to_have_text("18 leads")
