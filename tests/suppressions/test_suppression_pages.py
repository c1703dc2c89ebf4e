"""The suppression list page without a browser (SPEC §17): who may see and change it, inline errors,
the HTMX removal, another organization's entries and imports not found."""

import io

from sqlalchemy import select

from tests.conftest import login_browser
from tests.factories import make_org, make_user
from webapp.extensions import db
from webapp.models import Suppression, SuppressionImport


def signed_in(app, user):
    client = app.test_client()
    assert login_browser(client, user.email).status_code == 302
    return client


def entry(org, value="+15125550100", kind="phone") -> Suppression:
    row = Suppression(organization_id=org.id, kind=kind, value=value, reason="dnc", source="test")
    db.session.add(row)
    db.session.commit()
    return row


def test_a_marketer_adds_an_entry_and_a_bad_value_is_an_inline_error(app, org):
    browser = signed_in(app, make_user(org, role="marketer"))
    bad = browser.post("/suppressions/", data={"kind": "phone", "value": "555-1234", "reason": "dnc"})
    assert bad.status_code == 422
    assert 'id="value-error"' in bad.get_data(as_text=True) and "is not a phone number that can be read" in bad.get_data(as_text=True)
    good = browser.post("/suppressions/", data={"kind": "email", "value": "Jane@Example.com", "reason": "manual"})
    assert good.status_code == 302
    [row] = db.session.scalars(select(Suppression)).all()
    assert (row.value, row.source) == ("jane@example.com", "page")
    page = browser.get("/suppressions/?q=jane").get_data(as_text=True)
    assert "jane@example.com" in page and "1 entry" in page


def test_viewers_and_agents_see_the_list_but_cannot_change_it(app, org):
    row = entry(org)
    for role in ("viewer", "agent"):
        browser = signed_in(app, make_user(org, role=role))
        page = browser.get("/suppressions/")
        assert page.status_code == 200 and "+15125550100" in page.get_data(as_text=True)
        assert 'id="add-suppression"' not in page.get_data(as_text=True)
        assert browser.post("/suppressions/", data={"kind": "phone", "value": "5125550101", "reason": "dnc"}).status_code == 403
        assert browser.post(f"/suppressions/{row.id}/delete").status_code == 403


def test_an_htmx_removal_answers_nothing_for_the_row(app, org):
    row = entry(org)
    browser = signed_in(app, make_user(org, role="admin"))
    response = browser.post(f"/suppressions/{row.id}/delete", headers={"HX-Request": "true"})
    assert response.status_code == 200 and response.get_data() == b""
    assert db.session.scalars(select(Suppression)).all() == []


def test_the_htmx_search_renders_only_the_results(app, org):
    entry(org)
    browser = signed_in(app, make_user(org, role="admin"))
    fragment = browser.get("/suppressions/?q=555", headers={"HX-Request": "true", "HX-Target": "suppression-results"})
    body = fragment.get_data(as_text=True)
    assert "+15125550100" in body and "<title>" not in body and "HX-Request" in fragment.headers["Vary"]


def upload(browser, content: bytes):
    return browser.post("/suppressions/import", data={"file": (io.BytesIO(content), "dnc.csv")}, content_type="multipart/form-data")


def test_an_import_is_uploaded_and_its_progress_page_polls_until_done(app, org, run_jobs):
    browser = signed_in(app, make_user(org, role="admin"))
    empty = upload(browser, b" \n")
    assert empty.status_code == 422 and "The file is empty." in empty.get_data(as_text=True)
    response = upload(browser, b"5125550100\nx\n")
    assert response.status_code == 302
    status_url = response.headers["Location"]
    assert 'hx-trigger="every 700ms"' in browser.get(status_url).get_data(as_text=True)
    run_jobs()
    db.session.rollback()  # the test client's requests share this test's session: read the job's work afresh
    done = browser.get(status_url, headers={"HX-Request": "true", "HX-Target": "import-progress"}).get_data(as_text=True)
    assert "every 700ms" not in done and "1 entry imported, 1 row with problems" in done


def test_another_organizations_entries_and_imports_are_not_found_on_the_page(app, org):
    row = entry(org)
    job = SuppressionImport(organization_id=org.id, filename="dnc.csv", content=b"5125550100\n", errors=[])
    db.session.add(job)
    db.session.commit()
    stranger = signed_in(app, make_user(make_org("Other Agency"), role="admin"))
    assert stranger.post(f"/suppressions/{row.id}/delete").status_code == 404
    assert stranger.get(f"/suppressions/import/{job.id}").status_code == 404
    assert "+15125550100" not in stranger.get("/suppressions/").get_data(as_text=True)
