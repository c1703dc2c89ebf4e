"""The suppression list's API (SPEC §17): values checked and normalised by kind, duplicates answered
with the entry already there, search and filters, removal, roles and tenancy."""

import pytest
from sqlalchemy import select

from tests.api.helpers import assert_problem
from tests.factories import make_org, make_user
from webapp.extensions import db
from webapp.models import AuditLog, Suppression

URL = "/api/v1/suppressions"


def add(api, kind, value, reason="manual", **extra):
    return api.post(URL, json={"kind": kind, "value": value, "reason": reason, **extra})


@pytest.mark.parametrize(
    ("kind", "given", "stored"),
    [
        ("phone", "(512) 555-0100", "+15125550100"),
        ("phone", "1-512-555-0100", "+15125550100"),
        ("phone", "+44 20 7946 0958", "+442079460958"),
        ("email", "  Jane.Doe@Example.COM ", "jane.doe@example.com"),
        ("domain", "Example.org", "example.org"),
    ],
)
def test_a_value_is_stored_normalised_for_its_kind(api, kind, given, stored):
    response = add(api, kind, given, "dnc" if kind == "phone" else "manual")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["kind"], body["value"], body["source"]) == (kind, stored, "api")
    assert response.headers["Location"].endswith(f"{URL}/{body['id']}")
    assert api.get(response.headers["Location"]).get_json() == body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "phone", "value": "555-1234", "reason": "dnc"}, "value"),  # no area code
        ({"kind": "phone", "value": "not a number", "reason": "dnc"}, "value"),
        ({"kind": "phone", "value": "+1 212 555 01", "reason": "dnc"}, "value"),  # too short
        ({"kind": "email", "value": "jane@", "reason": "manual"}, "value"),
        ({"kind": "email", "value": "jane@example.test", "reason": "manual"}, "value"),  # a special-use domain
        ({"kind": "domain", "value": "localhost", "reason": "manual"}, "value"),
        ({"kind": "domain", "value": "jane@example.com", "reason": "manual"}, "value"),
        ({"kind": "email", "value": "   ", "reason": "manual"}, "value"),
        ({"kind": "fax", "value": "5125550100", "reason": "dnc"}, "kind"),
        ({"kind": "phone", "value": "5125550100", "reason": "annoying"}, "reason"),
        ({"kind": "phone", "value": "5125550100"}, "reason"),
        ({"value": "5125550100", "reason": "dnc"}, "kind"),
        ({"kind": "phone", "reason": "dnc"}, "value"),
        ({"kind": "phone", "value": "5125550100", "reason": "dnc", "colour": "red"}, "colour"),
        ({"kind": "phone", "value": 5125550100, "reason": "dnc"}, "value"),
    ],
)
def test_a_value_that_cannot_be_read_for_its_kind_is_a_422_naming_the_field(api, body, field):
    problem = assert_problem(api.post(URL, json=body), 422, field)
    assert all(error["message"] for error in problem["errors"])
    assert db.session.scalars(select(Suppression)).all() == []


def test_the_422_for_a_phone_says_why_in_words(api):
    problem = assert_problem(add(api, "phone", "555-1234", "dnc"), 422, "value")
    assert problem["errors"] == [{"field": "value", "message": "is not a phone number that can be read, e.g. +1 512 555 0100"}]


def test_a_value_already_on_the_list_is_answered_200_with_its_entry_unchanged(api):
    first = add(api, "phone", "512-555-0100", "dnc", source="DNC file").get_json()
    again = add(api, "phone", "+1 (512) 555 0100", "litigator")
    assert again.status_code == 200
    assert again.get_json() == first  # the first reason and source stay
    assert len(db.session.scalars(select(Suppression)).all()) == 1


def test_the_list_is_paginated_newest_first_and_filtered_by_kind_reason_and_search(api):
    add(api, "phone", "512-555-0100", "dnc")
    add(api, "phone", "512-555-0101", "litigator")
    add(api, "email", "jane@example.com", "unsubscribed")
    add(api, "domain", "spam-trap.example.net", "manual")

    everything = api.get(URL).get_json()
    assert everything["total"] == 4 and everything["page"] == 1 and everything["per_page"] == 50
    assert [item["value"] for item in everything["items"]][0] == "spam-trap.example.net"
    page_two = api.get(f"{URL}?per_page=3&page=2").get_json()
    assert (page_two["total"], [item["value"] for item in page_two["items"]]) == (4, ["+15125550100"])

    assert [i["value"] for i in api.get(f"{URL}?kind=phone").get_json()["items"]] == ["+15125550101", "+15125550100"]
    assert [i["value"] for i in api.get(f"{URL}?reason=litigator").get_json()["items"]] == ["+15125550101"]
    assert [i["value"] for i in api.get(f"{URL}?q=EXAMPLE.com").get_json()["items"]] == ["jane@example.com"]
    assert [i["value"] for i in api.get(f"{URL}?q=(512) 555-0101").get_json()["items"]] == ["+15125550101"]  # as written
    assert [i["value"] for i in api.get(f"{URL}?q=5550100").get_json()["items"]] == ["+15125550100"]
    assert_problem(api.get(f"{URL}?kind=fax"), 422, "kind")
    assert_problem(api.get(f"{URL}?per_page=500"), 422, "per_page")


def test_delete_takes_the_entry_off_the_list_and_is_audited(api):
    entry = add(api, "email", "jane@example.com", "manual").get_json()
    response = api.delete(f"{URL}/{entry['id']}")
    assert response.status_code == 204
    assert_problem(api.get(f"{URL}/{entry['id']}"), 404)
    assert_problem(api.delete(f"{URL}/{entry['id']}"), 404)
    logs = db.session.scalars(select(AuditLog).order_by(AuditLog.id))
    actions = [(log.action, log.object_type, log.changes.get("value")) for log in logs]
    assert actions == [("create", "Suppression", "jane@example.com"), ("delete", "Suppression", "jane@example.com")]


def test_agents_and_viewers_may_read_but_not_change_the_list(api, api_as, org):
    entry = add(api, "phone", "512-555-0100", "dnc").get_json()
    for role in ("agent", "viewer"):
        reader = api_as(make_user(org, role=role))
        assert reader.get(URL).status_code == 200
        assert reader.get(f"{URL}/{entry['id']}").status_code == 200
        assert_problem(add(reader, "phone", "512-555-0101", "dnc"), 403)
        assert_problem(reader.delete(f"{URL}/{entry['id']}"), 403)
        assert_problem(reader.post(f"{URL}/import", json=None, data={}, content_type="multipart/form-data"), 403)
    marketer = api_as(make_user(org, role="marketer"))
    assert add(marketer, "phone", "512-555-0101", "dnc").status_code == 201
    assert marketer.delete(f"{URL}/{entry['id']}").status_code == 204


def test_another_organizations_entries_and_imports_are_not_found(api, api_as, client):
    entry = add(api, "phone", "512-555-0100", "dnc").get_json()
    import_url = api.post(f"{URL}/import", data={"file": (__import__("io").BytesIO(b"5125550101\n"), "dnc.csv")}).headers["Location"]
    other = make_org("Other Agency")
    stranger = api_as(make_user(other, role="admin"))
    assert_problem(stranger.get(f"{URL}/{entry['id']}"), 404)
    assert_problem(stranger.delete(f"{URL}/{entry['id']}"), 404)
    assert_problem(stranger.get(import_url), 404)
    assert stranger.get(URL).get_json()["total"] == 0
    # the same value is the other organization's own entry
    assert add(stranger, "phone", "512-555-0100", "dnc").status_code == 201
    assert api.get(f"{URL}/{entry['id']}").status_code == 200


def test_a_search_with_a_nul_character_finds_nothing_rather_than_failing(api):
    add(api, "phone", "512-555-0100", "dnc")
    response = api.get(f"{URL}?q=%00555")
    assert response.status_code == 200 and response.get_json()["total"] == 0
