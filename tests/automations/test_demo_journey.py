"""The demo's journey: the four flow actions and a goal, valid by the API's own rules."""

from sqlalchemy import select

from webapp.automations.journey import action_tree, walk_tree
from webapp.automations.services import validate_automation
from webapp.extensions import db
from webapp.models import Automation, Organization


def test_the_demo_seeds_a_journey_with_every_flow_action_and_a_goal(app_ctx):
    app = app_ctx
    result = app.test_cli_runner().invoke(args=["demo", "seed", "--org", "Journey Demo", "--leads", "5"])
    assert result.exit_code == 0, result.output
    org = db.session.scalar(select(Organization).where(Organization.name == "Journey Demo"))
    journey = db.session.scalar(
        select(Automation).where(Automation.organization_id == org.id, Automation.name == "Quote follow-up journey")
    )
    tree = action_tree(journey.actions)
    assert {action["action_type"] for _, action in walk_tree(tree)} >= {"branch", "split", "wait_until", "exit"}
    assert journey.goal["rules"] and journey.is_active and journey.version == 1
    # what the demo saved is what the API would accept
    body = {"name": journey.name, "trigger_type": journey.trigger_type, "goal": journey.goal, "actions": _as_sent(tree)}
    body["trigger_configuration"] = journey.trigger_configuration
    validate_automation(body, org.id, partial=False)


def _as_sent(actions: list[dict]) -> list[dict]:
    return [
        {
            "action_type": a["action_type"],
            "configuration": a["configuration"],
            **({"branches": {name: _as_sent(steps) for name, steps in a["branches"].items()}} if "branches" in a else {}),
        }
        for a in actions
    ]
