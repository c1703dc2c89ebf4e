"""Versions of an automation's definition (SPEC §15): a run executes the version it started with.

Every save compares the definition (trigger, conditions, goal, first delay, the tree of steps with
their ids) with the latest recorded one; when it differs, the automation's ``version`` goes up and
the definition is recorded. Runs read their version's definition, never the live rows.
"""

from sqlalchemy import Select, select, tuple_

from ..extensions import db
from ..models import Automation, AutomationRun, AutomationVersion, utcnow
from .journey import action_tree


def definition_of(automation: Automation) -> dict:
    """What a run of the automation executes, as it stands now (after a flush: the steps have ids)."""
    return {
        "trigger_type": automation.trigger_type,
        "trigger_configuration": automation.trigger_configuration or {},
        "conditions": automation.conditions or {},
        "goal": automation.goal or {},
        "run_immediately": bool(automation.run_immediately),
        "delay_minutes": automation.delay_minutes or 0,
        "actions": action_tree(automation.actions),
    }


def record_version(automation: Automation) -> bool:
    """Record the definition as a new version if it differs from the latest one; True if it did."""
    db.session.flush()
    definition = definition_of(automation)
    latest = db.session.scalar(
        select(AutomationVersion)
        .where(AutomationVersion.automation_id == automation.id)
        .order_by(AutomationVersion.version.desc())
        .limit(1)
    )
    if latest is not None and latest.definition == definition:
        return False
    if latest is not None:
        automation.version = latest.version + 1
    else:
        automation.version = automation.version or 1
    db.session.add(AutomationVersion(automation_id=automation.id, version=automation.version, definition=definition, created_at=utcnow()))
    db.session.flush()
    return True


def definition_for(run: AutomationRun) -> dict:
    """The definition a run executes: its version's (recorded at the save that made it)."""
    definition = db.session.scalar(
        select(AutomationVersion.definition).where(
            AutomationVersion.automation_id == run.automation_id, AutomationVersion.version == run.version
        )
    )
    if definition is None:  # an automation made without the services (never saved through them)
        record_version(run.automation)
        return definition_of(run.automation)
    return definition


def definitions_for(runs: list[AutomationRun]) -> dict[int, dict]:
    """``definition_for`` of many runs in one query: ``{run_id: definition}``."""
    wanted = {(run.automation_id, run.version) for run in runs}
    rows = db.session.execute(
        select(AutomationVersion.automation_id, AutomationVersion.version, AutomationVersion.definition).where(
            tuple_(AutomationVersion.automation_id, AutomationVersion.version).in_(sorted(wanted))
        )
    )
    found = {(a, v): d for a, v, d in rows}
    return {
        run.id: found[(run.automation_id, run.version)] if (run.automation_id, run.version) in found else definition_for(run)
        for run in runs
    }


def versions_of(automation: Automation) -> Select:
    """The automation's recorded versions, newest first (a select: the API pages through it)."""
    return select(AutomationVersion).where(AutomationVersion.automation_id == automation.id).order_by(AutomationVersion.version.desc())
