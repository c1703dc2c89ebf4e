"""CSV import: columns matched to lead fields, the valid rows imported on request, the rejected rows
as a file to fix, messages for people, the sample file, and the progress bar's final states (issue 15)."""

import csv
import io
import os
from datetime import date
from decimal import Decimal
from typing import Annotated
from uuid import UUID

import pytest
from pydantic import Field, TypeAdapter, ValidationError
from sqlalchemy import func, select

from tests.conftest import login_browser
from tests.jobs.test_csv_import import finished_import, import_and_run, start, upload, uploaded_id
from webapp.extensions import db
from webapp.human_errors import human_errors
from webapp.jobs import rq_queue
from webapp.leads import importer
from webapp.leads.schemas import LeadFields
from webapp.leads.services import validate_lead_row
from webapp.models import ImportJob, Lead, LeadEvent
from webapp.validation import ValidationFailed

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def browser(client, admin):
    assert login_browser(client, admin.email).status_code == 302
    return client


def twenty_rows_two_bad() -> str:
    """20 leads under spreadsheet headers; row 6 has a value that is no number, row 15 a bad address."""
    lines = ["First Name,Last Name,E-mail,Value,zip"]
    for n in range(20):
        value, email = "1500", f"lead{n}@example.com"
        if n == 4:
            value = "about 2k"
        if n == 13:
            email = "lead13-at-example.com"
        lines.append(f"Lead{n},Person,{email},{value},7870{n % 10}")
    return "\n".join(lines) + "\n"


def lead_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Lead))


def rejected_rows(browser, job) -> list[dict]:
    response = browser.get(f"/leads/import/{job.id}/rejected.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


# --- the mapping ------------------------------------------------------------------------------------


def test_mapping_is_guessed_from_headers_whatever_their_case_spacing_or_synonym():
    header = ["E-mail", "First Name", " last_name ", "Phone Number", "ZIP", "Estimated value", "Opt-out", "State", "Email"]

    assert importer.guess_mapping(header) == [
        "email",
        "first_name",
        "last_name",
        "phone",
        None,  # no lead field holds a zip code
        "value_estimate",
        "email_opt_out",
        "state",
        None,  # email is already taken by the first column that names it
    ]


def test_upload_shows_the_columns_with_guessed_fields_and_the_first_five_rows(browser):
    content = "E-mail,First Name,zip\n" + "".join(f"p{n}@example.com,Person{n},7870{n}\n" for n in range(7))

    response = upload(browser, content.encode())
    import_id = uploaded_id(response)
    page = browser.get(response.headers["Location"]).get_data(as_text=True)

    job = db.session.get(ImportJob, import_id)
    assert job.status == "mapping" and rq_queue("high").count == 0  # nothing runs before the columns are matched
    assert '<option value="email" selected>' in page and '<option value="first_name" selected>' in page
    assert '<select id="column-2" name="column-2">\n        <option value="" selected>Ignore this column</option>' in page
    assert "Person4" in page and "Person5" not in page  # a preview of five rows
    assert '<input checked id="mode-0" name="mode" type="radio" value="all_or_nothing">' in page  # the default


def test_the_chosen_mapping_is_used_and_unmapped_columns_are_ignored(browser, run_jobs):
    content = "Name,Contact,Notes\nMaria,maria@example.com,call after 5\n"

    job = import_and_run(browser, run_jobs, content, mapping={0: "first_name", 1: "email", 2: None})

    lead = db.session.scalar(select(Lead))
    assert job.status == "completed" and (lead.first_name, lead.email) == ("Maria", "maria@example.com")
    assert job.options == {"mapping": ["first_name", "email", None], "mode": "all_or_nothing"}


def test_a_field_chosen_for_two_columns_is_an_inline_error_and_starts_nothing(app, browser):
    import_id = uploaded_id(upload(browser, b"Email,Work email\na@example.com,b@example.com\n"))

    response = start(browser, import_id, mapping={0: "email", 1: "email"})

    assert response.status_code == 422
    assert "email is already chosen for Email and Work email: choose it once" in response.get_data(as_text=True)
    assert db.session.get(ImportJob, import_id).status == "mapping" and rq_queue("high", app).count == 0


def test_a_mapping_without_any_field_is_an_inline_error(browser):
    import_id = uploaded_id(upload(browser, b"Colour\nblue\n"))

    response = start(browser, import_id)

    assert response.status_code == 422 and "choose a lead field for at least one column" in response.get_data(as_text=True)


def test_a_started_import_cannot_be_mapped_again_and_a_waiting_one_sends_to_its_mapping(browser, run_jobs):
    import_id = uploaded_id(upload(browser, b"first_name\nAnn\n"))
    assert browser.get(f"/leads/import/{import_id}").headers["Location"].endswith(f"/leads/import/{import_id}/mapping")

    start(browser, import_id)
    again = start(browser, import_id, mode="valid_rows")

    assert again.status_code == 302 and again.headers["Location"].endswith(f"/leads/import/{import_id}")
    assert db.session.get(ImportJob, import_id).mode == "all_or_nothing"


# --- rows with problems: all or nothing, or the valid rows --------------------------------------------


def test_valid_rows_mode_imports_the_18_good_rows_and_reports_the_2_others(browser, run_jobs):
    job = import_and_run(browser, run_jobs, twenty_rows_two_bad(), mode="valid_rows")

    assert (job.status, job.outcome, job.created_count, job.rejected_count, job.total_rows) == ("completed", "partial", 18, 2, 20)
    assert lead_count() == 18 and db.session.scalar(select(func.count()).select_from(LeadEvent)) == 18
    assert {e["row"] for e in job.errors} == {6, 15}
    assert not db.session.scalar(select(func.count()).where(Lead.first_name.in_(["Lead4", "Lead13"])))


def test_the_rejected_rows_file_holds_the_original_columns_row_number_and_messages(browser, run_jobs):
    job = import_and_run(browser, run_jobs, twenty_rows_two_bad(), mode="valid_rows")

    rows = rejected_rows(browser, job)

    assert list(rows[0]) == ["First Name", "Last Name", "E-mail", "Value", "zip", "row", "error"]
    assert [(r["First Name"], r["Value"], r["zip"], r["row"]) for r in rows] == [
        ("Lead4", "about 2k", "78704", "6"),
        ("Lead13", "1500", "78703", "15"),
    ]
    assert rows[0]["error"] == "Value: enter a number, like 1500 or 1500.50"
    assert rows[1]["error"].startswith("E-mail: not a valid email address")


def test_all_or_nothing_imports_nothing_and_still_offers_the_rows_to_fix(browser, run_jobs):
    job = import_and_run(browser, run_jobs, twenty_rows_two_bad())

    assert (job.status, job.outcome, job.created_count, job.rejected_count) == ("failed", "failed", 0, 2)
    assert lead_count() == 0
    assert [r["row"] for r in rejected_rows(browser, job)] == ["6", "15"]


def test_all_or_nothing_is_the_default(browser, run_jobs):
    import_id = uploaded_id(upload(browser, twenty_rows_two_bad().encode()))
    browser.post(f"/leads/import/{import_id}/mapping", data={"column-0": "first_name", "column-2": "email", "column-3": "value_estimate"})
    run_jobs()

    assert finished_import(import_id).outcome == "failed" and lead_count() == 0


def test_valid_rows_mode_with_no_valid_row_fails(browser, run_jobs):
    job = import_and_run(browser, run_jobs, "email\nnope\nnada\n", mode="valid_rows")

    assert (job.status, job.rejected_count, lead_count()) == ("failed", 2, 0)


def test_a_clean_import_keeps_nothing_but_offers_an_empty_rejected_rows_file(browser, run_jobs):
    job = import_and_run(browser, run_jobs, "first_name\nAnn\n")

    assert job.content == "" and rejected_rows(browser, job) == []
    assert "Download the rejected rows" not in browser.get(f"/leads/import/{job.id}").get_data(as_text=True)


def test_another_organizations_rejected_rows_are_not_found(browser, run_jobs, client):
    from tests.factories import make_org, make_user

    job = import_and_run(browser, run_jobs, twenty_rows_two_bad())
    stranger = make_user(make_org(), role="admin")
    client.post("/logout")
    login_browser(client, stranger.email)

    assert client.get(f"/leads/import/{job.id}/rejected.csv").status_code == 404
    assert client.get(f"/leads/import/{job.id}/mapping").status_code == 404


# --- messages for people ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("value_estimate", "about 2k", "enter a number, like 1500 or 1500.50"),
        ("value_estimate", "nan", "enter a number, like 1500 or 1500.50"),
        ("value_estimate", "-5", "enter 0 or more"),
        ("value_estimate", "10.555", "use at most 2 decimal places, like 1500.50"),
        ("value_estimate", "1e13", "enter 999,999,999,999 or less"),
        ("status", "purple", "choose one of: new, contacted, qualified, quoted, converted or lost"),
        ("priority", "asap", "choose one of: low, medium, high or urgent"),
        ("source", "tv", "choose one of: website, referral, facebook, google_ads, email, phone, partner, event or other"),
        ("insurance_type", "pet", "choose one of: auto, home, life, health, business, renters, umbrella or other"),
        ("email_opt_out", "maybe", "enter yes or no (true/false and 1/0 work too)"),
        ("first_name", "x" * 101, "at most 100 characters"),
        ("phone", "5" * 41, "at most 40 characters"),
        ("state", "ZZ", "must be a US two-letter state code, e.g. TX"),
        ("email", "not-an-email", "not a valid email address: an email address must have an @-sign."),
        ("tags", "x" * 51, "tags are at most 50 characters"),
    ],
)
def test_every_error_of_a_row_is_a_sentence_for_people(org, field, value, message):
    with pytest.raises(ValidationFailed) as raised:
        validate_lead_row({"first_name": "Ann", field: value}, org.id)

    [error] = raised.value.errors
    assert error["field"] == field and message in error["message"]
    assert not any(word in message for word in ("Input should", "Value error", "String should"))


@pytest.mark.parametrize(
    ("annotation", "value", "message"),
    [
        (Annotated[str, Field(max_length=3)], "abcd", "shorten it to at most 3 characters"),
        (Annotated[str, Field(min_length=2)], "a", "enter at least 2 characters"),
        (int, "many", "enter a whole number, like 42"),
        (date, "31/03/2025", "enter a date, like 2025-03-31"),
        (Annotated[Decimal, Field(gt=0)], "0", "enter more than 0"),
        (Annotated[Decimal, Field(max_digits=3)], "1234", "enter a number of at most 3 digits"),
    ],
)
def test_each_pydantic_error_type_has_a_sentence(annotation, value, message):
    with pytest.raises(ValidationError) as raised:
        TypeAdapter(annotation).validate_python(value)

    assert human_errors(raised.value) == [{"field": "body", "message": message}]


def test_an_error_type_without_a_sentence_keeps_pydantics_words_lower_cased():
    with pytest.raises(ValidationError) as raised:
        TypeAdapter(UUID).validate_python("not-a-uuid")

    [error] = human_errors(raised.value)
    assert error["message"].startswith("input should be a valid UUID")


def test_a_list_given_for_text_asks_for_text():
    with pytest.raises(ValidationError) as raised:
        LeadFields.model_validate({"first_name": ["a list"]})

    assert human_errors(raised.value) == [{"field": "first_name", "message": "enter text"}]


def test_the_status_page_names_the_column_of_each_problem(browser, run_jobs):
    job = import_and_run(browser, run_jobs, twenty_rows_two_bad(), mode="valid_rows")

    page = browser.get(f"/leads/import/{job.id}").get_data(as_text=True)

    column = '<code>Value</code> <span class="muted small">(value_estimate)</span>'
    assert f"<td>6</td><td>{column}</td><td>enter a number, like 1500 or 1500.50</td>" in page
    assert "Input should" not in page


# --- the sample file ----------------------------------------------------------------------------------


def test_the_sample_file_is_offered_and_imports_cleanly_with_every_field_guessed(browser, run_jobs):
    page = browser.get("/leads/import").get_data(as_text=True)
    assert 'href="/static/samples/leads-import-sample.csv"' in page
    served = browser.get("/static/samples/leads-import-sample.csv")
    assert served.status_code == 200
    content = served.get_data(as_text=True)
    served.close()

    header, _ = importer.read_csv(content, limit=0)
    assert sorted(importer.guess_mapping(header)) == sorted(importer.FIELDS)
    job = import_and_run(browser, run_jobs, content)

    assert (job.outcome, job.created_count, job.errors) == ("completed", 5, [])
    with open(os.path.join(ROOT, "static/samples/leads-import-sample.csv"), encoding="utf-8") as sample:
        assert sample.read() == content


# --- the progress bar ends in a clear state -----------------------------------------------------------


def progress_of(browser, job) -> str:
    return browser.get(f"/leads/import/{job.id}", headers={"HX-Request": "true", "HX-Target": "import-progress"}).get_data(as_text=True)


def test_a_completed_import_ends_at_100_percent_with_its_count(browser, run_jobs):
    fragment = progress_of(browser, import_and_run(browser, run_jobs, "first_name\nAnn\nBen\n"))

    assert 'class="progress completed"' in fragment and 'aria-valuenow="100"' in fragment and "width: 100%" in fragment
    assert "2 leads imported." in fragment and 'aria-valuetext="Done: 2 imported"' in fragment
    assert "every 700ms" not in fragment


def test_a_partial_import_ends_with_imported_and_rejected_counts(browser, run_jobs):
    fragment = progress_of(browser, import_and_run(browser, run_jobs, twenty_rows_two_bad(), mode="valid_rows"))

    assert 'class="progress partial"' in fragment and 'aria-valuenow="100"' in fragment
    assert "18 leads imported, 2 rows rejected." in fragment and "Download the rejected rows (CSV)" in fragment
    assert "every 700ms" not in fragment


def test_a_failed_import_ends_in_a_failed_state_with_its_reason(browser, run_jobs):
    rows = progress_of(browser, import_and_run(browser, run_jobs, twenty_rows_two_bad()))
    assert 'class="progress failed"' in rows and 'aria-valuetext="Failed: nothing imported"' in rows
    assert "Nothing was imported: 2 of 20 rows have problems (2 problems found)." in rows

    file = progress_of(browser, import_and_run(browser, run_jobs, "first_name,email\n"))
    assert 'class="progress failed"' in file and "Nothing was imported: the file has no data rows." in file
    assert "every 700ms" not in file


def test_blank_cells_past_the_header_are_a_trailing_comma_not_a_problem(browser, run_jobs):
    job = import_and_run(browser, run_jobs, "first_name,email\nAnn,ann@example.com,\nBen,ben@example.com,,\n")

    assert (job.outcome, job.created_count) == ("completed", 2)
