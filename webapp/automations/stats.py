"""What an automation's runs did (SPEC §15): runs by status, goals reached, and a funnel per step.

Counted from the run and step rows (three grouped queries), for every version: a step keeps its
action's id, so the counts of an action edited in place carry on across versions.
"""

from sqlalchemy import String, cast, func, literal, select

from ..engagement.stats import COUNTS, count_columns
from ..extensions import db
from ..models import Automation, AutomationRun, AutomationRunStep, OutboxMessage
from .journey import action_tree, walk_tree

STEP_COUNTS = ("completed", "skipped", "failed", "waiting")


def automation_stats(automation: Automation) -> dict:
    """``{"runs": {status: n}, "goal_reached": n, "actions": [per action of the current version, in reading order]}``."""
    runs = dict(
        db.session.execute(
            select(AutomationRun.status, func.count()).where(AutomationRun.automation_id == automation.id).group_by(AutomationRun.status)
        ).all()
    )
    per_action = {
        action["id"]: {
            "action_id": action["id"],
            "action_type": action["action_type"],
            "entered": 0,
            **dict.fromkeys(STEP_COUNTS, 0),
            "branches": {},
            "emails": dict.fromkeys(COUNTS, 0),
        }
        for _, action in walk_tree(action_tree(automation.actions))
    }
    steps = select(AutomationRunStep).join(AutomationRun).where(AutomationRun.automation_id == automation.id).subquery()
    branch_taken = steps.c.output["branch"].as_string().label("branch")  # grouped by its label: one expression, one bound key
    for action_id, status, branch, count in db.session.execute(
        select(steps.c.action_id, steps.c.status, branch_taken, func.count()).group_by(steps.c.action_id, steps.c.status, branch_taken)
    ):
        counts = per_action.get(action_id)
        if counts is None:  # an action of an earlier version only
            continue
        counts["entered"] += count
        if status in STEP_COUNTS:
            counts[status] += count
        if branch:
            counts["branches"][branch] = counts["branches"].get(branch, 0) + count
    for row in db.session.execute(
        select(steps.c.action_id, *count_columns())
        .join(OutboxMessage, OutboxMessage.idempotency_key == literal("run-step:") + cast(steps.c.id, String))
        .where(steps.c.action_type == "send_email")
        .group_by(steps.c.action_id)
    ):
        if row.action_id in per_action:
            per_action[row.action_id]["emails"] = {name: getattr(row, name) for name in COUNTS}
    return {"runs": runs, "goal_reached": runs.get("goal_reached", 0), "actions": list(per_action.values())}
