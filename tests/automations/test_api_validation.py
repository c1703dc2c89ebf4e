"""Automation bodies: every configuration error is a 422 naming the field, and nothing is saved."""

import pytest
from sqlalchemy import func, select

from tests.automations.helpers import make_automation, step
from tests.factories import make_org, make_user
from webapp.extensions import db
from webapp.models import Automation, AutomationAction

BAD_ACTIONS = [
    (step("teleport"), "actions[0].action_type"),
    (step("send_email"), "actions[0].configuration.template_id"),
    (step("send_email", template_id=999999), "actions[0].configuration.template_id"),
    (step("send_email", template_id=1, to="boss"), "actions[0].configuration.template_id"),
    (step("send_notification", message="hi"), "actions[0].configuration.user_id"),
    (step("send_notification", message="{{ oops", user_id="assignee"), "actions[0].configuration.message"),
    (step("update_lead_status", status="purple"), "actions[0].configuration.status"),
    (step("update_lead_priority"), "actions[0].configuration.priority"),
    (step("assign_lead"), "actions[0].configuration.strategy"),
    (step("assign_lead", user_id=999999), "actions[0].configuration.user_id"),
    (step("assign_lead", strategy="round_robin", role="pilot"), "actions[0].configuration.role"),
    (step("add_tag"), "actions[0].configuration.tag"),
    (step("remove_tag", tag="x" * 51), "actions[0].configuration.tag"),
    (step("create_task", task_type="call"), "actions[0].configuration.title"),
    (step("create_task", title="t", task_type="nap"), "actions[0].configuration.task_type"),
    (step("create_task", title="t", due_date="next week"), "actions[0].configuration.due_date"),
    (step("create_task", title="t", assignee_id=999999), "actions[0].configuration.assignee_id"),
    (step("add_tag", tag="x", colour="red"), "actions[0].configuration.colour"),
    ({"action_type": "add_tag", "configuration": {"tag": "x"}, "delay_minutes": -5}, "actions[0].delay_minutes"),
    (
        step("add_tag", tag="x", conditions={"rules": [{"field": "status", "operator": "equals", "value": "purple"}]}),
        "actions[0].conditions.rules[0].value",
    ),
]


def count(model):
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize(("action", "field"), BAD_ACTIONS)
def test_bad_action_configuration_is_refused_and_nothing_saved(api, org, action, field):
    response = api.post("/api/v1/automations", json={"name": "A", "trigger_type": "lead_created", "actions": [action]})
    assert response.status_code == 422, response.json
    assert response.content_type == "application/problem+json"
    assert field in [e["field"] for e in response.json["errors"]]
    assert count(Automation) == 0 and count(AutomationAction) == 0


BAD_TRIGGERS = [
    ({"trigger_type": "when_it_rains"}, "trigger_type"),
    ({"trigger_type": "segment_entered"}, "trigger_configuration.segment_id"),
    ({"trigger_type": "segment_exited", "trigger_configuration": {"segment_id": 999999}}, "trigger_configuration.segment_id"),
    ({"trigger_type": "time_based", "trigger_configuration": {"schedule": "sometimes"}}, "trigger_configuration.schedule"),
    ({"trigger_type": "lead_status_changed", "trigger_configuration": {"to_status": "purple"}}, "trigger_configuration.to_status"),
    ({"trigger_type": "lead_created", "trigger_configuration": {"segment_id": 1}}, "trigger_configuration.segment_id"),
    ({"trigger_type": "lead_value_changed", "trigger_configuration": {"min_value": "lots"}}, "trigger_configuration.min_value"),
    ({"trigger_type": "lead_assigned", "trigger_configuration": {"user_id": 999999}}, "trigger_configuration.user_id"),
    (
        {"trigger_type": "lead_created", "conditions": {"rules": [{"field": "colour", "operator": "equals", "value": 1}]}},
        "conditions.rules[0].field",
    ),
    ({"trigger_type": "lead_created", "campaign_id": 999999}, "campaign_id"),
    ({"trigger_type": "lead_created", "delay_minutes": "soon"}, "delay_minutes"),
    ({"trigger_type": "lead_created", "favourite": True}, "favourite"),
]


@pytest.mark.parametrize(("body", "field"), BAD_TRIGGERS)
def test_bad_trigger_or_settings_are_refused(api, org, body, field):
    response = api.post("/api/v1/automations", json={"name": "A", **body})
    assert response.status_code == 422, response.json
    assert field in [e["field"] for e in response.json["errors"]]
    assert count(Automation) == 0


def test_missing_name_and_malformed_json(api, org):
    assert api.post("/api/v1/automations", json={"trigger_type": "manual"}).json["errors"][0]["field"] == "name"
    response = api.client.post("/api/v1/automations", data="{nope", headers=api._headers({}))
    assert response.status_code == 400


def test_the_seed_example_is_accepted(api, org, admin):
    template = api.post(
        "/api/v1/automations/email-templates",
        json={
            "name": "Welcome Email",
            "slug": "welcome-email",
            "subject": "Welcome to {{company_name}} Insurance",
            "body_html": "<h1>Welcome {{first_name}}!</h1>",
            "body_text": "Welcome {{first_name}}!",
            "template_type": "marketing",
            "is_active": True,
        },
    ).json
    created = make_automation(
        api,
        name="Welcome Email Automation",
        slug="welcome-email-automation",
        description="Send welcome email to new leads",
        run_immediately=True,
        actions=[
            {
                "action_type": "send_email",
                "action_order": 0,
                "is_active": True,
                "configuration": {"template_id": template["id"], "subject": "Welcome to Our Insurance Services", "personalize": True},
            },
            {
                "action_type": "create_task",
                "action_order": 1,
                "is_active": True,
                "configuration": {
                    "task_type": "follow_up",
                    "title": "Follow up with new lead",
                    "due_date": "2025-12-31",
                    "assignee_id": admin.id,
                },
            },
        ],
    )
    assert created["slug"] == "welcome-email-automation"
    assert [a["action_type"] for a in created["actions"]] == ["send_email", "create_task"]
    assert all(isinstance(a["id"], int) for a in created["actions"])


def test_duplicate_slug_is_a_conflict(api, org):
    make_automation(api, name="Same", slug="same")
    response = api.post("/api/v1/automations", json={"name": "Other", "slug": "same", "trigger_type": "manual"})
    assert response.status_code == 409
    assert count(Automation) == 1


def test_put_keeps_steps_unless_actions_are_given(api, org):
    automation = make_automation(api, actions=[step("add_tag", tag="a"), step("add_tag", tag="b")])
    updated = api.put(f"/api/v1/automations/{automation['id']}", json={"name": "Renamed"}).json
    assert updated["name"] == "Renamed" and len(updated["actions"]) == 2
    replaced = api.put(f"/api/v1/automations/{automation['id']}", json={"actions": [step("remove_tag", tag="a")]}).json
    assert [a["action_type"] for a in replaced["actions"]] == ["remove_tag"]


def test_another_organizations_automation_is_not_found(api, api_as, org):
    automation = make_automation(api, actions=[step("add_tag", tag="a")])
    stranger = api_as(make_user(make_org("Other Co"), role="admin"))
    for method, url in [
        ("GET", f"/api/v1/automations/{automation['id']}"),
        ("PUT", f"/api/v1/automations/{automation['id']}"),
        ("DELETE", f"/api/v1/automations/{automation['id']}"),
        ("POST", f"/api/v1/automations/{automation['id']}/trigger"),
        ("GET", f"/api/v1/automations/{automation['id']}/runs"),
    ]:
        assert stranger.request(method, url, json={}).status_code == 404, (method, url)
    assert stranger.get("/api/v1/automations").json["total"] == 0


def test_viewers_and_agents_cannot_change_automations(api, api_as, org):
    for role in ("viewer", "agent"):
        response = api_as(make_user(org, role=role)).post("/api/v1/automations", json={"name": "A", "trigger_type": "manual"})
        assert response.status_code == 403
