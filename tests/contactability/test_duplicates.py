"""Duplicates on arrival and E.164 phones (SPEC §17): a lead that arrives again within the policy's window
is merged into the existing lead (200, ``Leadflow-Duplicate-Of``, a ``lead_duplicate_received`` event) or
refused (409 naming it), through the API, the bulk API and the CSV import; phones are stored in E.164."""

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from tests.api.helpers import assert_problem, row_counts
from tests.conftest import login_browser
from tests.factories import make_lead, make_org, make_user
from tests.jobs.test_csv_import import import_and_run
from webapp.extensions import db
from webapp.models import Lead, LeadEvent, Organization, utcnow

LEADS = "/api/v1/leads"
BULK = "/api/v1/leads/bulk"
FORM = {"status": "new", "priority": "medium", "source": "", "insurance_type": "", "campaign_id": "", "assigned_to_id": ""}


def set_dedupe(org, match_on=("email", "phone"), window_days=30, action="merge"):
    organization = db.session.get(Organization, org.id)
    organization.contact_policy = {
        **(organization.contact_policy or {}),
        "dedupe": {"match_on": list(match_on), "window_days": window_days, "action": action},
    }
    db.session.commit()


def leads_of(org) -> list[Lead]:
    db.session.expire_all()
    return db.session.scalars(select(Lead).where(Lead.organization_id == org.id).order_by(Lead.id)).all()


def events_of(lead_id: int, event_type: str) -> list[LeadEvent]:
    return db.session.scalars(select(LeadEvent).where(LeadEvent.lead_id == lead_id, LeadEvent.event_type == event_type)).all()


@pytest.fixture
def browser(client, admin):
    assert login_browser(client, admin.email).status_code == 302
    return client


# --- E.164 phones ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("512-555-0142", "+15125550142"),
        ("(512) 555 0142", "+15125550142"),
        ("1 512 555 0142", "+15125550142"),
        ("+44 20 7946 0958", "+442079460958"),
        (" call me maybe ", "call me maybe"),  # junk is kept as given, never a 422
        ("555-0100", "555-0100"),
    ],
)
def test_a_lead_phone_is_stored_in_e164_when_it_can_be_read_and_as_given_otherwise(api, given, stored):
    response = api.post(LEADS, json={"first_name": "Ann", "phone": given})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["phone"] == stored


def test_phones_are_normalised_by_update_bulk_and_the_form(api, browser, org):
    lead_id = api.post(LEADS, json={"first_name": "Ann"}).get_json()["id"]
    assert api.patch(f"{LEADS}/{lead_id}", json={"phone": "512.555.0100"}).get_json()["phone"] == "+15125550100"
    ids = api.post(
        BULK, json={"leads": [{"first_name": "Bo", "phone": "(512) 555-0101"}, {"first_name": "Cy", "phone": "n/a"}]}
    ).get_json()["ids"]
    assert [db.session.get(Lead, lead_id).phone for lead_id in ids] == ["+15125550101", "n/a"]
    assert browser.post("/leads/new", data={**FORM, "first_name": "Di", "phone": "512 555 0102"}).status_code == 302
    assert leads_of(org)[-1].phone == "+15125550102"


def test_the_csv_import_stores_phones_in_e164(browser, run_jobs, org):
    job = import_and_run(browser, run_jobs, "first_name,phone\nAnn,512-555-0100\nBo,ask for Bo\n")
    assert job.status == "completed", job.errors
    assert [lead.phone for lead in leads_of(org)] == ["+15125550100", "ask for Bo"]


def test_the_leads_list_finds_a_phone_by_the_digits_typed(api):
    api.post(LEADS, json={"first_name": "Priya", "phone": "(512) 555-0142"})
    for typed in ("512-555-0142", "5125550142", "555 0142", "+1 512 555 0142"):
        assert [lead["first_name"] for lead in api.get(LEADS, query_string={"q": typed}).get_json()["items"]] == ["Priya"], typed


# --- off by default ---------------------------------------------------------------------------------------


def test_without_dedupe_the_same_lead_twice_is_two_leads(api, org):
    first = api.post(LEADS, json={"first_name": "Ann", "email": "ann@example.com"})
    second = api.post(LEADS, json={"first_name": "Ann", "email": "ann@example.com"})
    assert (first.status_code, second.status_code) == (201, 201)
    assert "Leadflow-Duplicate-Of" not in second.headers
    bulk = api.post(BULK, json={"leads": [{"email": "ann@example.com"}, {"email": "ann@example.com"}]})
    assert bulk.status_code == 201 and set(bulk.get_json()) == {"created", "ids"} and bulk.get_json()["created"] == 2
    assert len(leads_of(org)) == 4


# --- merge ------------------------------------------------------------------------------------------------


def test_a_duplicate_is_merged_into_the_existing_lead_with_200_the_header_and_an_event(api, org):
    set_dedupe(org)
    existing = make_lead(
        org, first_name="Ann", last_name="Lee", email="ann@example.com", phone="+15125550100", city="Austin", tags=("vip",)
    )

    response = api.post(LEADS, json={"first_name": "Annie", "email": "ann@example.com", "city": "", "source": "facebook", "tags": ["auto"]})

    assert response.status_code == 200, response.get_json()
    assert response.headers["Leadflow-Duplicate-Of"] == str(existing.id)
    assert "Location" not in response.headers
    body = response.get_json()
    assert body["id"] == existing.id
    assert (body["first_name"], body["last_name"], body["city"], body["source"]) == (
        "Annie",
        "Lee",
        "Austin",
        "facebook",
    )  # blanks change nothing
    assert body["tags"] == ["auto", "vip"]
    assert len(leads_of(org)) == 1
    (received,) = events_of(existing.id, "lead_duplicate_received")
    assert received.data == {"changed": ["first_name", "source", "tags"], "matched_on": ["email"], "source": "facebook"}
    assert events_of(existing.id, "lead_updated")[0].data["changes"]["first_name"] == {"old": "Ann", "new": "Annie"}
    assert events_of(existing.id, "tag_added")[0].data == {"tag": "auto"}


def test_a_replayed_merge_answers_the_same_200_and_header(api, org):
    set_dedupe(org)
    existing = make_lead(org, email="ann@example.com")
    headers = {"Idempotency-Key": "vendor-123"}
    first = api.post(LEADS, json={"email": "ann@example.com", "city": "Waco"}, headers=headers)
    again = api.post(LEADS, json={"email": "ann@example.com", "city": "Waco"}, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true"
    for response in (first, again):
        assert (response.status_code, response.headers["Leadflow-Duplicate-Of"]) == (200, str(existing.id))
    assert len(events_of(existing.id, "lead_duplicate_received")) == 1


def test_the_consents_a_duplicate_brings_are_recorded_for_the_existing_lead(api, org):
    from webapp.models.consents import LeadConsent

    set_dedupe(org)
    existing = make_lead(org, email="ann@example.com")
    single = {"email": "ann@example.com", "consents": [{"channel": "sms", "status": "granted"}]}
    assert api.post(LEADS, json=single).status_code == 200
    bulk = [{"email": "ann@example.com", "consents": [{"channel": "phone", "status": "granted"}]}]
    assert api.post(BULK, json={"leads": bulk}).status_code == 200
    consents = db.session.scalars(select(LeadConsent).where(LeadConsent.organization_id == org.id)).all()
    assert sorted((consent.lead_id, consent.channel) for consent in consents) == [(existing.id, "phone"), (existing.id, "sms")]


def test_a_duplicate_never_undoes_an_opt_out(api, org):
    set_dedupe(org)
    existing = make_lead(org, email="ann@example.com", email_opt_out=True)
    assert api.post(LEADS, json={"email": "ann@example.com", "email_opt_out": False}).status_code == 200
    assert leads_of(org)[0].email_opt_out is True and existing.id == leads_of(org)[0].id


def test_emails_match_in_any_case(api, org):
    set_dedupe(org, match_on=("email",))
    existing = make_lead(org, email="Ann.Lee@Example.com")
    response = api.post(LEADS, json={"first_name": "Ann", "email": "ann.lee@EXAMPLE.COM"})
    assert response.status_code == 200 and response.headers["Leadflow-Duplicate-Of"] == str(existing.id)


def test_a_phone_in_another_format_matches_through_e164(api, org):
    set_dedupe(org, match_on=("phone",))
    first = api.post(LEADS, json={"first_name": "Ann", "phone": "512-555-0142"}).get_json()
    response = api.post(LEADS, json={"last_name": "Lee", "phone": "+1 (512) 555 0142"})
    assert response.status_code == 200 and response.headers["Leadflow-Duplicate-Of"] == str(first["id"])
    assert (response.get_json()["first_name"], response.get_json()["last_name"]) == ("Ann", "Lee")


def test_only_the_fields_named_by_match_on_are_compared(api, org):
    set_dedupe(org, match_on=("phone",))
    make_lead(org, email="ann@example.com", phone="+15125550142")
    assert api.post(LEADS, json={"email": "ann@example.com", "phone": "512-555-0199"}).status_code == 201


def test_junk_phones_match_nothing(api, org):
    set_dedupe(org, match_on=("phone",))
    first = api.post(LEADS, json={"first_name": "Ann", "phone": "n/a"})
    second = api.post(LEADS, json={"first_name": "Bo", "phone": "n/a"})
    assert (first.status_code, second.status_code) == (201, 201)


def test_a_lead_created_before_the_window_is_not_a_duplicate(api, org):
    set_dedupe(org, window_days=7)
    make_lead(org, email="old@example.com", created_at=utcnow() - timedelta(days=8))
    recent = make_lead(org, email="recent@example.com", created_at=utcnow() - timedelta(days=6))
    assert api.post(LEADS, json={"email": "old@example.com"}).status_code == 201
    assert api.post(LEADS, json={"email": "recent@example.com"}).headers["Leadflow-Duplicate-Of"] == str(recent.id)


def test_the_oldest_of_several_matching_leads_is_the_one_merged_into(api, org):
    set_dedupe(org)
    by_phone = make_lead(org, email="a@example.com", phone="+15125550100")
    make_lead(org, email="b@example.com")
    response = api.post(LEADS, json={"email": "b@example.com", "phone": "512 555 0100"})
    assert response.headers["Leadflow-Duplicate-Of"] == str(by_phone.id)


def test_another_organizations_identical_lead_is_never_matched(api, org):
    other = make_org("Other Agency")
    foreign = make_lead(other, email="ann@example.com", phone="+15125550100")
    set_dedupe(org, action="reject")
    response = api.post(LEADS, json={"email": "ann@example.com", "phone": "512-555-0100"})
    assert response.status_code == 201
    assert str(foreign.id) not in response.headers.get("Leadflow-Duplicate-Of", "")
    assert leads_of(other)[0].email == "ann@example.com" and len(leads_of(other)) == 1


# --- reject -----------------------------------------------------------------------------------------------


def test_a_rejected_duplicate_is_a_409_naming_the_existing_lead_and_changes_nothing(api, org):
    set_dedupe(org, action="reject")
    existing = make_lead(org, first_name="Ann", email="ann@example.com")
    before = row_counts()

    problem = assert_problem(api.post(LEADS, json={"first_name": "Annie", "email": "ANN@example.com"}), 409, "email")

    assert f"lead {existing.id}" in problem["detail"]
    assert problem["errors"] == [{"field": "email", "message": f"a duplicate of lead {existing.id} (same email)"}]
    assert row_counts() == before
    assert leads_of(org)[0].first_name == "Ann"


def test_the_form_merges_or_refuses_a_duplicate(browser, org):
    existing = make_lead(org, first_name="Ann", email="ann@example.com")
    form = {**FORM, "first_name": "Annie", "email": "ann@example.com"}
    set_dedupe(org, action="reject")
    refused = browser.post("/leads/new", data=form)
    assert refused.status_code == 422 and f"a duplicate of lead {existing.id} (same email)" in refused.get_data(as_text=True)
    set_dedupe(org, action="merge")
    merged = browser.post("/leads/new", data=form)
    assert merged.status_code == 302 and merged.headers["Location"].endswith(f"/leads/{existing.id}")
    assert [lead.first_name for lead in leads_of(org)] == ["Annie"]


# --- bulk -------------------------------------------------------------------------------------------------


def test_bulk_merges_into_existing_leads_and_into_earlier_rows_in_order(api, org):
    set_dedupe(org)
    existing = make_lead(org, first_name="Ann", email="ann@example.com")
    rows = [
        {"first_name": "Bo", "phone": "512-555-0101"},  # new
        {"email": "ANN@example.com", "city": "Waco", "source": "partner"},  # the existing lead
        {"last_name": "Brown", "phone": "(512) 555 0101", "email": "bo@example.com"},  # the first row's lead
        {"first_name": "Cy", "email": "cy@example.com"},  # new
        {"city": "Dallas", "email": "bo@example.com"},  # the first row's lead again, by the email row 2 brought
    ]

    response = api.post(BULK, json={"leads": rows})

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    bo_id, cy_id = body["ids"]
    assert body["created"] == 2
    assert body["duplicates"] == [
        {"index": 1, "duplicate_of": existing.id},
        {"index": 2, "duplicate_of": bo_id},
        {"index": 4, "duplicate_of": bo_id},
    ]
    leads = {lead.id: lead for lead in leads_of(org)}
    assert len(leads) == 3
    bo = leads[bo_id]
    assert (bo.first_name, bo.last_name, bo.phone, bo.email, bo.city) == ("Bo", "Brown", "+15125550101", "bo@example.com", "Dallas")
    assert (leads[existing.id].city, leads[existing.id].source, leads[existing.id].email) == ("Waco", "partner", "ann@example.com")
    assert [e.data["matched_on"] for e in events_of(bo_id, "lead_duplicate_received")] == [["phone"], ["email"]]
    assert events_of(existing.id, "lead_duplicate_received")[0].data == {
        "changed": ["city", "source"],
        "matched_on": ["email"],
        "source": "partner",
    }
    assert len(events_of(bo_id, "lead_created")) == 1


def test_a_bulk_of_duplicates_only_answers_200(api, org):
    set_dedupe(org)
    existing = make_lead(org, email="ann@example.com")
    response = api.post(BULK, json={"leads": [{"email": "ann@example.com", "city": "Waco"}]})
    assert response.status_code == 200
    assert response.get_json() == {"created": 0, "ids": [], "duplicates": [{"index": 0, "duplicate_of": existing.id}]}


def test_a_bulk_with_rejected_duplicates_is_a_409_per_row_and_creates_nothing(api, org):
    set_dedupe(org, action="reject")
    existing = make_lead(org, email="ann@example.com")
    before = row_counts()
    rows = [{"email": "new@example.com"}, {"email": "ann@example.com"}, {"first_name": "X", "email": "NEW@example.com"}]

    problem = assert_problem(api.post(BULK, json={"leads": rows}), 409)

    assert problem["errors"] == [
        {"field": "leads[1].email", "message": f"a duplicate of lead {existing.id} (same email)"},
        {"field": "leads[2].email", "message": "a duplicate of leads[0] (same email)"},
    ]
    assert row_counts() == before


def statement_counts(function) -> Counter:
    seen = Counter()

    def count(conn, cursor, statement, parameters, context, executemany):
        words = statement.split()
        seen[" ".join(words[:3]) if words[0] in ("INSERT", "DELETE") else " ".join(words[:2])] += 1

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        function()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return seen


def test_bulk_finds_and_merges_duplicates_set_based_whatever_the_number_of_rows(api, org):
    set_dedupe(org)
    for n in range(60):
        make_lead(org, first_name="Old", email=f"old{n}@example.com", tags=("old",))

    def bulk(start: int, size: int):
        rows = []
        for n in range(start, start + size):
            rows += [
                {"first_name": "New", "email": f"OLD{n}@example.com", "tags": ["again"]},  # an existing lead
                {"first_name": "Fresh", "email": f"fresh{n}@example.com"},  # new
                {"city": "Austin", "email": f"fresh{n}@example.com"},  # the row before
            ]
        response = api.post(BULK, json={"leads": rows})
        assert response.status_code == 201, response.get_json()

    few, many = statement_counts(lambda: bulk(0, 3)), statement_counts(lambda: bulk(3, 30))

    assert few == many, (few, many)
    assert db.session.scalar(select(func.count()).select_from(Lead).where(Lead.first_name == "New")) == 33
    assert db.session.scalar(select(func.count()).select_from(LeadEvent).where(LeadEvent.event_type == "lead_duplicate_received")) == 66


# --- the CSV import ---------------------------------------------------------------------------------------

DUPLICATES_CSV = """first_name,email,phone,city
Ann,ANN@example.com,,Austin
Bo,bo@example.com,512-555-0101,
Bob,,(512) 555 0101,Dallas
Cy,cy@example.com,,
"""


def test_an_import_merges_duplicates_of_existing_leads_and_of_earlier_rows(browser, run_jobs, org):
    set_dedupe(org)
    existing = make_lead(org, first_name="Annie", email="ann@example.com", city=None)

    job = import_and_run(browser, run_jobs, DUPLICATES_CSV)

    assert (job.status, job.created_count, job.rejected_count) == ("completed", 2, 0), job.errors
    leads = leads_of(org)
    assert [(lead.first_name, lead.city) for lead in leads] == [("Ann", "Austin"), ("Bob", "Dallas"), ("Cy", None)]
    assert leads[0].id == existing.id and leads[1].phone == "+15125550101"
    assert events_of(existing.id, "lead_duplicate_received")[0].data["matched_on"] == ["email"]
    assert len(events_of(leads[1].id, "lead_duplicate_received")) == 1


def test_an_import_reports_rejected_duplicates_like_rows_with_problems(browser, run_jobs, org):
    set_dedupe(org, action="reject")
    existing = make_lead(org, first_name="Annie", email="ann@example.com")

    job = import_and_run(browser, run_jobs, DUPLICATES_CSV, mode="valid_rows")

    assert (job.status, job.created_count, job.rejected_count) == ("completed", 2, 2)
    assert [(e["row"], e["field"], e["column"], e["message"]) for e in job.errors] == [
        (2, "email", "email", f"a duplicate of lead {existing.id} (same email)"),
        (4, "phone", "phone", "a duplicate of row 3 (same phone)"),
    ]
    assert "Bob" in job.content and "a duplicate of row 3" in job.content  # the rejected-rows file
    assert [lead.first_name for lead in leads_of(org)] == ["Annie", "Bo", "Cy"]


def test_an_all_or_nothing_import_with_a_rejected_duplicate_imports_nothing(browser, run_jobs, org):
    set_dedupe(org, action="reject")
    make_lead(org, email="ann@example.com")
    job = import_and_run(browser, run_jobs, DUPLICATES_CSV)
    assert (job.status, job.created_count, job.rejected_count) == ("failed", 0, 2)
    assert len(leads_of(org)) == 1


# --- pages ------------------------------------------------------------------------------------------------


def test_the_timeline_says_a_duplicate_arrived_and_what_it_changed(api, browser, org):
    set_dedupe(org)
    existing = make_lead(org, first_name="Ann", email="ann@example.com")
    api.post(LEADS, json={"first_name": "Annie", "email": "ann@example.com", "source": "google_ads"})
    page = browser.get(f"/leads/{existing.id}").get_data(as_text=True)
    assert "Arrived again from google ads (same email):" in page and "updated first name, source" in page


def test_the_contact_policy_page_no_longer_says_duplicates_are_not_applied(browser):
    page = browser.get("/admin/contact-policy/").get_data(as_text=True)
    assert "Duplicates on arrival" in page and "not applied yet" not in page


def test_a_user_of_another_organization_never_sees_the_duplicate_header_for_a_foreign_lead(app, org):
    set_dedupe(org, action="reject")
    make_lead(org, email="ann@example.com")
    other = make_org("Other Agency")
    set_dedupe(other, action="reject")
    from tests.conftest import ApiClient, token_for

    outsider = ApiClient(app.test_client(), token_for(app, make_user(other, role="admin")))
    response = outsider.post(LEADS, json={"email": "ann@example.com"})
    assert response.status_code == 201 and "Leadflow-Duplicate-Of" not in response.headers
