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


def flow(action_type, branches=None, delay_minutes=0, **configuration):
    """A flow action (SPEC §15) for ``make_automation``: ``branches`` maps a branch name to its steps."""
    body = step(action_type, delay_minutes, **configuration)
    if branches is not None:
        body["branches"] = branches
    return body


def wait_step(event_type: str, branches: dict, timeout_minutes: int = 60) -> dict:
    """A ``wait_until`` for ``make_automation``: ``branches`` are its ``met`` and ``timed_out`` steps."""
    return flow("wait_until", branches, event_type=event_type, timeout_minutes=timeout_minutes)


def action_id(automation: dict, *location) -> int:
    """The id of the action at ``location`` of an automation as the API returns it: ``(2, "yes", 0)``
    is the first step of the ``yes`` branch of the third top-level step (``journey.action_at``)."""
    from webapp.automations.journey import action_at

    return action_at(automation["actions"], location)["id"]


def run_detail(api, run_id: int) -> dict:
    """``GET /automations/runs/{id}``: the run with its path and its steps in order."""
    response = api.get(f"/api/v1/automations/runs/{run_id}")
    assert response.status_code == 200, response.json
    return response.json


def make_email_template(api, name: str, subject: str) -> int:
    response = api.post(
        "/api/v1/automations/email-templates",
        json={
            "name": name,
            "subject": subject,
            "template_type": "marketing",
            "body_html": f"<p>{name}, {{{{ first_name }}}}</p>",
            "body_text": f"{name}, {{{{ first_name }}}}",
        },
    )
    assert response.status_code == 201, response.json
    return response.json["id"]
