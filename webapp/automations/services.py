"""Saving automations: one validation for the API and the editor, activation, schedules, manual starts."""

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import ConfigDict, Field, PlainValidator
from sqlalchemy import case, func, select

from ..auth.access import MAX_ID
from ..extensions import db
from ..models import (
    Automation,
    AutomationAction,
    AutomationRun,
    Campaign,
    EmailTemplate,
    Lead,
    ScheduledTask,
    Segment,
    User,
    utcnow,
)
from ..models.automations import ACTION_TYPES, TRIGGER_TYPES
from ..models.leads import PRIORITIES, STATUSES
from ..scheduled_tasks.recurrence import RECURRENCE_PATTERN, next_occurrence, validate_recurrence
from ..segments.services import RuleFields
from ..tenancy import ids_in_org
from ..text import MAX_SLUG_LENGTH, slugify
from ..validation import (
    WHITESPACE,
    Conflict,
    RowId,
    StrictModel,
    ValidationFailed,
    at_most,
    documented_as,
    one_of_kinds,
    parse,
    presence_errors,
    text,
)
from .actions import action_json_schemas, check_rule_set, validate_action_configuration
from .conditions import validate_conditions
from .engine import cancel_open_runs, create_runs
from .journey import FLOW_ACTIONS, MAX_DEPTH, branch_names
from .versions import record_version

Name = Annotated[str, Field(min_length=1, max_length=200), at_most(200)]
MAX_MANUAL_LEADS = 1000
Minutes = Annotated[int, Field(ge=0, le=525_600)]


class ConditionsFields(StrictModel):
    """What the document says of a conditions object: segment rules (the same engine checks them,
    ``validate_conditions``), all or any of them."""

    match_all: bool = True
    rules: list[RuleFields] = []


# Checked by validate_conditions (with its own messages); stated as ConditionsFields.
Conditions = Annotated[dict | None, PlainValidator(lambda value: value, json_schema_input_type=ConditionsFields | None)]


class ActionFields(StrictModel):
    """A step as sent; the document states the configuration of each action type (``action_json_schemas``)."""

    model_config = ConfigDict(json_schema_extra=one_of_kinds(action_json_schemas))
    action_type: Annotated[str, documented_as(enum=list(ACTION_TYPES))]
    action_order: Annotated[int, Field(ge=0, le=MAX_ID)] | None = None  # an Integer column
    is_active: bool = True
    configuration: dict = {}
    delay_minutes: Minutes = 0
    conditions: Conditions = None
    branches: Annotated[
        dict[str, list["ActionFields"]] | None,
        Field(description="A flow action's branches, name → steps: yes/no (branch), the variants (split), met/timed_out (wait_until)"),
    ] = None


class GoalFields(StrictModel):
    """Rules that end a lead's run with ``goal_reached`` the moment the lead matches them."""

    match_all_rules: bool = True
    rules: list[RuleFields] = []


class AutomationFields(StrictModel):
    """An automation as sent. The document states per trigger type which configuration it takes
    (``trigger_json_schemas``); the steps' configurations per action type are in ``ActionFields``."""

    model_config = ConfigDict(json_schema_extra=one_of_kinds(lambda: trigger_json_schemas()))
    required_on_create = ("name", "trigger_type")

    name: Name | None = None
    description: text(5000) = None
    slug: text(MAX_SLUG_LENGTH) = None
    trigger_type: Annotated[str, documented_as(enum=list(TRIGGER_TYPES))] | None = None
    trigger_configuration: dict = Field(default={}, json_schema_extra=lambda schema: _any_trigger_configuration(schema))
    conditions: Conditions = None
    is_active: bool = False
    run_immediately: bool = True
    delay_minutes: Minutes = 0
    allow_reentry: bool = False
    campaign_id: RowId | None = None
    goal: Annotated[dict | None, PlainValidator(lambda value: value, json_schema_input_type=GoalFields | None)] = None
    actions: list[ActionFields] | None = None


MAX_WITHIN_MINUTES = 10_080  # 7 days: lead_not_contacted's within_minutes
TRIGGER_KEYS = {
    "lead_created": {},
    "lead_status_changed": {"from_status": STATUSES, "to_status": STATUSES},
    "lead_priority_changed": {"from_priority": PRIORITIES, "to_priority": PRIORITIES},
    "lead_assigned": {"user_id": "user"},
    "lead_value_changed": {"min_value": "number", "max_value": "number", "min_change": "number"},
    "segment_entered": {"segment_id": "segment!"},
    "segment_exited": {"segment_id": "segment!"},
    "email_opened": {"template_id": "template", "automation_id": "automation"},
    "email_clicked": {"template_id": "template", "automation_id": "automation"},
    "lead_not_contacted": {"within_minutes": "minutes!"},  # speed to lead (SPEC §17), started by ``not_contacted``
    "time_based": {"schedule": "schedule!", "segment_id": "segment!"},
    "manual": {},
}


def validate_trigger(trigger_type, config, organization_id: int) -> list[dict]:
    """Errors of a trigger type and its configuration (``trigger_configuration.<key>``)."""
    if trigger_type not in TRIGGER_TYPES:
        return [{"field": "trigger_type", "message": f"must be one of: {', '.join(TRIGGER_TYPES)}"}]
    if not isinstance(config, dict):
        return [{"field": "trigger_configuration", "message": "must be an object"}]
    allowed = TRIGGER_KEYS[trigger_type]
    errors = []
    for key in sorted(set(config) - set(allowed)):
        errors.append({"field": f"trigger_configuration.{key}", "message": f"unknown key for {trigger_type}"})
    for key, kind in allowed.items():
        value = config.get(key)
        message = _check_trigger_value(kind, value, organization_id)
        if message:
            errors.append({"field": f"trigger_configuration.{key}", "message": message})
    return errors


def trigger_json_schemas() -> list[dict]:
    """``TRIGGER_KEYS`` as JSON Schemas for the API document: one per trigger type, with the keys
    its configuration takes (blank or null is "not given"; the ids must exist)."""
    alternatives = []
    for trigger_type, keys in TRIGGER_KEYS.items():
        properties = {key: _trigger_value_schema(kind) for key, kind in keys.items()}
        required = [key for key, kind in keys.items() if isinstance(kind, str) and kind.endswith("!")]
        configuration = {"type": "object", "properties": properties, "required": required, "additionalProperties": False}
        alternatives.append(
            {
                "type": "object",
                "title": "".join(part.title() for part in trigger_type.split("_")) + "Trigger",
                "properties": {"trigger_type": {"type": "string", "const": trigger_type}, "trigger_configuration": configuration},
                "required": ["trigger_type", "trigger_configuration"] if required else ["trigger_type"],
            }
        )
    return alternatives


def _any_trigger_configuration(schema: dict) -> None:
    schema.pop("additionalProperties", None)
    schema.pop("type", None)
    configurations = [alternative["properties"]["trigger_configuration"] for alternative in trigger_json_schemas()]
    schema["anyOf"] = [c for n, c in enumerate(configurations) if c not in configurations[:n]]  # some triggers take the same
    schema["description"] = "The keys of the trigger_type's configuration: of the one sent with it, else of the stored one."


def _trigger_value_schema(kind) -> dict:
    unset = [{"type": "null"}, {"type": "string", "const": ""}]
    if isinstance(kind, tuple):
        return {"anyOf": [{"type": "string", "enum": list(kind)}, *unset]}
    if kind == "number":
        number_text = f"^[{WHITESPACE}]*-?[0-9]{{1,12}}(\\.[0-9]{{1,6}})?[{WHITESPACE}]*$"  # float() strips what str.strip() does
        return {"anyOf": [{"type": "number"}, {"type": "string", "pattern": number_text}, *unset]}
    if kind == "schedule!":
        return {"type": "string", "pattern": RECURRENCE_PATTERN}
    if kind == "minutes!":
        return {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_WITHIN_MINUTES,
            "description": "Minutes after its creation by which a lead must have been contacted (a completed call or email task, "
            "a status change away from new, a sent email); the trigger fires once for each lead that was not.",
        }
    identifier = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    return identifier if kind.endswith("!") else {"anyOf": [identifier, *unset]}


def _check_trigger_value(kind, value, organization_id: int) -> str | None:
    required = isinstance(kind, str) and kind.endswith("!")
    if value in (None, ""):
        return "is required" if required else None
    kind = kind.rstrip("!") if isinstance(kind, str) else kind
    if isinstance(kind, tuple):
        return None if value in kind else f"must be one of: {', '.join(kind)}"
    if kind == "number":
        try:
            Decimal(str(value))  # as the trigger reads it (triggers._number): float() refuses some of str.strip()'s spaces
        except InvalidOperation:
            return "must be a number"
        return None
    if kind == "minutes":
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_WITHIN_MINUTES:
            return f"must be a whole number of minutes from 1 to {MAX_WITHIN_MINUTES} (7 days)"
        return None
    if kind == "schedule":
        return validate_recurrence(str(value)) if isinstance(value, str) else "must be text like 'every 1 days'"
    model = {"segment": Segment, "user": User, "template": EmailTemplate, "automation": Automation}[kind]
    try:
        found = ids_in_org(model, [int(value)], organization_id)
    except (TypeError, ValueError):
        found = set()
    return None if found else f"no such {kind}"


def validate_automation(data: dict, organization_id: int, *, partial: bool) -> dict:
    """Check an automation body; returns the values given (all of them when not partial)."""
    fields = parse(AutomationFields, data)
    values = fields.model_dump(exclude_unset=partial)
    if fields.actions is not None and "actions" in values:  # a given list replaces the steps: each step whole
        values["actions"] = [action.model_dump() for action in fields.actions]
    if "conditions" in values and values["conditions"] is None:
        values["conditions"] = {}  # null: no conditions
    errors = presence_errors(AutomationFields, values, partial=partial)
    if "conditions" in values:
        errors += validate_conditions(values["conditions"], "conditions", organization_id)
    if values.get("campaign_id") is not None and not ids_in_org(Campaign, [values["campaign_id"]], organization_id):
        errors.append({"field": "campaign_id", "message": "no such campaign"})
    if "goal" in values:
        values["goal"] = values["goal"] or {}  # null: no goal
        errors += _goal_errors(values["goal"], organization_id)
    errors += _actions_errors(values.get("actions") or [], organization_id, "actions", depth=1)
    if errors:
        raise ValidationFailed(errors)
    return values


def _goal_errors(goal, organization_id: int) -> list[dict]:
    if not isinstance(goal, dict):
        return [{"field": "goal", "message": "must be an object with match_all_rules and rules"}]
    errors = [{"field": f"goal.{key}", "message": "unknown field"} for key in sorted(set(goal) - {"match_all_rules", "rules"})]
    return errors + [{"field": f"goal.{key}", "message": message} for key, message in check_rule_set(goal, organization_id).items()]


def _actions_errors(actions: list[dict], organization_id: int, prefix: str, depth: int) -> list[dict]:
    """Errors of a list of steps and, below its flow actions, of their branches (``actions[2].branches.yes[0]...``)."""
    errors = []
    for index, action in enumerate(actions):
        here = f"{prefix}[{index}]"
        configuration_errors = validate_action_configuration(action["action_type"], action["configuration"], organization_id, here)
        errors += configuration_errors + validate_conditions(action.get("conditions"), f"{here}.conditions", organization_id)
        branches = action.get("branches")
        if action["action_type"] == "exit" and index < len(actions) - 1:
            errors.append({"field": f"{prefix}[{index + 1}]", "message": "nothing can follow an exit in the same list"})
        if action["action_type"] not in FLOW_ACTIONS or action["action_type"] == "exit":
            if branches:
                errors.append({"field": f"{here}.branches", "message": f"{action['action_type']} has no branches"})
            continue
        if depth > MAX_DEPTH:
            errors.append({"field": here, "message": f"flow actions nest at most {MAX_DEPTH} levels deep"})
            continue
        names = () if configuration_errors else branch_names(action)  # a split's names are its weights, once valid
        for name, steps in (branches or {}).items():
            if names and name not in names:
                message = f"unknown branch: {action['action_type']} has {', '.join(names)}"
                errors.append({"field": f"{here}.branches.{name}", "message": message})
            else:
                errors += _actions_errors(steps, organization_id, f"{here}.branches.{name}", depth + 1)
    return errors


def save_automation(automation: Automation, values: dict) -> dict:
    """Apply validated values (and replace the steps when ``actions`` is given); returns the changes.

    The trigger is checked here, against the automation's current trigger when only one part changes.
    """
    organization_id = automation.organization_id
    trigger_type = values.get("trigger_type") or automation.trigger_type
    config = values.get("trigger_configuration", automation.trigger_configuration or {})
    errors = validate_trigger(trigger_type, config, organization_id)
    if errors:
        raise ValidationFailed(errors)
    if values.get("slug"):  # a slug given is kept as given: taken by another automation is a conflict
        values["slug"] = slugify(values["slug"], "automation")
        if _slug_taken(organization_id, values["slug"], automation.id):
            raise Conflict(f"an automation with the slug '{values['slug']}' exists")
    elif "slug" in values or not automation.slug:  # none given: derived from the name, made unique
        values["slug"] = unique_slug(organization_id, slugify(values.get("name") or automation.name or "", "automation"), automation.id)
    was_active = bool(automation.is_active) and automation.id is not None
    changes = {}
    for name, value in values.items():
        if name == "actions":
            continue
        if getattr(automation, name) != value:
            changes[name] = value
            setattr(automation, name, value)
    if values.get("actions") is not None:
        automation.actions = _action_rows(values["actions"])
        changes["actions"] = len(values["actions"])
    db.session.add(automation)
    db.session.flush()
    if was_active and not automation.is_active:
        changes["cancelled_runs"] = cancel_open_runs(automation)
    sync_schedule(automation)
    if record_version(automation):
        changes["version"] = automation.version
    return changes


def _action_rows(actions: list[dict], parent: AutomationAction | None = None, branch: str | None = None) -> list[AutomationAction]:
    """The rows of a list of steps and, under each flow action, of its branches' steps."""
    rows = []
    for index, values in enumerate(actions):
        row = _action(values, index)
        row.parent, row.branch = parent, branch
        rows.append(row)
        for name, steps in (values.get("branches") or {}).items():
            rows += _action_rows(steps, row, name)
    return rows


def _action(values: dict, index: int) -> AutomationAction:
    order = values.get("action_order")
    return AutomationAction(
        action_type=values["action_type"],
        action_order=index if order is None else order,
        is_active=values.get("is_active", True),
        configuration=values.get("configuration") or {},
        delay_minutes=values.get("delay_minutes") or 0,
        conditions=values.get("conditions") or {},
    )


def unique_slug(organization_id: int, slug: str, automation_id: int | None = None) -> str:
    """``slug``, or ``slug-2``, ``slug-3``… : the first that no other automation of the organization has."""
    taken = set(
        db.session.scalars(
            select(Automation.slug).where(
                Automation.organization_id == organization_id,
                Automation.slug.startswith(slug),
                Automation.id != (automation_id or 0),
            )
        )
    )
    candidate, number = slug, 1
    while candidate in taken:
        number += 1
        suffix = f"-{number}"
        candidate = slug[: MAX_SLUG_LENGTH - len(suffix)].rstrip("-") + suffix
    return candidate


def _slug_taken(organization_id: int, slug: str, automation_id: int | None) -> bool:
    query = select(Automation.id).where(Automation.organization_id == organization_id, Automation.slug == slug)
    if automation_id:
        query = query.where(Automation.id != automation_id)
    return db.session.scalar(query) is not None


def delete_automation(automation: Automation) -> None:
    cancel_open_runs(automation)
    automation.is_active = False
    sync_schedule(automation)
    db.session.delete(automation)


def sync_schedule(automation: Automation) -> None:
    """A time_based automation that is active has exactly one recurring task; any other has none."""
    tasks = db.session.scalars(
        select(ScheduledTask).where(
            ScheduledTask.organization_id == automation.organization_id,
            ScheduledTask.task_type == "recurring_campaign",
            ScheduledTask.status.in_(("pending", "retry_scheduled", "running")),
        )
    ).all()
    mine = [t for t in tasks if (t.payload or {}).get("automation_id") == automation.id]
    wanted = automation.is_active and automation.trigger_type == "time_based"
    schedule = (automation.trigger_configuration or {}).get("schedule")
    for task in mine:
        if not wanted or task.recurrence != schedule:
            task.status = "cancelled"
    if wanted and not any(t.recurrence == schedule and t.status != "cancelled" for t in mine):
        db.session.add(
            ScheduledTask(
                organization_id=automation.organization_id,
                task_type="recurring_campaign",
                name=f"{automation.name} (schedule)",
                payload={"automation_id": automation.id},
                recurrence=schedule,
                scheduled_for=next_occurrence(schedule, utcnow()),
                priority=50,
                status="pending",
                attempts=0,
                attempt_history=[],
            )
        )


def start_manually(automation: Automation, lead_ids: list[int]) -> list[int]:
    """Start the automation by hand for leads of its organization (each once, at most
    ``MAX_MANUAL_LEADS``); returns the ids of the runs started. ValidationFailed names ``lead_ids``."""
    lead_ids = list(dict.fromkeys(lead_ids))
    if not lead_ids:
        raise ValidationFailed([{"field": "lead_ids", "message": "give lead_id or lead_ids"}])
    if len(lead_ids) > MAX_MANUAL_LEADS:
        raise ValidationFailed([{"field": "lead_ids", "message": f"at most {MAX_MANUAL_LEADS} leads at once"}])
    foreign = sorted(set(lead_ids) - ids_in_org(Lead, lead_ids, automation.organization_id))
    if foreign:
        raise ValidationFailed([{"field": "lead_ids", "message": f"no such lead: {', '.join(map(str, foreign[:20]))}"}])
    return create_runs(automation.organization_id, [(automation, lead_id, None) for lead_id in lead_ids], manual=True)


# --- what the pages and the API read ----------------------------------------------------------------


def automations_with_stats(organization_id: int, since: datetime) -> tuple[list[Automation], dict]:
    """The organization's automations by name, and per automation ``(runs, failed runs)`` since ``since``."""
    stats = {
        row[0]: row[1:]
        for row in db.session.execute(
            select(AutomationRun.automation_id, func.count(), func.sum(case((AutomationRun.status == "failed", 1), else_=0)))
            .where(AutomationRun.organization_id == organization_id, AutomationRun.created_at >= since)
            .group_by(AutomationRun.automation_id)
        )
    }
    automations = db.session.scalars(
        select(Automation).where(Automation.organization_id == organization_id).order_by(Automation.name)
    ).all()
    return automations, stats


def recent_runs(automation: Automation, limit: int = 25) -> list[AutomationRun]:
    """The automation's latest runs, newest first (the editor's run list)."""
    return db.session.scalars(
        select(AutomationRun)
        .where(AutomationRun.organization_id == automation.organization_id, AutomationRun.automation_id == automation.id)
        .order_by(AutomationRun.id.desc())
        .limit(limit)
    ).all()


def runs_by_id(organization_id: int, run_ids: list[int]) -> list[AutomationRun]:
    """These runs of the organization, in id order (what a manual start reports)."""
    return db.session.scalars(
        select(AutomationRun)
        .where(AutomationRun.organization_id == organization_id, AutomationRun.id.in_(run_ids))
        .order_by(AutomationRun.id)
    ).all()


def picker_rows(organization_id: int, kind: str) -> list:
    """What one of the editor's pickers offers, by name: ``segments``, ``users`` (active ones), ``templates`` or ``automations``."""
    model, *criteria = {
        "segments": (Segment,),
        "users": (User, User.is_active.is_(True)),
        "templates": (EmailTemplate,),
        "automations": (Automation,),
    }[kind]
    return db.session.scalars(select(model).where(model.organization_id == organization_id, *criteria).order_by(model.name)).all()


def lead_by_reference(organization_id: int, reference: str) -> Lead | None:
    """The organization's lead with this id (``"42"`` or ``"#42"``), or None."""
    reference = reference.strip().lstrip("#")
    if not reference.isdigit() or not 0 < int(reference) <= MAX_ID:
        return None
    return db.session.scalar(select(Lead).where(Lead.organization_id == organization_id, Lead.id == int(reference)))


# --- step editing (the editor changes one step of the tree at a time) ---------------------------------
# A step's place is its list (``parent_id`` and ``branch``: None and None for the top-level list) and
# its index in that list; ``action_order`` is renumbered 0..n-1 within each list after every change.


def step_values(action: AutomationAction) -> dict:
    return {
        "action_type": action.action_type,
        "action_order": action.action_order,
        "is_active": action.is_active,
        "configuration": dict(action.configuration or {}),
        "delay_minutes": action.delay_minutes,
        "conditions": action.conditions or {},
    }


def check_step(automation: Automation, values: dict) -> None:
    """Raise ValidationFailed (fields ``configuration.<key>``, ``delay_minutes``) for a step's values."""
    errors = validate_action_configuration(values["action_type"], values["configuration"], automation.organization_id, "step")
    errors += validate_conditions(values.get("conditions"), "step.conditions", automation.organization_id)
    delay = values.get("delay_minutes")
    if not isinstance(delay, int) or not 0 <= delay <= 525_600:
        errors.append({"field": "step.delay_minutes", "message": "must be a whole number of minutes (0 to 525600)"})
    if errors:
        raise ValidationFailed([{**e, "field": e["field"].removeprefix("step.")} for e in errors])


def siblings_of(automation: Automation, parent_id: int | None, branch: str | None) -> list[AutomationAction]:
    """The steps of one list of the tree, in order."""
    return sorted(
        (a for a in automation.actions if a.parent_id == parent_id and (a.branch if parent_id else None) == branch),
        key=lambda a: (a.action_order, a.id or 0),
    )


def subtree(automation: Automation, action: AutomationAction) -> list[AutomationAction]:
    """The step and every step in its branches (at any depth)."""
    found, frontier = [action], [action.id]
    while frontier:
        children = [a for a in automation.actions if a.parent_id in frontier]
        found += children
        frontier = [a.id for a in children]
    return found


def list_depth(automation: Automation, parent_id: int | None) -> int:
    """The level of a list: 1 for the top-level list, 2 inside a top-level flow action's branch…"""
    by_id = {a.id: a for a in automation.actions}
    depth = 1
    while parent_id is not None:
        depth += 1
        parent_id = by_id[parent_id].parent_id if parent_id in by_id else None
    return depth


def _place_errors(automation: Automation, action_type: str, parent: AutomationAction | None, branch: str | None, steps) -> list[dict]:
    """What is wrong with a list of steps once ``action_type`` sits in it: the branch, the depth, an exit's place."""
    if parent is not None:
        names = branch_names({"action_type": parent.action_type, "configuration": parent.configuration or {}})
        if branch not in names:
            return [{"field": "branch", "message": f"unknown branch: {parent.action_type} has {', '.join(names) or 'no branches'}"}]
    if action_type in FLOW_ACTIONS and action_type != "exit" and list_depth(automation, parent.id if parent else None) > MAX_DEPTH:
        return [{"field": "position", "message": f"flow actions nest at most {MAX_DEPTH} levels deep"}]
    if any(step.action_type == "exit" for step in steps[:-1]):
        return [{"field": "position", "message": "nothing can follow an exit in the same list"}]
    return []


def _renumber(steps: list[AutomationAction]) -> None:
    for order, step in enumerate(steps):
        step.action_order = order


def add_step(
    automation: Automation,
    values: dict,
    parent: AutomationAction | None = None,
    branch: str | None = None,
    position: int | None = None,
) -> AutomationAction:
    """Insert a step into a list of the tree (the top-level one, or ``branch`` of the flow action
    ``parent``) at ``position`` (None: at the end); records a version."""
    check_step(automation, values)
    steps = siblings_of(automation, parent.id if parent else None, branch)
    position = len(steps) if position is None else max(0, min(len(steps), position))
    action = _action(values, position)
    steps.insert(position, action)
    errors = _place_errors(automation, action.action_type, parent, branch, steps)
    if errors:
        raise ValidationFailed(errors)
    action.parent, action.branch = parent, branch if parent else None
    automation.actions.append(action)
    _renumber(steps)
    db.session.flush()
    record_version(automation)
    return action


def update_step(automation: Automation, action: AutomationAction, values: dict) -> None:
    """Change a step's configuration, wait or state; a split keeps every variant that has steps."""
    merged = {**step_values(action), **values}
    check_step(automation, merged)
    if action.action_type == "split":
        kept = set(merged["configuration"].get("weights") or {})
        orphaned = sorted({a.branch for a in automation.actions if a.parent_id == action.id} - kept)
        if orphaned:
            message = f"the variant {', '.join(orphaned)} has steps: delete or move them before removing the variant"
            raise ValidationFailed([{"field": "configuration.weights", "message": message}])
    for name, value in values.items():
        setattr(action, name, value)
    record_version(automation)


def move_step(automation: Automation, action: AutomationAction, offset: int) -> None:
    """Move a step up (-1) or down (+1) among the steps of its list (with its branches)."""
    steps = siblings_of(automation, action.parent_id, action.branch)
    index = steps.index(action)
    target = max(0, min(len(steps) - 1, index + offset))
    steps.insert(target, steps.pop(index))
    errors = _place_errors(automation, "", None, None, steps)
    if errors:
        raise ValidationFailed(errors)
    _renumber(steps)
    automation.actions.sort(key=lambda s: s.action_order)
    record_version(automation)


def delete_step(automation: Automation, action: AutomationAction) -> int:
    """Delete a step and, for a flow action, every step of its branches; returns how many went."""
    gone = subtree(automation, action)
    parent_id, branch = action.parent_id, action.branch
    for step in reversed(gone):  # the deepest first
        automation.actions.remove(step)
    db.session.flush()
    _renumber(siblings_of(automation, parent_id, branch))
    record_version(automation)
    return len(gone)
