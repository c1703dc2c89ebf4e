"""Helpers for automation tests: create automations through the API, read runs back."""

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import AutomationRun


def make_automation(api, *, trigger_type="lead_created", trigger_configuration=None, actions=(), **fields):
    body = {
        "name": fields.pop("name", f"Automation {trigger_type}"),
        "trigger_type": trigger_type,
        "trigger_configuration": trigger_configuration or {},
        "is_active": fields.pop("is_active", True),
        "actions": list(actions),
        **fields,
    }
    response = api.post("/api/v1/automations", json=body)
    assert response.status_code == 201, response.json
    return response.json


def step(action_type, delay_minutes=0, conditions=None, **configuration):
    body = {"action_type": action_type, "configuration": configuration, "delay_minutes": delay_minutes}
    if conditions:
        body["conditions"] = conditions
    return body


def runs_of(automation_id) -> list[AutomationRun]:
    db.session.expire_all()
    return db.session.scalars(select(AutomationRun).where(AutomationRun.automation_id == automation_id).order_by(AutomationRun.id)).all()
