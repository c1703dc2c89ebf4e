"""Leads need a way to tell who they are (SPEC §14), and search finds them by full name and phone."""

import pytest
from sqlalchemy import func, select

from tests.api.helpers import assert_problem, row_counts
from tests.conftest import login_browser
from tests.factories import make_lead, make_user
from webapp.extensions import db
from webapp.leads.lookup import suggest_leads
from webapp.models import Lead

CONTACT_FIELDS = {"first_name", "last_name", "email", "phone"}
EMPTY_FORM = {"status": "new", "priority": "medium", "source": "", "insurance_type": "", "campaign_id": "", "assigned_to_id": ""}


def error_fields(body) -> set[str]:
    return {error["field"] for error in body["errors"]}


# --- at least one of first_name, last_name, email, phone -------------------------------------------


@pytest.mark.parametrize("body", [{}, {"status": "new", "city": "Austin"}, {"first_name": "  ", "email": "", "phone": None}])
def test_a_lead_without_name_email_or_phone_is_a_422_naming_the_four(api, body):
    before = row_counts()
    problem = assert_problem(api.post("/api/v1/leads", json=body), 422)
    assert CONTACT_FIELDS <= error_fields(problem)
    assert "at least one of first_name, last_name, email or phone" in problem["detail"]
    assert row_counts() == before


@pytest.mark.parametrize("field", ["first_name", "last_name", "email", "phone"])
def test_any_one_of_the_four_is_enough(api, field):
    value = "lee@example.com" if field == "email" else "Lee"
    assert api.post("/api/v1/leads", json={field: value}).status_code == 201


def test_bulk_names_the_index_of_each_lead_without_one_and_creates_nothing(api):
    before = row_counts()
    body = {"leads": [{"first_name": "Ann"}, {"city": "Austin"}, {"email": "bo@example.com"}, {}]}
    problem = assert_problem(api.post("/api/v1/leads/bulk", json=body), 422)
    assert {f"leads[{i}].{name}" for i in (1, 3) for name in CONTACT_FIELDS} == error_fields(problem)
    assert row_counts() == before


@pytest.mark.parametrize("method", ["put", "patch"])
def test_an_update_may_not_leave_a_lead_without_any_of_the_four(api, org, method):
    lead = make_lead(org, first_name="Ann", last_name=None, email=None, phone=None)
    send = getattr(api, method)

    problem = assert_problem(send(f"/api/v1/leads/{lead.id}", json={"first_name": None}), 422)
    assert CONTACT_FIELDS <= error_fields(problem)
    assert send(f"/api/v1/leads/{lead.id}", json={"first_name": None, "phone": "+1 512 555 0100"}).status_code == 200
    assert send(f"/api/v1/leads/{lead.id}", json={"status": "contacted"}).status_code == 200


def test_the_empty_lead_form_shows_the_error_and_saves_nothing(client, org):
    make_user(org, email="agent@acme.example.com", role="agent")
    login_browser(client, "agent@acme.example.com")

    response = client.post("/leads/new", data=EMPTY_FORM)

    assert response.status_code == 422
    assert response.get_data(as_text=True).count("a lead needs at least one of first_name, last_name, email or phone") == 4
    assert db.session.scalar(select(func.count()).select_from(Lead)) == 0
    assert client.post("/leads/new", data={**EMPTY_FORM, "phone": "512 555 0100"}).status_code == 302


def test_editing_a_lead_to_nothing_is_refused(client, org):
    make_user(org, email="agent@acme.example.com", role="agent")
    lead = make_lead(org, first_name="Ann", last_name=None, email=None, phone=None)
    login_browser(client, "agent@acme.example.com")

    response = client.post(f"/leads/{lead.id}/edit", data={**EMPTY_FORM, "first_name": ""})

    assert response.status_code == 422
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).first_name == "Ann"


# --- search -------------------------------------------------------------------------------------


@pytest.fixture
def people(org):
    return {
        "priya": make_lead(org, first_name="Priya", last_name="Johnson", email="pj@example.com", phone="+1 (512) 555-0142", city="Austin"),
        "james": make_lead(org, first_name="James", last_name="Johnson", email="jj@example.com", phone="512.555.0199", city="Miami"),
        "only_last": make_lead(org, first_name=None, last_name="Priyanka", email="p@example.com", phone=None, city="Austin"),
    }


def found(api, q) -> set[int]:
    return {item["id"] for item in api.get("/api/v1/leads", query_string={"q": q, "per_page": 200}).get_json()["items"]}


def test_search_finds_a_lead_by_full_name(api, people):
    assert found(api, "Priya Johnson") == {people["priya"].id}
    assert found(api, "  priya   johnson ") == {people["priya"].id}
    assert found(api, "Johnson") == {people["priya"].id, people["james"].id}
    assert found(api, "Priya") == {people["priya"].id, people["only_last"].id}


def test_search_finds_a_phone_whatever_its_punctuation(api, people):
    assert found(api, "512-555-0142") == {people["priya"].id}
    assert found(api, "(512) 5550142") == {people["priya"].id}
    assert found(api, "5125550199") == {people["james"].id}
    assert found(api, "555") == {people["priya"].id, people["james"].id}


def test_search_still_finds_email_and_city_literally(api, people):
    assert found(api, "jj@example") == {people["james"].id}
    assert found(api, "miami") == {people["james"].id}
    assert found(api, "50%") == set()


def test_the_lead_list_page_and_the_segment_lookup_find_a_full_name(client, org, people):
    make_user(org, email="mia@acme.example.com", role="marketer")
    login_browser(client, "mia@acme.example.com")
    page = client.get("/leads/", query_string={"q": "Priya Johnson"}).get_data(as_text=True)
    assert "1 lead" in page and "pj@example.com" in page
    assert [lead.id for lead in suggest_leads(org.id, "Priya Johnson")] == [people["priya"].id]
