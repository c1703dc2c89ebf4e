"""The segment endpoints of /api/v1 (SPEC §9, §12): CRUD, preview, evaluate, memberships, tenancy."""

from decimal import Decimal

import pytest
from sqlalchemy import select, text

from tests.api.helpers import assert_problem, row_counts
from tests.factories import make_lead, make_org, make_user
from tests.segments.helpers import SEED_RULES, SEED_SEGMENT, active_member_ids, create_segment, segment_events
from webapp.extensions import db
from webapp.models import LeadEvent, Organization


@pytest.fixture
def leads(org):
    """Two leads the seed's rules match, and three that each fail one rule."""
    return {
        "hit": make_lead(org, insurance_type="auto", value_estimate=Decimal("1500"), status="new"),
        "hit2": make_lead(org, insurance_type="auto", value_estimate=Decimal("2500.50"), status="new"),
        "home": make_lead(org, insurance_type="home", value_estimate=Decimal("5000"), status="new"),
        "cheap": make_lead(org, insurance_type="auto", value_estimate=Decimal("1000"), status="new"),
        "called": make_lead(org, insurance_type="auto", value_estimate=Decimal("9000"), status="contacted"),
    }


@pytest.fixture
def other_org_lead(app_ctx):
    """A lead of another organization that the seed's rules would match."""
    return make_lead(make_org("Beta Brokers"), insurance_type="auto", value_estimate=Decimal("99999"), status="new")


# --- create ------------------------------------------------------------------------------------------


def test_creating_the_seeds_segment_returns_it_with_rule_ids_and_fills_it(api, org, leads, other_org_lead):
    response = api.post("/api/v1/segments", json=SEED_SEGMENT)

    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"].endswith(f"/api/v1/segments/{body['id']}")
    assert body["organization_id"] == org.id
    assert (body["name"], body["slug"], body["is_dynamic"], body["match_all_rules"]) == (
        "High-Value Auto Leads",
        "high-value-auto-leads",
        True,
        True,
    )
    assert [(r["field"], r["operator"], r["position"]) for r in body["rules"]] == [
        ("insurance_type", "equals", 0),
        ("value_estimate", "greater_than", 1),
        ("status", "equals", 2),
    ]
    assert all(isinstance(r["id"], int) for r in body["rules"])
    assert body["member_count"] == 2
    assert body["last_evaluated_at"] and body["created_at"] and body["updated_at"]
    assert body["created_at"].endswith(("Z", "+00:00"))
    assert active_member_ids(body["id"]) == {leads["hit"].id, leads["hit2"].id}
    assert sorted(segment_events(body["id"])) == sorted([("segment_entered", leads["hit"].id), ("segment_entered", leads["hit2"].id)])


def test_entry_events_carry_the_segment_id_and_name(api, leads):
    segment = create_segment(api)
    event = db.session.scalar(select(LeadEvent).where(LeadEvent.lead_id == leads["hit"].id, LeadEvent.event_type == "segment_entered"))
    assert event.data == {"segment_id": segment["id"], "segment_name": "High-Value Auto Leads"}


def test_the_slug_is_derived_from_the_name_when_omitted(api):
    body = create_segment(api, name="Texas & Florida — homeowners!", slug=None)
    assert body["slug"] == "texas-florida-homeowners"


@pytest.mark.parametrize("second", [{"slug": "high-value-auto-leads", "name": "Other"}, {"slug": None, "name": "High value auto leads"}])
def test_a_duplicate_slug_is_a_409(api, second):
    create_segment(api)
    before = row_counts()
    response = api.post("/api/v1/segments", json={**SEED_SEGMENT, **second})
    body = assert_problem(response, 409)
    assert "high-value-auto-leads" in body["detail"]
    assert row_counts() == before


def test_the_same_slug_in_another_organization_is_fine(app, api, api_as):
    create_segment(api)
    other = api_as(make_user(make_org("Beta Brokers"), role="marketer"))
    assert other.post("/api/v1/segments", json=SEED_SEGMENT).status_code == 201


@pytest.mark.parametrize(
    "rules, field, fragment",
    [
        ([SEED_RULES[0], {"field": "value_estimate", "operator": "greater_than", "value": "abc"}], "rules[1].value", "not a number"),
        ([{"field": "status", "operator": "equals", "value": "purple"}], "rules[0].value", "not a valid status"),
        ([SEED_RULES[0], {"field": "created_at", "operator": "less_than", "value": "last tuesday"}], "rules[1].value", "relative date"),
        ([{"field": "status", "operator": "contains", "value": "new"}], "rules[0].operator", "does not apply"),
        ([{"field": "favourite_colour", "operator": "equals", "value": "red"}], "rules[0].field", "unknown field"),
        ([{"field": "tags", "operator": "in", "value": []}], "rules[0].value", "at least one"),
        ([{"field": "status", "operator": "equals"}], "rules[0].value", "required"),
        ([{"field": "status", "operator": "equals", "value": "new", "colour": "red"}], "rules[0].colour", "unknown field"),
    ],
)
def test_rules_that_cannot_be_coerced_are_422_naming_the_rule(api, rules, field, fragment):
    before = row_counts()
    response = api.post("/api/v1/segments", json={**SEED_SEGMENT, "rules": rules})
    body = assert_problem(response, 422, field)
    assert any(fragment in e["message"] for e in body["errors"] if e["field"] == field), body["errors"]
    assert row_counts() == before


@pytest.mark.parametrize(
    "body, field",
    [
        ({"description": "no name"}, "name"),
        ({"name": "x", "colour": "red"}, "colour"),
        ({"name": "x", "slug": "Not A Slug"}, "slug"),
        ({"name": "x", "is_dynamic": "sometimes"}, "is_dynamic"),
        ({"name": "x", "rules": "status = new"}, "rules"),
    ],
)
def test_bad_segment_fields_are_422(api, body, field):
    assert_problem(api.post("/api/v1/segments", json=body), 422, field)


def test_malformed_json_is_a_400(api):
    response = api.client.post(
        "/api/v1/segments", data="{nope", content_type="application/json", headers={"Authorization": f"Bearer {api.token}"}
    )
    assert_problem(response, 400)


def test_viewers_and_agents_may_read_but_not_configure(app, org, api, api_as):
    segment = create_segment(api)
    for role in ("viewer", "agent"):
        reader = api_as(make_user(org, role=role))
        assert reader.get(f"/api/v1/segments/{segment['id']}").status_code == 200
        assert reader.post(f"/api/v1/segments/{segment['id']}/evaluate").status_code == 200
        assert_problem(reader.post("/api/v1/segments", json={**SEED_SEGMENT, "slug": "x"}), 403)
        assert_problem(reader.put(f"/api/v1/segments/{segment['id']}", json={"name": "y"}), 403)
        assert_problem(reader.post(f"/api/v1/segments/{segment['id']}/update-memberships"), 403)


def test_requests_without_a_token_are_401(client):
    response = client.get("/api/v1/segments")
    assert response.status_code == 401 and response.mimetype == "application/problem+json"


# --- read, update, delete ----------------------------------------------------------------------------------


def test_list_is_paginated_and_scoped_to_the_organization(api, api_as):
    for n in range(3):
        create_segment(api, name=f"Segment {n}", slug=f"segment-{n}")
    other = api_as(make_user(make_org("Beta Brokers"), role="admin"))
    create_segment(other, name="Beta segment", slug="beta")

    body = api.get("/api/v1/segments?per_page=2&page=2").get_json()

    assert (body["total"], body["page"], body["per_page"]) == (3, 2, 2)
    assert [item["name"] for item in body["items"]] == ["Segment 2"]
    assert_problem(api.get("/api/v1/segments?per_page=500"), 422, "per_page")


def test_put_without_rules_keeps_them_and_with_rules_replaces_them_and_refreshes(api, leads):
    segment = create_segment(api)
    url = f"/api/v1/segments/{segment['id']}"

    renamed = api.put(url, json={"name": "Big auto", "description": None}).get_json()
    assert renamed["name"] == "Big auto" and renamed["slug"] == "high-value-auto-leads"
    assert [r["id"] for r in renamed["rules"]] == [r["id"] for r in segment["rules"]]
    assert renamed["member_count"] == 2

    replaced = api.put(url, json={"rules": [{"field": "insurance_type", "operator": "equals", "value": "auto"}]})
    body = replaced.get_json()
    assert replaced.status_code == 200
    assert [(r["field"], r["value"]) for r in body["rules"]] == [("insurance_type", "auto")]
    assert body["member_count"] == 4
    assert active_member_ids(segment["id"]) == {leads[k].id for k in ("hit", "hit2", "cheap", "called")}
    assert ("segment_entered", leads["called"].id) in segment_events(segment["id"])


def test_put_with_a_bad_rule_changes_nothing(api, leads):
    segment = create_segment(api)
    before = row_counts()
    response = api.put(
        f"/api/v1/segments/{segment['id']}",
        json={"name": "Changed", "rules": [SEED_RULES[0], {"field": "value_estimate", "operator": "less_than", "value": "lots"}]},
    )
    assert_problem(response, 422, "rules[1].value")
    assert row_counts() == before
    assert api.get(f"/api/v1/segments/{segment['id']}").get_json()["name"] == "High-Value Auto Leads"


def test_put_to_a_taken_slug_is_a_409(api):
    create_segment(api)
    other = create_segment(api, name="Other", slug="other")
    assert_problem(api.put(f"/api/v1/segments/{other['id']}", json={"slug": "high-value-auto-leads"}), 409)


def test_delete_removes_the_segment_and_its_memberships(api, leads):
    segment = create_segment(api)
    assert api.delete(f"/api/v1/segments/{segment['id']}").status_code == 204
    assert_problem(api.get(f"/api/v1/segments/{segment['id']}"), 404)
    assert active_member_ids(segment["id"]) == set()
    assert api.get("/api/v1/segments").get_json()["total"] == 0


# --- preview and evaluate ------------------------------------------------------------------------------------


def test_preview_counts_unsaved_rules_and_saves_nothing(api, leads, other_org_lead):
    before = row_counts()
    response = api.post("/api/v1/segments/preview", json={"match_all_rules": True, "rules": SEED_RULES})
    assert response.status_code == 200
    assert response.get_json() == {"count": 2, "lead_ids": sorted([leads["hit"].id, leads["hit2"].id])}
    assert row_counts() == before


def test_preview_with_or_and_limit(api, leads):
    rules = [
        {"field": "insurance_type", "operator": "equals", "value": "home"},
        {"field": "status", "operator": "equals", "value": "contacted"},
    ]
    body = api.post("/api/v1/segments/preview?limit=1", json={"match_all_rules": False, "rules": rules}).get_json()
    assert body == {"count": 2, "lead_ids": [leads["home"].id]}


def test_preview_without_rules_matches_nothing_and_bad_rules_are_422(api, leads):
    assert api.post("/api/v1/segments/preview", json={"rules": []}).get_json() == {"count": 0, "lead_ids": []}
    assert_problem(
        api.post("/api/v1/segments/preview", json={"rules": [SEED_RULES[0], {"field": "status", "operator": "equals", "value": 7}]}),
        422,
        "rules[1].value",
    )
    assert_problem(api.post("/api/v1/segments/preview?limit=0", json={"rules": []}), 422, "limit")


def test_evaluate_counts_and_lists_ids_ascending_and_saves_nothing(api, org):
    matching = [make_lead(org, insurance_type="auto", value_estimate=Decimal("2000"), status="new") for _ in range(5)]
    segment = create_segment(api)
    db.session.execute(text("UPDATE leads SET status = 'new', insurance_type = 'auto', value_estimate = 5000"))
    extra = make_lead(org, insurance_type="auto", value_estimate=Decimal("3000"), status="new")
    db.session.commit()
    before = row_counts()

    body = api.post(f"/api/v1/segments/{segment['id']}/evaluate?limit=3").get_json()

    assert body == {"segment_id": segment["id"], "count": 6, "lead_ids": [lead.id for lead in matching[:3]]}
    full = api.post(f"/api/v1/segments/{segment['id']}/evaluate").get_json()
    assert full["lead_ids"] == sorted([lead.id for lead in matching] + [extra.id])
    assert row_counts() == before
    assert api.get(f"/api/v1/segments/{segment['id']}").get_json()["member_count"] == 5


@pytest.mark.parametrize("limit", ["0", "1001", "abc"])
def test_evaluate_limit_is_checked(api, limit):
    segment = create_segment(api)
    assert_problem(api.post(f"/api/v1/segments/{segment['id']}/evaluate?limit={limit}"), 422, "limit")


def test_evaluate_default_limit_is_100_and_max_is_1000(api, org):
    from webapp.leads.services import create_leads

    create_leads(org.id, [{"insurance_type": "auto", "value_estimate": Decimal("5000"), "status": "new"}] * 1005)
    db.session.commit()
    segment = create_segment(api)
    url = f"/api/v1/segments/{segment['id']}/evaluate"
    assert len(api.post(url).get_json()["lead_ids"]) == 100
    body = api.post(url + "?limit=1000").get_json()
    assert (body["count"], len(body["lead_ids"])) == (1005, 1000)
    assert body["lead_ids"] == sorted(body["lead_ids"])


# --- memberships -----------------------------------------------------------------------------------------------


def test_update_memberships_enters_and_exits_and_counts(api, org, leads):
    segment = create_segment(api)
    db.session.execute(text("UPDATE leads SET status = 'lost' WHERE id = :id"), {"id": leads["hit"].id})
    db.session.execute(text("UPDATE leads SET value_estimate = 1000.01 WHERE id = :id"), {"id": leads["cheap"].id})
    db.session.commit()  # changed behind the app's back: no hook ran

    response = api.post(f"/api/v1/segments/{segment['id']}/update-memberships")

    assert response.get_json() == {"segment_id": segment["id"], "entered": 1, "exited": 1, "member_count": 2}
    assert active_member_ids(segment["id"]) == {leads["hit2"].id, leads["cheap"].id}
    assert segment_events(segment["id"])[-2:] == [("segment_exited", leads["hit"].id), ("segment_entered", leads["cheap"].id)]
    again = api.post(f"/api/v1/segments/{segment['id']}/update-memberships").get_json()
    assert (again["entered"], again["exited"], again["member_count"]) == (0, 0, 2)


def test_a_lead_that_leaves_and_comes_back_keeps_its_history(api, leads):
    segment = create_segment(api)
    url = f"/api/v1/leads/{leads['hit'].id}"
    api.patch(url, json={"status": "contacted"})
    api.patch(url, json={"status": "new"})

    stays = api.get(f"/api/v1/segments/{segment['id']}/leads").get_json()
    assert leads["hit"].id in [item["id"] for item in stays["items"]]
    events = [e for e in segment_events(segment["id"]) if e[1] == leads["hit"].id]
    assert events == [("segment_entered", leads["hit"].id), ("segment_exited", leads["hit"].id), ("segment_entered", leads["hit"].id)]
    from webapp.models import LeadSegment

    rows = db.session.scalars(select(LeadSegment).where(LeadSegment.lead_id == leads["hit"].id).order_by(LeadSegment.id)).all()
    assert [(r.is_active, r.exited_at is not None) for r in rows] == [(False, True), (True, False)]


def test_update_memberships_of_a_static_segment_is_a_409(api):
    segment = create_segment(api, is_dynamic=False, slug="static-one")
    body = assert_problem(api.post(f"/api/v1/segments/{segment['id']}/update-memberships"), 409)
    assert "static" in body["detail"]


def test_static_segments_take_leads_by_hand(api, leads):
    segment = create_segment(api, is_dynamic=False, slug="picked", rules=[])
    url = f"/api/v1/segments/{segment['id']}/leads"
    assert segment["member_count"] == 0

    first = api.post(url, json={"lead_ids": [leads["home"].id, leads["cheap"].id]})
    assert first.get_json() == {"added": 2, "already_members": 0}
    second = api.post(url, json={"lead_ids": [leads["home"].id, leads["called"].id, leads["called"].id]})
    assert second.get_json() == {"added": 1, "already_members": 1}

    members = api.get(url).get_json()
    assert members["total"] == 3
    assert [item["id"] for item in members["items"]] == sorted([leads["home"].id, leads["cheap"].id, leads["called"].id])
    assert all(item["entered_at"] for item in members["items"])
    assert api.get(f"/api/v1/segments/{segment['id']}").get_json()["member_count"] == 3
    assert sorted(segment_events(segment["id"])) == sorted(("segment_entered", leads[k].id) for k in ("home", "cheap", "called"))


def test_static_members_are_removed_by_body_or_query(api, leads):
    segment = create_segment(api, is_dynamic=False, slug="picked")
    url = f"/api/v1/segments/{segment['id']}/leads"
    api.post(url, json={"lead_ids": [leads["home"].id, leads["cheap"].id, leads["called"].id]})

    assert api.delete(url, json={"lead_ids": [leads["home"].id, leads["hit"].id]}).get_json() == {"removed": 1}
    assert api.delete(f"{url}?lead_ids={leads['cheap'].id},{leads['called'].id}").get_json() == {"removed": 2}
    assert api.get(url).get_json()["total"] == 0
    assert ("segment_exited", leads["home"].id) in segment_events(segment["id"])
    assert_problem(api.delete(f"{url}?lead_ids=1,x"), 422, "lead_ids")
    assert_problem(api.delete(url), 422, "lead_ids")


def test_adding_or_removing_by_hand_on_a_dynamic_segment_is_a_409(api, leads):
    segment = create_segment(api)
    url = f"/api/v1/segments/{segment['id']}/leads"
    before = row_counts()
    assert "static" in assert_problem(api.post(url, json={"lead_ids": [leads["home"].id]}), 409)["detail"]
    assert_problem(api.delete(url, json={"lead_ids": [leads["hit"].id]}), 409)
    assert row_counts() == before


@pytest.mark.parametrize("lead_ids", [[], "1,2", [True], [0]])
def test_lead_ids_must_be_a_list_of_ids(api, lead_ids):
    segment = create_segment(api, is_dynamic=False, slug="picked")
    assert_problem(api.post(f"/api/v1/segments/{segment['id']}/leads", json={"lead_ids": lead_ids}), 422, "lead_ids")


def test_unknown_and_foreign_lead_ids_are_422_and_add_nothing(api, leads, other_org_lead):
    segment = create_segment(api, is_dynamic=False, slug="picked")
    before = row_counts()
    response = api.post(f"/api/v1/segments/{segment['id']}/leads", json={"lead_ids": [leads["home"].id, other_org_lead.id, 987654]})
    body = assert_problem(response, 422, "lead_ids")
    assert str(other_org_lead.id) in body["errors"][0]["message"] and "987654" in body["errors"][0]["message"]
    assert "Beta" not in response.get_data(as_text=True)
    assert row_counts() == before
    assert_problem(api.delete(f"/api/v1/segments/{segment['id']}/leads?lead_ids={other_org_lead.id}"), 422, "lead_ids")


def test_a_leads_segments_are_listed_with_entered_at(api, leads):
    dynamic = create_segment(api)
    static = create_segment(api, name="Picked", slug="picked", is_dynamic=False)
    api.post(f"/api/v1/segments/{static['id']}/leads", json={"lead_ids": [leads["hit"].id]})
    create_segment(api, name="Home", slug="home", rules=[{"field": "insurance_type", "operator": "equals", "value": "home"}])

    body = api.get(f"/api/v1/segments/leads/{leads['hit'].id}").get_json()

    assert body["total"] == 2
    assert {item["id"] for item in body["items"]} == {dynamic["id"], static["id"]}
    by_id = {item["id"]: item for item in body["items"]}
    assert by_id[static["id"]]["added_by"] == "user" and by_id[dynamic["id"]]["added_by"] == "rule"
    assert all(item["entered_at"] for item in body["items"])
    assert api.get(f"/api/v1/segments/leads/{leads['home'].id}").get_json()["total"] == 1


# --- lead changes move leads in and out ----------------------------------------------------------------------------


def test_changing_a_lead_moves_it_in_and_out_of_dynamic_segments_with_events(api, leads):
    seed = create_segment(api)
    home = create_segment(api, name="Home", slug="home", rules=[{"field": "insurance_type", "operator": "equals", "value": "home"}])
    lead = leads["home"]

    api.patch(f"/api/v1/leads/{lead.id}", json={"insurance_type": "auto"})

    assert lead.id in active_member_ids(seed["id"]) and lead.id not in active_member_ids(home["id"])
    timeline = api.get(f"/api/v1/leads/{lead.id}/events").get_json()["items"]
    types = [(e["event_type"], e["data"].get("segment_id")) for e in timeline]
    assert ("segment_entered", seed["id"]) in types and ("segment_exited", home["id"]) in types
    assert api.get(f"/api/v1/segments/{seed['id']}").get_json()["member_count"] == 3
    assert api.get(f"/api/v1/segments/{home['id']}").get_json()["member_count"] == 0

    api.patch(f"/api/v1/leads/{lead.id}", json={"value_estimate": 999})
    assert lead.id not in active_member_ids(seed["id"])
    assert segment_events(seed["id"])[-1] == ("segment_exited", lead.id)


def test_tag_changes_move_leads_through_tag_rules(api, org):
    lead = make_lead(org)
    vip = create_segment(api, name="VIP", slug="vip", rules=[{"field": "tags", "operator": "contains", "value": "VIP"}])
    api.patch(f"/api/v1/leads/{lead.id}", json={"tags": ["vip", "spanish"]})
    assert active_member_ids(vip["id"]) == {lead.id}
    api.patch(f"/api/v1/leads/{lead.id}", json={"tags": ["spanish"]})
    assert active_member_ids(vip["id"]) == set()


def test_bulk_created_leads_enter_dynamic_segments(api):
    seed = create_segment(api)
    rows = [{"first_name": f"L{n}", "insurance_type": "auto", "value_estimate": 1500 + n, "status": "new"} for n in range(30)] + [
        {"first_name": "Home", "insurance_type": "home"}
    ]
    ids = api.post("/api/v1/leads/bulk", json={"leads": rows}).get_json()["ids"]
    assert active_member_ids(seed["id"]) == set(ids[:30])
    assert len(segment_events(seed["id"])) == 30
    assert api.get(f"/api/v1/segments/{seed['id']}").get_json()["member_count"] == 30


def test_static_and_inactive_segments_do_not_follow_lead_changes(api, leads):
    static = create_segment(api, name="Static", slug="static", is_dynamic=False)
    inactive = create_segment(api, name="Paused", slug="paused", is_active=False)
    api.patch(f"/api/v1/leads/{leads['home'].id}", json={"insurance_type": "auto"})
    assert active_member_ids(static["id"]) == set()
    assert active_member_ids(inactive["id"]) == set()


# --- tenancy ---------------------------------------------------------------------------------------------------


def test_another_organizations_segment_is_not_found_anywhere(api, api_as, leads):
    beta_admin = api_as(make_user(make_org("Beta Brokers"), role="admin"))
    theirs = create_segment(beta_admin, is_dynamic=False, slug="theirs")
    url = f"/api/v1/segments/{theirs['id']}"
    before = row_counts()

    for method, path, body in [
        ("GET", url, None),
        ("PUT", url, {"name": "mine now"}),
        ("DELETE", url, None),
        ("POST", url + "/evaluate", None),
        ("POST", url + "/update-memberships", None),
        ("POST", url + "/leads", {"lead_ids": [leads["hit"].id]}),
        ("DELETE", url + "/leads", {"lead_ids": [leads["hit"].id]}),
        ("GET", url + "/leads", None),
    ]:
        response = api.request(method, path, json=body)
        assert_problem(response, 404)
        assert response.get_json()["detail"] == "Not found"

    assert api.get("/api/v1/segments").get_json()["total"] == 0
    assert row_counts() == before


def test_another_organizations_leads_never_count(api, api_as, leads, other_org_lead):
    segment = create_segment(api)
    assert segment["member_count"] == 2
    assert other_org_lead.id not in api.post(f"/api/v1/segments/{segment['id']}/evaluate").get_json()["lead_ids"]
    assert api.post("/api/v1/segments/preview", json={"rules": SEED_RULES}).get_json()["count"] == 2
    assert_problem(api.get(f"/api/v1/segments/leads/{other_org_lead.id}"), 404)

    beta_admin = api_as(make_user(db.session.get(Organization, other_org_lead.organization_id), role="admin"))
    theirs = create_segment(beta_admin)
    assert theirs["member_count"] == 1
    assert active_member_ids(theirs["id"]) == {other_org_lead.id}
