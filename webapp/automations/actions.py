"""The eight actions: one small executor each, with the validation of its configuration.

An executor gets the step's configuration and a ``StepContext`` and returns its output (a dict
shown in the run history). It changes rows in the current transaction, which commits together with
the step's status; its idempotency key (``context.key``) guards effects that leave the database.
"""

import re
from dataclasses import dataclass
from datetime import date, timedelta

from pydantic import ValidationError
from sqlalchemy import func, select

from ..batching import in_batch, memo, with_new_id
from ..extensions import db
from ..leads.services import update_lead
from ..models import AutomationRun, AutomationRunStep, Lead, Notification, Task, User, utcnow
from ..models.base import MAX_ID
from ..models.leads import LEAD_EVENT_TYPES, MAX_TAG_LENGTH, PRIORITIES, STATUSES
from ..models.org import ROLES
from ..models.tasks import TASK_TYPES
from ..segments.services import RuleFields
from ..tasks.services import create_task, due_at_of
from ..tenancy import ids_in_org
from ..validation import ValidationFailed, errors_from_pydantic, iso_date, normalise_tag
from . import contact_gate
from .journey import MAX_DEPTH

MAX_VARIANTS = 5
VARIANT_NAME = re.compile(r"[a-z0-9_]{1,40}")
MAX_WAIT_MINUTES = 43_200  # 30 days


class ActionError(Exception):
    """A step that cannot succeed as configured; ``permanent`` ones are not retried."""

    def __init__(self, message: str, permanent: bool = True):
        super().__init__(message)
        self.permanent = permanent


@dataclass
class StepContext:
    run: AutomationRun
    step: AutomationRunStep
    lead: Lead

    @property
    def key(self) -> str:
        return self.step.idempotency_key

    @property
    def organization_id(self) -> int:
        return self.run.organization_id


# --- executors ----------------------------------------------------------------------------------


def send_email_action(config: dict, ctx: StepContext) -> dict:
    """Queue the template's email, unless the contactability check blocks it (``contact_gate``: the
    output says why, and whether the step is deferred or skipped)."""
    from ..email_templates.delivery import queue_email

    to = config.get("to", "lead")
    if to == "assignee" and ctx.lead.assigned_to_id is None:
        return {"skipped": True, "reason": "the lead has no assignee"}
    template = _email_template(int(config["template_id"]), ctx.organization_id)
    if template is not None and (blocked := contact_gate.check_email_step(config, ctx.lead, template.template_type)):
        return blocked
    return queue_email(
        organization_id=ctx.organization_id,
        template_id=int(config["template_id"]),
        lead_id=ctx.lead.id,
        idempotency_key=ctx.key,
        subject_override=config.get("subject"),
        to=to,
        personalize=config.get("personalize", True),
        automation_run_id=ctx.run.id,
    )


def _email_template(template_id: int, organization_id: int):
    """The step's template, read once per batch (the same memo as ``queue_email``'s)."""
    from ..models import EmailTemplate

    def load():  # the query is built only when the batch has not read the template yet
        return db.session.scalar(
            select(EmailTemplate).where(EmailTemplate.id == template_id, EmailTemplate.organization_id == organization_id)
        )

    return memo(("email_template", template_id, organization_id), load)


def send_notification_action(config: dict, ctx: StepContext) -> dict:
    from ..email_templates.delivery import lead_template_context
    from ..email_templates.rendering import TemplateRenderError, render_text

    user_id = ctx.lead.assigned_to_id if config["user_id"] == "assignee" else int(config["user_id"])
    if user_id is None:
        return {"skipped": True, "reason": "the lead has no assignee"}
    try:
        message = render_text(config["message"], lead_template_context(ctx.lead))
    except TemplateRenderError as exc:
        raise ActionError(f"message: {exc}") from None
    notification = Notification(organization_id=ctx.organization_id, user_id=user_id, message=message[:1000], link=f"/leads/{ctx.lead.id}")
    with_new_id(notification)
    return {"notification_id": notification.id, "user_id": user_id, "message": message[:200]}


def update_lead_status_action(config: dict, ctx: StepContext) -> dict:
    old = ctx.lead.status
    update_lead(ctx.lead, {"status": config["status"]})
    return {"old": old, "new": ctx.lead.status}


def update_lead_priority_action(config: dict, ctx: StepContext) -> dict:
    old = ctx.lead.priority
    update_lead(ctx.lead, {"priority": config["priority"]})
    return {"old": old, "new": ctx.lead.priority}


def assign_lead_action(config: dict, ctx: StepContext) -> dict:
    if config.get("user_id"):
        user_id = int(config["user_id"])
    else:
        user_id = _pick_user(ctx, config["strategy"], config.get("role", "agent"))
        if user_id is None:
            raise ActionError(f"no active {config.get('role', 'agent')} to assign to", permanent=False)
    old = ctx.lead.assigned_to_id
    update_lead(ctx.lead, {"assigned_to_id": user_id})
    return {"old": old, "assigned_to_id": user_id}


def _pick_user(ctx: StepContext, strategy: str, role: str) -> int | None:
    users = db.session.scalars(
        select(User.id).where(User.organization_id == ctx.organization_id, User.role == role, User.is_active.is_(True)).order_by(User.id)
    ).all()
    if not users:
        return None
    if strategy == "round_robin":
        # The n-th assignment made by this step of this automation goes to the n-th user, in turn.
        done = db.session.scalar(
            select(func.count())
            .select_from(AutomationRunStep)
            .where(AutomationRunStep.action_id == ctx.step.action_id, AutomationRunStep.status == "completed")
        )
        return users[done % len(users)]
    load = dict(
        db.session.execute(
            select(Lead.assigned_to_id, func.count())
            .where(Lead.organization_id == ctx.organization_id, Lead.assigned_to_id.in_(users), Lead.status.notin_(("converted", "lost")))
            .group_by(Lead.assigned_to_id)
        ).all()
    )
    return min(users, key=lambda u: (load.get(u, 0), u))


def add_tag_action(config: dict, ctx: StepContext) -> dict:
    tag = normalise_tag(config["tag"])
    update_lead(ctx.lead, {"tags": sorted(set(ctx.lead.tags) | {tag})})
    return {"tag": tag}


def remove_tag_action(config: dict, ctx: StepContext) -> dict:
    tag = normalise_tag(config["tag"])
    update_lead(ctx.lead, {"tags": sorted(set(ctx.lead.tags) - {tag})})
    return {"tag": tag}


def create_task_action(config: dict, ctx: StepContext) -> dict:
    """Create the agent's task; a call obeys the contactability check on the phone channel (``contact_gate``)."""
    existing = None if in_batch() else db.session.scalar(select(Task).where(Task.idempotency_key == ctx.key))
    if existing is not None:
        return {"task_id": existing.id, "duplicate": True}
    if blocked := contact_gate.check_task_step(config, ctx.lead):
        return blocked
    if config.get("due_date"):
        due = date.fromisoformat(str(config["due_date"]))
    else:
        due = utcnow().date() + timedelta(days=int(config.get("due_in_days", 1)))
    values = {
        "task_type": config.get("task_type", "follow_up"),
        "title": config["title"],
        "due_at": due_at_of(due),
        "assignee_id": int(config["assignee_id"]) if config.get("assignee_id") else ctx.lead.assigned_to_id,
    }
    try:
        task = create_task(ctx.lead, values, idempotency_key=ctx.key)
    except ValidationFailed as exc:  # the title does not render for this lead
        raise ActionError("; ".join(f"{e['field']}: {e['message']}" for e in exc.errors)) from None
    return {"task_id": task.id, "title": task.title, "due_date": due.isoformat(), "assignee_id": task.assignee_id}


# --- configuration checks -----------------------------------------------------------------------


def _required(config: dict, key: str) -> list[str]:
    return [key] if config.get(key) in (None, "") else []


def check_send_email(config: dict, organization_id: int) -> dict:
    from ..models import EmailTemplate

    errors = {k: "is required" for k in _required(config, "template_id")}
    if "template_id" not in errors and not ids_in_org(EmailTemplate, [_int(config["template_id"])], organization_id):
        errors["template_id"] = "no such email template"
    if config.get("to", "lead") not in ("lead", "assignee"):
        errors["to"] = "must be 'lead' or 'assignee'"
    if not isinstance(config.get("personalize", True), bool):
        errors["personalize"] = "must be true or false"
    if config.get("subject") is not None and not isinstance(config["subject"], str):
        errors["subject"] = "must be text"
    errors.update(contact_gate.check_when_blocked(config))
    return errors


def check_send_notification(config: dict, organization_id: int) -> dict:
    from ..email_templates.rendering import check_syntax

    errors = {k: "is required" for k in _required(config, "message") + _required(config, "user_id")}
    if "message" not in errors:
        problem = check_syntax(str(config["message"]))
        if problem:
            errors["message"] = problem
    if "user_id" not in errors and config["user_id"] != "assignee":
        errors.update(_check_user(config["user_id"], organization_id, "user_id"))
    return errors


def check_choice(key: str, choices: tuple):
    def check(config: dict, organization_id: int) -> dict:
        if config.get(key) in (None, ""):
            return {key: "is required"}
        if config[key] not in choices:
            return {key: f"must be one of: {', '.join(choices)}"}
        return {}

    return check


def check_assign_lead(config: dict, organization_id: int) -> dict:
    if config.get("user_id") not in (None, ""):
        return _check_user(config["user_id"], organization_id, "user_id")
    if config.get("strategy") not in ("round_robin", "least_loaded"):
        return {"strategy": "give a user_id, or a strategy: round_robin or least_loaded"}
    if config.get("role", "agent") not in ROLES:
        return {"role": f"must be one of: {', '.join(ROLES)}"}
    return {}


def check_tag(config: dict, organization_id: int) -> dict:
    tag = config.get("tag")
    if not isinstance(tag, str) or not tag.strip():
        return {"tag": "is required"}
    try:
        normalise_tag(tag)
    except ValueError as exc:
        return {"tag": str(exc)}
    return {}


def check_create_task(config: dict, organization_id: int) -> dict:
    from ..email_templates.rendering import check_syntax

    errors = {k: "is required" for k in _required(config, "title")}
    if "title" not in errors and (problem := check_syntax(str(config["title"]))):
        errors["title"] = problem
    if config.get("task_type", "follow_up") not in TASK_TYPES:
        errors["task_type"] = f"must be one of: {', '.join(TASK_TYPES)}"
    if config.get("due_date") not in (None, ""):
        try:
            date.fromisoformat(str(config["due_date"]))
        except ValueError:
            errors["due_date"] = "must be a date like 2025-12-31"
    if config.get("due_in_days") not in (None, ""):
        days = _int(config["due_in_days"])
        if days is None or not 0 <= days <= 3650:
            errors["due_in_days"] = "must be a whole number of days between 0 and 3650"
    if config.get("assignee_id") not in (None, ""):
        errors.update(_check_user(config["assignee_id"], organization_id, "assignee_id"))
    errors.update(contact_gate.check_when_blocked(config))
    return errors


# --- flow actions (SPEC §15): the engine follows them (``journey``); their configurations are checked here


def check_rule_set(config: dict, organization_id: int | None = None) -> dict:
    """``match_all_rules`` and ``rules`` in the segment rule format: a branch's, a wait's, a goal's
    (with the organization, the templates and automations activity rules name must be its own)."""
    from ..segments.rules import validate_rules
    from ..segments.services import rule_references

    errors = {}
    if not isinstance(config.get("match_all_rules", True), bool):
        errors["match_all_rules"] = "must be true or false"
    _, rule_errors = validate_rules(config.get("rules", []), rule_references(organization_id) if organization_id is not None else None)
    errors.update({error["field"]: error["message"] for error in rule_errors})
    for index, rule in enumerate(config.get("rules") if isinstance(config.get("rules"), list) else []):
        try:  # a rule's other keys (unknown ones, position) as a segment's rules are read: validate_rules ignores them
            RuleFields.model_validate(rule)
        except ValidationError as exc:
            for error in errors_from_pydantic(exc, f"rules[{index}]"):
                if error["field"].rsplit(".", 1)[-1] not in ("field", "operator", "value"):
                    errors.setdefault(error["field"], error["message"])
    return errors


def check_branch(config: dict, organization_id: int) -> dict:
    if not config.get("rules"):
        return {"rules": "give at least one rule: the lead goes to yes when they hold, else to no"}
    return check_rule_set(config, organization_id)


def check_split(config: dict, organization_id: int) -> dict:
    weights = config.get("weights")
    if not isinstance(weights, dict) or not 2 <= len(weights) <= MAX_VARIANTS:
        return {"weights": f'give 2 to {MAX_VARIANTS} variants with their weights, like {{"a": 50, "b": 50}}'}
    for name, weight in weights.items():
        if not VARIANT_NAME.fullmatch(name):
            return {"weights": f"'{name}': a variant's name is 1 to 40 lower-case letters, digits or _"}
        if not isinstance(weight, int) or isinstance(weight, bool) or not 1 <= weight <= 99:
            return {f"weights.{name}": "must be a whole number from 1 to 99"}
    if sum(weights.values()) != 100:
        return {"weights": f"the weights must sum to 100 (they sum to {sum(weights.values())})"}
    return {}


def check_wait_until(config: dict, organization_id: int) -> dict:
    errors = check_rule_set(config, organization_id)
    if config.get("event_type") not in LEAD_EVENT_TYPES:
        errors["event_type"] = f"must be one of: {', '.join(LEAD_EVENT_TYPES)}"
    timeout = config.get("timeout_minutes")
    if timeout in (None, ""):
        errors["timeout_minutes"] = f"is required: how long to wait, 1 to {MAX_WAIT_MINUTES} minutes"
    elif not isinstance(timeout, int) or isinstance(timeout, bool) or not 1 <= timeout <= MAX_WAIT_MINUTES:
        errors["timeout_minutes"] = f"must be a whole number of minutes from 1 to {MAX_WAIT_MINUTES}"
    return errors


def check_exit(config: dict, organization_id: int) -> dict:
    reason = config.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 500):
        return {"reason": "must be text of at most 500 characters"}
    return {}


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _check_user(value, organization_id: int, key: str) -> dict:
    user_id = _int(value)
    if user_id is None or not ids_in_org(User, [user_id], organization_id):
        return {key: "no such user"}
    return {}


ACTIONS = {
    # action_type: (executor, configuration check, allowed keys)
    "send_email": (send_email_action, check_send_email, {"template_id", "subject", "personalize", "to", "when_blocked"}),
    "send_notification": (send_notification_action, check_send_notification, {"message", "user_id"}),
    "update_lead_status": (update_lead_status_action, check_choice("status", STATUSES), {"status"}),
    "update_lead_priority": (update_lead_priority_action, check_choice("priority", PRIORITIES), {"priority"}),
    "assign_lead": (assign_lead_action, check_assign_lead, {"user_id", "strategy", "role"}),
    "add_tag": (add_tag_action, check_tag, {"tag"}),
    "remove_tag": (remove_tag_action, check_tag, {"tag"}),
    "create_task": (
        create_task_action,
        check_create_task,
        {"task_type", "title", "due_date", "due_in_days", "assignee_id", "when_blocked"},
    ),
    # flow actions have no executor: the engine decides their branch (``journey.decide``)
    "branch": (None, check_branch, {"match_all_rules", "rules"}),
    "split": (None, check_split, {"weights"}),
    "wait_until": (None, check_wait_until, {"event_type", "match_all_rules", "rules", "timeout_minutes"}),
    "exit": (None, check_exit, {"reason"}),
}


_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
_TEXT = {"type": "string", "pattern": r"\S"}
_TAG = {"type": "string", "maxLength": MAX_TAG_LENGTH, "pattern": r"\S"}
_WHEN_BLOCKED = {
    "type": "string",
    "enum": list(contact_gate.WHEN_BLOCKED),
    "description": "When the contactability check blocks the step (an email to the lead, a call task): defer it until contact "
    "is allowed, or skip it. Left out: the contact policy's when_blocked. A block that does not pass with time is a skip.",
}
_TEMPLATE_TEXT = {**_TEXT, "description": "Rendered for the lead like an email's variables, e.g. Call {{ first_name }}"}


def _configuration(properties: dict, required: tuple[str, ...] = (), **more) -> dict:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False, **more}


# A branch's, a wait's and a goal's rules are the segment rule format (SPEC §5); a branch holds steps.
# Named by their models: the API document refers to the models' schemas (``api.docs``; pydantic
# cannot follow a "$ref" written in a schema's extra).
_RULE = {"$model": RuleFields.__name__}
_STEP = {"$model": "ActionFields"}
_RULE_SET = {"match_all_rules": {"type": "boolean"}, "rules": {"type": "array", "items": _RULE}}
_DEPTH = f"Flow actions nest at most {MAX_DEPTH} levels deep (a flow action of the top-level list is level 1)."


def _branches(names: tuple[str, ...] | None, description: str) -> dict:
    """A flow action's ``branches``: each name (any variant name when ``names`` is None) → its steps."""
    steps = {"type": "array", "items": _STEP}
    if names is None:
        by_name = {"propertyNames": {"pattern": f"^{VARIANT_NAME.pattern}$"}, "maxProperties": MAX_VARIANTS, "additionalProperties": steps}
    else:
        by_name = {"properties": dict.fromkeys(names, steps), "additionalProperties": False}
    return {"anyOf": [{"type": "object", **by_name}, {"type": "null"}], "description": f"{description} {_DEPTH}"}


_NO_BRANCHES = {"anyOf": [{"type": "object", "maxProperties": 0}, {"type": "null"}], "description": "Only flow actions have branches"}
_EXIT_BRANCHES = {
    **_NO_BRANCHES,
    "description": "An exit ends the run: it has no branches and is the last step of its list (422 otherwise)",
}
BRANCHES_SCHEMAS = {
    "branch": _branches(("yes", "no"), "yes: the lead matches the rules; no: it does not."),
    "split": _branches(None, "One list of steps per variant: the names of the weights."),
    "wait_until": _branches(("met", "timed_out"), "met: the event came (and the rules hold); timed_out: it did not in time."),
    "exit": _EXIT_BRANCHES,
}

# What each check above accepts, for the API document (which ids exist aside).
CONFIGURATION_SCHEMAS = {
    "send_email": _configuration(
        {
            "template_id": _ID,
            "subject": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "personalize": {"type": "boolean"},
            "to": {"type": "string", "enum": ["lead", "assignee"]},
            "when_blocked": _WHEN_BLOCKED,
        },
        ("template_id",),
    ),
    "send_notification": _configuration(
        {"message": _TEMPLATE_TEXT, "user_id": {"anyOf": [_ID, {"type": "string", "const": "assignee"}]}}, ("message", "user_id")
    ),
    "update_lead_status": _configuration({"status": {"type": "string", "enum": list(STATUSES)}}, ("status",)),
    "update_lead_priority": _configuration({"priority": {"type": "string", "enum": list(PRIORITIES)}}, ("priority",)),
    "assign_lead": _configuration(
        {
            "user_id": _ID,
            "strategy": {"type": "string", "enum": ["round_robin", "least_loaded"]},
            "role": {"type": "string", "enum": list(ROLES)},
        },
        anyOf=[{"required": ["user_id"]}, {"required": ["strategy"]}],
    ),
    "add_tag": _configuration({"tag": _TAG}, ("tag",)),
    "remove_tag": _configuration({"tag": _TAG}, ("tag",)),
    "create_task": _configuration(
        {
            "title": _TEMPLATE_TEXT,
            "task_type": {"type": "string", "enum": list(TASK_TYPES)},
            "due_date": {"type": "string", "format": "date", "pattern": f"^{iso_date()}$"},
            "due_in_days": {"type": "integer", "minimum": 0, "maximum": 3650},
            "assignee_id": _ID,
            "when_blocked": _WHEN_BLOCKED,
        },
        ("title",),
    ),
    "branch": _configuration({**_RULE_SET, "rules": {**_RULE_SET["rules"], "minItems": 1}}, ("rules",)),
    "split": _configuration(
        {
            "weights": {
                "type": "object",
                "minProperties": 2,
                "maxProperties": MAX_VARIANTS,
                "propertyNames": {"pattern": f"^{VARIANT_NAME.pattern}$"},
                "additionalProperties": {"type": "integer", "minimum": 1, "maximum": 99},
                "description": "Variant name → weight; the weights sum to 100 (422 otherwise)",
            }
        },
        ("weights",),
    ),
    "wait_until": _configuration(
        {
            "event_type": {"type": "string", "enum": list(LEAD_EVENT_TYPES)},
            "timeout_minutes": {"type": "integer", "minimum": 1, "maximum": MAX_WAIT_MINUTES},
            **_RULE_SET,
        },
        ("event_type", "timeout_minutes"),
    ),
    "exit": _configuration({"reason": {"type": "string", "maxLength": 500}}),
}


def action_json_schemas() -> list[dict]:
    """One JSON Schema per action type: the step's ``action_type`` with the configuration and branches it takes."""
    return [
        {
            "type": "object",
            "title": "".join(part.title() for part in action_type.split("_")) + "Step",
            "properties": {
                "action_type": {"type": "string", "const": action_type},
                "configuration": schema,
                "branches": BRANCHES_SCHEMAS.get(action_type, _NO_BRANCHES),
            },
            "required": ["action_type", "configuration"],
        }
        for action_type, schema in CONFIGURATION_SCHEMAS.items()
    ]


def validate_action_configuration(action_type: str, config, organization_id: int, prefix: str) -> list[dict]:
    """Errors of one action's configuration, named ``<prefix>.configuration.<key>``."""
    if action_type not in ACTIONS:
        return [{"field": f"{prefix}.action_type", "message": f"unknown action type '{action_type}'"}]
    if not isinstance(config, dict):
        return [{"field": f"{prefix}.configuration", "message": "must be an object"}]
    _, check, allowed = ACTIONS[action_type]
    errors = [{"field": f"{prefix}.configuration.{key}", "message": "unknown key"} for key in sorted(set(config) - allowed)]
    errors += [{"field": f"{prefix}.configuration.{key}", "message": message} for key, message in check(config, organization_id).items()]
    return errors


def execute_action(action_type: str, config: dict, ctx: StepContext) -> dict:
    executor = ACTIONS[action_type][0]
    return executor(config, ctx) or {}
