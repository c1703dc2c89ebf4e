"""Partial updates and ids in bodies: every input the document allows is answered 2xx or 4xx, never 500,
and an update changes only the fields it is given (SPEC §12)."""

import pytest

from tests.factories import make_lead

TOO_BIG = [2147483648, 2**63, 2**70]  # past PostgreSQL's integer column (and SQLite's 64 bits)


@pytest.fixture
def static_segment(api):
    return api.post("/api/v1/segments", json={"name": "Picked", "is_dynamic": False}).json


@pytest.fixture
def automation(api):
    response = api.post(
        "/api/v1/automations",
        json={"name": "Tag", "trigger_type": "lead_created", "actions": [{"action_type": "add_tag", "configuration": {"tag": "x"}}]},
    )
    assert response.status_code == 201, response.json
    return response.json


@pytest.mark.parametrize(
    "rule, field",
    [
        ({"field": "state", "operator": "equals"}, "rules[0].value"),
        ({"field": "state", "value": "TX"}, "rules[0].operator"),
    ],
)
def test_a_rule_that_leaves_out_a_key_is_a_422_on_update_as_on_create(api, static_segment, rule, field):
    response = api.put(f"/api/v1/segments/{static_segment['id']}", json={"rules": [rule]})
    assert response.status_code == 422 and field in {e["field"] for e in response.json["errors"]}
    assert api.post("/api/v1/segments", json={"name": "New", "rules": [rule]}).status_code == 422


def test_a_step_given_without_its_configuration_is_checked_not_a_500(api, automation):
    response = api.put(f"/api/v1/automations/{automation['id']}", json={"actions": [{"action_type": "add_tag"}]})
    assert response.status_code == 422
    assert api.get(f"/api/v1/automations/{automation['id']}").json["actions"][0]["configuration"] == {"tag": "x"}


@pytest.mark.parametrize("too_big", TOO_BIG)
def test_lead_ids_past_the_columns_range_are_unknown_leads(api, org, static_segment, automation, too_big):
    make_lead(org)
    response = api.post(f"/api/v1/segments/{static_segment['id']}/leads", json={"lead_ids": [too_big]})
    assert response.status_code == 422
    for body in ({"lead_id": too_big}, {"lead_ids": [too_big]}):
        assert api.post(f"/api/v1/automations/{automation['id']}/trigger", json=body).status_code in (404, 422)
    assert api.post("/api/v1/automations", json={"name": "C", "trigger_type": "lead_created", "campaign_id": too_big}).status_code == 422


def test_updating_one_field_changes_nothing_else(api):
    lead = api.post("/api/v1/leads", json={"first_name": "Ann", "email": "ann@example.com", "email_opt_out": True}).json
    changed = api.patch(f"/api/v1/leads/{lead['id']}", json={"status": "contacted"}).json
    assert {k: v for k, v in changed.items() if k not in ("status", "updated_at")} == {
        k: v for k, v in lead.items() if k not in ("status", "updated_at")
    }
    assert changed["email_opt_out"] is True
