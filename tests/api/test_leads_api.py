"""The leads API: create, validate, list, change, delete, events, bulk, Idempotency-Key (SPEC §4, §9, §12)."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.api.helpers import assert_problem, row_counts
from tests.factories import make_campaign, make_lead, make_org, make_user
from webapp.extensions import db
from webapp.models import Lead, LeadEvent


def events_of(lead_id: int) -> list[LeadEvent]:
    db.session.expire_all()
    return db.session.scalars(select(LeadEvent).where(LeadEvent.lead_id == lead_id).order_by(LeadEvent.id)).all()


def event_types(lead_id: int) -> list[str]:
    return [event.event_type for event in events_of(lead_id)]


# --- create ------------------------------------------------------------------------------------


def test_create_returns_201_with_location_and_the_lead(api, org, admin):
    response = api.post(
        "/api/v1/leads",
        json={
            "first_name": "Maria",
            "last_name": "Garcia",
            "email": "maria@example.com",
            "phone": "+1 512 555 0100",
            "status": "contacted",
            "priority": "high",
            "source": "google_ads",
            "insurance_type": "home",
            "state": "TX",
            "city": "Austin",
            "value_estimate": 2500.5,
            "tags": ["vip"],
            "email_opt_out": True,
        },
    )

    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"].endswith(f"/api/v1/leads/{body['id']}")
    assert body["organization_id"] == org.id
    assert body["first_name"] == "Maria" and body["status"] == "contacted" and body["priority"] == "high"
    assert body["value_estimate"] == 2500.5 and body["tags"] == ["vip"] and body["email_opt_out"] is True
    assert body["campaign_id"] is None and body["assigned_to_id"] is None
    for stamp in ("created_at", "updated_at"):
        assert datetime.fromisoformat(body[stamp]).utcoffset() == timedelta(0), body[stamp]
    assert api.get(response.headers["Location"]).get_json() == body


def test_create_applies_defaults(api):
    body = api.post("/api/v1/leads", json={"first_name": "Lee"}).get_json()
    assert (body["status"], body["priority"], body["tags"], body["email_opt_out"]) == ("new", "medium", [], False)


def test_create_trims_text_and_stores_empty_strings_as_null(api):
    body = api.post(
        "/api/v1/leads",
        json={
            "first_name": "  Maria  ",
            "last_name": "",
            "city": "   ",
            "phone": "\t555-0100 ",
            "email": " maria@example.com ",
            "value_estimate": "",
            "source": "",
        },
    ).get_json()

    assert body["first_name"] == "Maria"
    assert body["last_name"] is None and body["city"] is None
    assert body["value_estimate"] is None and body["source"] is None
    assert body["phone"] == "555-0100"
    assert body["email"] == "maria@example.com"
    lead = db.session.get(Lead, body["id"])
    assert lead.last_name is None and lead.city is None


def test_create_upper_cases_the_state(api):
    assert api.post("/api/v1/leads", json={"first_name": "Lee", "state": " tx "}).get_json()["state"] == "TX"


def test_create_normalises_tags(api):
    body = api.post("/api/v1/leads", json={"first_name": "Lee", "tags": [" VIP ", "vip", "Spanish", "", "  "]}).get_json()
    assert body["tags"] == ["spanish", "vip"]


def test_create_accepts_tags_as_a_comma_separated_string(api):
    assert api.post("/api/v1/leads", json={"first_name": "Lee", "tags": "vip, Bundle"}).get_json()["tags"] == ["bundle", "vip"]


def test_create_accepts_a_value_given_as_a_string(api):
    assert api.post("/api/v1/leads", json={"first_name": "Lee", "value_estimate": "1000"}).get_json()["value_estimate"] == 1000


def test_create_links_a_campaign_and_an_assignee_of_the_organization(api, org):
    campaign = make_campaign(org)
    agent = make_user(org, role="agent")

    body = api.post("/api/v1/leads", json={"first_name": "Lee", "campaign_id": campaign.id, "assigned_to_id": agent.id}).get_json()

    assert (body["campaign_id"], body["assigned_to_id"]) == (campaign.id, agent.id)


def test_create_records_a_lead_created_event_by_the_caller(api, admin):
    body = api.post("/api/v1/leads", json={"first_name": "Lee", "source": "referral"}).get_json()

    [event] = events_of(body["id"])
    assert event.event_type == "lead_created"
    assert event.actor_id == admin.id
    assert event.data == {"source": "referral"}


# --- bad input changes nothing ----------------------------------------------------------------

BAD_LEADS = [
    pytest.param({"first_name": 123}, "first_name", id="number-for-text"),
    pytest.param({"first_name": ["Maria"]}, "first_name", id="list-for-text"),
    pytest.param({"value_estimate": "abc"}, "value_estimate", id="text-for-number"),
    pytest.param({"value_estimate": True}, "value_estimate", id="bool-for-number"),
    pytest.param({"email_opt_out": "maybe"}, "email_opt_out", id="text-for-bool"),
    pytest.param({"tags": 5}, "tags", id="number-for-tags"),
    pytest.param({"tags": [1, 2]}, "tags[0]", id="numbers-in-tags"),
    pytest.param({"tags": ["x" * 51]}, "tags", id="tag-too-long"),
    pytest.param({"campaign_id": "first"}, "campaign_id", id="text-for-id"),
    pytest.param({"status": "purple"}, "status", id="unknown-status"),
    pytest.param({"status": "NEW"}, "status", id="status-wrong-case"),
    pytest.param({"priority": "extreme"}, "priority", id="unknown-priority"),
    pytest.param({"source": "tv"}, "source", id="unknown-source"),
    pytest.param({"insurance_type": "pet"}, "insurance_type", id="unknown-insurance-type"),
    pytest.param({"favourite_colour": "blue"}, "favourite_colour", id="unknown-field"),
    pytest.param({"id": 5}, "id", id="read-only-field"),
    pytest.param({"email": "not-an-email"}, "email", id="bad-email"),
    pytest.param({"email": "a@b"}, "email", id="email-without-domain"),
    pytest.param({"state": "ZZ"}, "state", id="unknown-state"),
    pytest.param({"state": "Texas"}, "state", id="state-name"),
    pytest.param({"value_estimate": -1}, "value_estimate", id="negative-value"),
    pytest.param({"value_estimate": "12.345"}, "value_estimate", id="value-with-three-decimals"),
    pytest.param({"value_estimate": 10**13}, "value_estimate", id="value-too-large"),
    pytest.param({"first_name": "x" * 101}, "first_name", id="name-too-long"),
    pytest.param({"first_name": "Ma\x00ria"}, "first_name", id="nul-in-text"),
    pytest.param({"tags": ["v\x00ip"]}, "tags[0]", id="nul-in-tag"),
    pytest.param({"city": "\ud800"}, "city", id="unpaired-surrogate"),
    pytest.param({"campaign_id": 2**31}, "campaign_id", id="id-beyond-integer-keys"),
    pytest.param({"assigned_to_id": -3}, "assigned_to_id", id="negative-id"),
]


@pytest.mark.parametrize(("body", "field"), BAD_LEADS)
def test_bad_lead_is_422_naming_the_field_and_changes_nothing(api, org, body, field):
    before = row_counts()

    response = api.post("/api/v1/leads", json=body)

    problem = assert_problem(response, 422, field)
    assert field in problem["detail"]
    assert row_counts() == before


def test_every_bad_field_is_reported_at_once(api):
    response = api.post("/api/v1/leads", json={"status": "purple", "email": "nope", "state": "ZZ"})
    body = assert_problem(response, 422)
    assert {e["field"] for e in body["errors"]} == {"status", "email", "state"}


def test_malformed_json_is_400_and_changes_nothing(api):
    before = row_counts()

    response = api.post("/api/v1/leads", data='{"first_name": "Maria",', headers={"Content-Type": "application/json"})

    assert_problem(response, 400)
    assert row_counts() == before


@pytest.mark.parametrize("body", ['[{"first_name": "Maria"}]', '"Maria"', "42", "true", "null"])
def test_a_body_that_is_not_an_object_is_422(api, body):
    before = row_counts()

    response = api.post("/api/v1/leads", data=body, headers={"Content-Type": "application/json"})

    assert_problem(response, 422, "body")
    assert row_counts() == before


@pytest.mark.parametrize("body", ["", "first_name=Maria", "{'first_name': 'Maria'}"])
def test_an_empty_or_non_json_body_is_400(api, body):
    before = row_counts()
    assert_problem(api.post("/api/v1/leads", data=body, headers={"Content-Type": "application/json"}), 400)
    assert row_counts() == before


def test_campaign_of_another_organization_is_422(api):
    foreign = make_campaign(make_org("Beta Brokers"), name="Their campaign")
    before = row_counts()

    body = assert_problem(api.post("/api/v1/leads", json={"campaign_id": foreign.id}), 422, "campaign_id")

    assert "Their campaign" not in str(body)
    assert row_counts() == before


def test_assignee_of_another_organization_is_422(api):
    stranger = make_user(make_org("Beta Brokers"), email="stranger@beta.example.com")
    before = row_counts()

    body = assert_problem(api.post("/api/v1/leads", json={"assigned_to_id": stranger.id}), 422, "assigned_to_id")

    assert "stranger@beta" not in str(body)
    assert row_counts() == before


def test_unknown_campaign_and_assignee_are_422(api):
    body = assert_problem(api.post("/api/v1/leads", json={"first_name": "Lee", "campaign_id": 99999, "assigned_to_id": 99999}), 422)
    assert {e["field"] for e in body["errors"]} == {"campaign_id", "assigned_to_id"}


@pytest.mark.parametrize("field", ["status", "priority", "email_opt_out"])
def test_patch_may_not_empty_a_required_field(api, org, field):
    lead = make_lead(org)
    before = row_counts()

    assert_problem(api.patch(f"/api/v1/leads/{lead.id}", json={field: None}), 422, field)

    assert row_counts() == before
    db.session.refresh(lead)
    assert lead.status == "new" and lead.priority == "medium"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "purple"}, "status"),
        ({"email": "bad"}, "email"),
        ({"value_estimate": -5}, "value_estimate"),
        ({"nickname": "Mo"}, "nickname"),
    ],
)
def test_bad_update_is_422_and_changes_nothing(api, org, body, field):
    lead = make_lead(org, first_name="Mo")
    before = row_counts()

    assert_problem(api.put(f"/api/v1/leads/{lead.id}", json={"first_name": "Changed", **body}), 422, field)

    assert row_counts() == before
    db.session.refresh(lead)
    assert lead.first_name == "Mo"


def test_update_with_malformed_json_is_400(api, org):
    lead = make_lead(org)
    response = api.patch(f"/api/v1/leads/{lead.id}", data="{", headers={"Content-Type": "application/json"})
    assert_problem(response, 400)


# --- list --------------------------------------------------------------------------------------


@pytest.fixture
def listed_leads(org):
    return {
        "maria": make_lead(
            org,
            first_name="Maria",
            last_name="Garcia",
            email="maria@example.com",
            status="new",
            priority="high",
            source="website",
            insurance_type="auto",
            state="TX",
            city="Austin",
            tags=("vip",),
        ),
        "john": make_lead(
            org,
            first_name="John",
            last_name="Smith",
            email="john@example.com",
            status="contacted",
            priority="low",
            source="referral",
            insurance_type="home",
            state="CA",
            city="San Diego",
            tags=("spanish", "vip"),
        ),
        "wei": make_lead(
            org,
            first_name="Wei",
            last_name="Chen",
            email="wei@mail.example.com",
            status="contacted",
            priority="urgent",
            source="facebook",
            insurance_type="life",
            state="NY",
            city="Buffalo",
            phone="716-555-0101",
        ),
    }


def listed_names(api, query: str) -> set[str]:
    response = api.get(f"/api/v1/leads?{query}")
    assert response.status_code == 200, response.get_json()
    return {item["first_name"] for item in response.get_json()["items"]}


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("", {"Maria", "John", "Wei"}),
        ("status=contacted", {"John", "Wei"}),
        ("priority=urgent", {"Wei"}),
        ("source=referral", {"John"}),
        ("insurance_type=auto", {"Maria"}),
        ("state=ca", {"John"}),
        ("state=CA", {"John"}),
        ("tag=vip", {"Maria", "John"}),
        ("tag=VIP", {"Maria", "John"}),
        ("tag=spanish", {"John"}),
        ("q=garcia", {"Maria"}),
        ("q=MAIL.example", {"Wei"}),
        ("q=555-0101", {"Wei"}),
        ("q=san diego", {"John"}),
        ("q=%25", set()),
        ("q=_", set()),
        ("status=contacted&tag=vip", {"John"}),
        ("status=lost", set()),
    ],
)
def test_list_filters(api, listed_leads, query, names):
    assert listed_names(api, query) == names


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=purple", "status"),  # the document lists the statuses: another is an error, not an empty list
        ("status=", "status"),
        ("state=ZZ", "state"),
        ("assigned_to_id=-3", "assigned_to_id"),
        ("assigned_to_id=1&assigned_to_id=2", "assigned_to_id"),
        ("per_page=", "per_page"),
        ("page=x", "page"),
    ],
)
def test_a_list_filter_the_document_does_not_allow_is_a_422_naming_it(api, query, field):
    body = assert_problem(api.get(f"/api/v1/leads?{query}"), 422)
    assert [e["field"] for e in body["errors"]] == [field]


def test_list_envelope_and_pagination(api, org):
    leads = [make_lead(org, first_name=f"Lead {i}") for i in range(5)]

    first = api.get("/api/v1/leads?per_page=2").get_json()
    last = api.get("/api/v1/leads?per_page=2&page=3").get_json()
    beyond = api.get("/api/v1/leads?per_page=2&page=9").get_json()

    assert set(first) == {"items", "total", "page", "per_page"}
    assert (first["total"], first["page"], first["per_page"]) == (5, 1, 2)
    assert [item["id"] for item in first["items"]] == [leads[0].id, leads[1].id]
    assert [item["id"] for item in last["items"]] == [leads[4].id]
    assert beyond["items"] == [] and beyond["total"] == 5


def test_list_defaults_to_50_per_page_and_allows_200(api, org):
    assert api.get("/api/v1/leads").get_json()["per_page"] == 50
    assert api.get("/api/v1/leads?per_page=200").get_json()["per_page"] == 200


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=abc", "page"),
        ("per_page=0", "per_page"),
        ("per_page=201", "per_page"),
        ("per_page=1.5", "per_page"),
        ("page=567991309383821760", "page"),
    ],
)
def test_page_bounds_are_422(api, query, field):
    assert_problem(api.get(f"/api/v1/leads?{query}"), 422, field)


# --- get, update, delete -------------------------------------------------------------------------


def test_get_unknown_lead_is_404_problem(api):
    assert_problem(api.get("/api/v1/leads/987654"), 404)


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_an_id_beyond_the_integer_keys_is_404_not_500(api, method):
    assert_problem(api.request(method, "/api/v1/leads/187440118326792179154944", json={}), 404)


def test_a_filter_with_a_nul_character_matches_nothing(api, org):
    make_lead(org)
    assert api.get("/api/v1/leads?q=a%00b").get_json()["total"] == 0
    assert api.get("/api/v1/leads?status=%00").status_code == 422  # no status is spelled so


def test_patch_status_records_old_and_new(api, org, admin):
    lead = make_lead(org, status="new")

    response = api.patch(f"/api/v1/leads/{lead.id}", json={"status": "qualified"})

    assert response.status_code == 200 and response.get_json()["status"] == "qualified"
    [event] = events_of(lead.id)
    assert event.event_type == "lead_status_changed"
    assert event.data == {"field": "status", "old": "new", "new": "qualified"}
    assert event.actor_id == admin.id


def test_patch_priority_records_lead_priority_changed(api, org):
    lead = make_lead(org, priority="low")
    api.patch(f"/api/v1/leads/{lead.id}", json={"priority": "urgent"})
    [event] = events_of(lead.id)
    assert (event.event_type, event.data["old"], event.data["new"]) == ("lead_priority_changed", "low", "urgent")


def test_assigning_records_lead_assigned(api, org):
    lead = make_lead(org)
    agent = make_user(org, role="agent")

    api.put(f"/api/v1/leads/{lead.id}", json={"assigned_to_id": agent.id})

    [event] = events_of(lead.id)
    assert event.event_type == "lead_assigned"
    assert event.data == {"field": "assigned_to_id", "old": None, "new": agent.id}


def test_value_change_records_lead_value_changed(api, org):
    lead = make_lead(org, value_estimate=Decimal("1500"))

    body = api.patch(f"/api/v1/leads/{lead.id}", json={"value_estimate": "2000.50"}).get_json()

    assert body["value_estimate"] == 2000.5
    [event] = events_of(lead.id)
    assert event.event_type == "lead_value_changed"
    assert (event.data["old"], event.data["new"]) == (1500, 2000.5)


def test_same_value_in_another_form_is_no_change(api, org):
    lead = make_lead(org, value_estimate=Decimal("1500"))
    api.patch(f"/api/v1/leads/{lead.id}", json={"value_estimate": "1500.00", "status": "new"})
    assert events_of(lead.id) == []


def test_tag_changes_record_tag_added_and_tag_removed(api, org):
    lead = make_lead(org, tags=("vip", "spanish"))

    body = api.patch(f"/api/v1/leads/{lead.id}", json={"tags": ["VIP", "bundle"]}).get_json()

    assert body["tags"] == ["bundle", "vip"]
    assert sorted((e.event_type, e.data["tag"]) for e in events_of(lead.id)) == [("tag_added", "bundle"), ("tag_removed", "spanish")]


def test_other_fields_record_one_lead_updated(api, org):
    lead = make_lead(org, first_name="Jane", city="Austin")

    api.put(f"/api/v1/leads/{lead.id}", json={"first_name": "Janet", "city": "  ", "phone": "555"})

    [event] = events_of(lead.id)
    assert event.event_type == "lead_updated"
    assert event.data["changes"] == {
        "first_name": {"old": "Jane", "new": "Janet"},
        "city": {"old": "Austin", "new": None},
        "phone": {"old": None, "new": "555"},
    }


def test_emptying_fields_stores_null(api, org):
    lead = make_lead(org, first_name="Jane", value_estimate=Decimal("10"), source="website")

    body = api.patch(f"/api/v1/leads/{lead.id}", json={"first_name": "", "value_estimate": "", "source": None}).get_json()

    assert (body["first_name"], body["value_estimate"], body["source"]) == (None, None, None)


def test_put_keeps_the_fields_it_is_not_given(api, org):
    lead = make_lead(org, first_name="Jane", city="Austin", tags=("vip",))

    body = api.put(f"/api/v1/leads/{lead.id}", json={"status": "lost"}).get_json()

    assert (body["first_name"], body["city"], body["tags"], body["status"]) == ("Jane", "Austin", ["vip"], "lost")


def test_one_update_records_one_event_per_kind_of_change(api, org):
    lead = make_lead(org, status="new", first_name="Jane")

    api.patch(f"/api/v1/leads/{lead.id}", json={"status": "contacted", "first_name": "Janet", "tags": ["vip"]})

    assert sorted(event_types(lead.id)) == ["lead_status_changed", "lead_updated", "tag_added"]


def test_update_moves_updated_at(api, org):
    lead = make_lead(org)
    before = api.get(f"/api/v1/leads/{lead.id}").get_json()["updated_at"]
    after = api.patch(f"/api/v1/leads/{lead.id}", json={"city": "Dallas"}).get_json()["updated_at"]
    assert after > before


def test_delete_is_204_and_removes_the_lead_and_its_events(api, org):
    lead = make_lead(org)
    api.patch(f"/api/v1/leads/{lead.id}", json={"status": "lost"})

    response = api.delete(f"/api/v1/leads/{lead.id}")

    assert response.status_code == 204 and response.get_data() == b""
    assert_problem(api.get(f"/api/v1/leads/{lead.id}"), 404)
    assert events_of(lead.id) == []
    assert_problem(api.delete(f"/api/v1/leads/{lead.id}"), 404)


# --- events ------------------------------------------------------------------------------------


def test_events_endpoint_lists_the_timeline_newest_first(api, org):
    lead_id = api.post("/api/v1/leads", json={"first_name": "Lee", "status": "new"}).get_json()["id"]
    api.patch(f"/api/v1/leads/{lead_id}", json={"status": "contacted"})
    api.patch(f"/api/v1/leads/{lead_id}", json={"tags": ["vip"]})

    body = api.get(f"/api/v1/leads/{lead_id}/events").get_json()

    assert body["total"] == 3
    assert [e["event_type"] for e in body["items"]] == ["tag_added", "lead_status_changed", "lead_created"]
    assert body["items"][1]["data"] == {"field": "status", "old": "new", "new": "contacted"}
    assert all(e["lead_id"] == lead_id for e in body["items"])


def test_events_of_an_unknown_lead_is_404(api):
    assert_problem(api.get("/api/v1/leads/987654/events"), 404)


# --- bulk --------------------------------------------------------------------------------------


def test_bulk_creates_1000_leads_with_their_events(api, org):
    leads = [{"first_name": f"Lead {i}", "state": "tx", "tags": ["bulk"]} for i in range(1000)]

    response = api.post("/api/v1/leads/bulk", json={"leads": leads})

    assert response.status_code == 201
    body = response.get_json()
    assert body["created"] == 1000 and len(body["ids"]) == 1000 and body["ids"] == sorted(body["ids"])
    counts = row_counts()
    assert (counts["leads"], counts["lead_events"], counts["lead_tags"]) == (1000, 1000, 1000)
    first = api.get(f"/api/v1/leads/{body['ids'][0]}").get_json()
    assert (first["first_name"], first["state"], first["tags"]) == ("Lead 0", "TX", ["bulk"])
    last = api.get(f"/api/v1/leads/{body['ids'][-1]}").get_json()
    assert last["first_name"] == "Lead 999"


def test_bulk_of_1001_leads_is_422_on_leads_and_creates_nothing(api):
    before = row_counts()

    response = api.post("/api/v1/leads/bulk", json={"leads": [{"first_name": "X"}] * 1001})

    assert_problem(response, 422, "leads")
    assert row_counts() == before


def test_bulk_with_one_bad_lead_is_422_naming_it_and_creates_nothing(api):
    leads = [{"first_name": f"Lead {i}"} for i in range(10)]
    leads[7] = {"first_name": "Bad", "email": "nope"}
    leads[8] = {"first_name": "Worse", "status": "purple", "extra": 1}
    before = row_counts()

    body = assert_problem(api.post("/api/v1/leads/bulk", json={"leads": leads}), 422)

    assert {e["field"] for e in body["errors"]} == {"leads[7].email", "leads[8].status", "leads[8].extra"}
    assert row_counts() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "leads"),
        ({"leads": "many"}, "leads"),
        ({"leads": [], "more": 1}, "more"),
        ({"leads": [7]}, "leads[0]"),
    ],
)
def test_bulk_body_shape_errors_are_422(api, body, field):
    before = row_counts()
    assert_problem(api.post("/api/v1/leads/bulk", json=body), 422, field)
    assert row_counts() == before


def test_bulk_with_a_foreign_campaign_is_422(api):
    foreign = make_campaign(make_org("Beta Brokers"))
    response = api.post("/api/v1/leads/bulk", json={"leads": [{}, {"campaign_id": foreign.id}]})
    assert_problem(response, 422, "leads[1].campaign_id")


def test_bulk_of_no_leads_creates_nothing(api):
    response = api.post("/api/v1/leads/bulk", json={"leads": []})
    assert response.status_code == 201 and response.get_json() == {"created": 0, "ids": []}


def test_viewer_may_not_bulk_create(api_as, org):
    viewer = api_as(make_user(org, role="viewer"))
    assert_problem(viewer.post("/api/v1/leads/bulk", json={"leads": [{}]}), 403)


# --- Idempotency-Key ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/v1/leads", {"first_name": "Maria", "tags": ["vip"]}),
        ("/api/v1/leads/bulk", {"leads": [{"first_name": "Maria"}, {"first_name": "John"}]}),
    ],
)
def test_repeat_with_the_same_idempotency_key_returns_the_first_response_and_creates_nothing(api, url, body):
    headers = {"Idempotency-Key": "vendor-batch-42"}
    first = api.post(url, json=body, headers=headers)
    after_first = row_counts()

    repeat = api.post(url, json=body, headers=headers)

    assert first.status_code == repeat.status_code == 201
    assert repeat.get_json() == first.get_json()
    assert repeat.headers.get("Location") == first.headers.get("Location")
    assert row_counts() == after_first


@pytest.mark.parametrize(
    ("url", "body", "other"),
    [
        ("/api/v1/leads", {"first_name": "Maria"}, {"first_name": "Mario"}),
        ("/api/v1/leads/bulk", {"leads": [{"first_name": "Maria"}]}, {"leads": [{"first_name": "Mario"}]}),
    ],
)
def test_same_idempotency_key_with_another_body_is_409(api, url, body, other):
    headers = {"Idempotency-Key": "k-1"}
    api.post(url, json=body, headers=headers)
    before = row_counts()

    assert_problem(api.post(url, json=other, headers=headers), 409)
    assert row_counts() == before


def test_idempotency_key_is_per_endpoint(api):
    headers = {"Idempotency-Key": "k-2"}
    assert api.post("/api/v1/leads", json={"leads": []}, headers=headers).status_code == 422
    assert api.post("/api/v1/leads/bulk", json={"leads": []}, headers=headers).status_code == 201


def test_a_failed_request_does_not_use_up_its_idempotency_key(api):
    headers = {"Idempotency-Key": "k-3"}
    assert api.post("/api/v1/leads", json={"status": "purple"}, headers=headers).status_code == 422

    response = api.post("/api/v1/leads", json={"first_name": "Lee", "status": "new"}, headers=headers)

    assert response.status_code == 201


def test_idempotency_keys_of_different_callers_do_not_collide(api, api_as, org):
    other = api_as(make_user(org, role="agent"))
    headers = {"Idempotency-Key": "shared"}

    first = api.post("/api/v1/leads", json={"first_name": "A"}, headers=headers)
    second = other.post("/api/v1/leads", json={"first_name": "B"}, headers=headers)

    assert first.status_code == second.status_code == 201
    assert first.get_json()["id"] != second.get_json()["id"]


def test_requests_without_idempotency_key_create_every_time(api):
    api.post("/api/v1/leads", json={"first_name": "Maria"})
    api.post("/api/v1/leads", json={"first_name": "Maria"})
    assert row_counts()["leads"] == 2


def test_too_long_idempotency_key_is_422(api):
    assert_problem(api.post("/api/v1/leads", json={}, headers={"Idempotency-Key": "k" * 201}), 422, "Idempotency-Key")
