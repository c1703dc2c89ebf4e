"""What an automation would do for one lead, step by step, without doing it."""

from datetime import datetime

from ..extensions import db
from ..models import Automation, Lead, User
from ..segments.builder import describe_rule
from ..tasks.services import render_for_lead
from ..validation import ValidationFailed
from .conditions import lead_matches
from .forms import describe_delay
from .journey import action_tree, walk_tree
from .journey import walk as journey_walk

ACTION_LABELS = {
    "send_email": "Send email",
    "send_notification": "Notify",
    "update_lead_status": "Set status",
    "update_lead_priority": "Set priority",
    "assign_lead": "Assign",
    "add_tag": "Add tag",
    "remove_tag": "Remove tag",
    "create_task": "Create task",
    "branch": "If / else",
    "split": "A/B split",
    "wait_until": "Wait until",
    "exit": "Exit",
}


def describe_step(action_type: str, config: dict) -> str:
    """A one-line summary of a step for the editor and the dry run."""
    from ..models import EmailTemplate

    if action_type == "send_email":
        template = db.session.get(EmailTemplate, config.get("template_id")) if config.get("template_id") else None
        who = "the assignee" if config.get("to") == "assignee" else "the lead"
        return f"Send “{template.name if template else '?'}” to {who}"
    if action_type == "send_notification":
        who = "the assignee" if config.get("user_id") == "assignee" else _user_name(config.get("user_id"))
        return f"Notify {who}: {config.get('message', '')[:60]}"
    if action_type == "update_lead_status":
        return f"Set status to {config.get('status')}"
    if action_type == "update_lead_priority":
        return f"Set priority to {config.get('priority')}"
    if action_type == "assign_lead":
        if config.get("user_id"):
            return f"Assign to {_user_name(config['user_id'])}"
        return f"Assign {config.get('strategy', '').replace('_', ' ')} among {config.get('role', 'agent')}s"
    if action_type in ("add_tag", "remove_tag"):
        return f"{ACTION_LABELS[action_type]} “{config.get('tag')}”"
    if action_type == "branch":
        return f"If {describe_rules(config)}"
    if action_type == "split":
        return "Split " + " / ".join(f"{name} {weight} %" for name, weight in (config.get("weights") or {}).items())
    if action_type == "wait_until":
        event = (config.get("event_type") or "").replace("_", " ")
        return f"Wait until {event}" + (f" and {describe_rules(config)}" if config.get("rules") else "")
    if action_type == "exit":
        return "Exit" + (f": {config['reason']}" if config.get("reason") else "")
    if action_type == "create_task":
        due = config.get("due_date") or f"in {config.get('due_in_days', 1)} day(s)"
        return f"Create {config.get('task_type', 'follow_up').replace('_', ' ')} task “{config.get('title')}”, due {due}"
    return action_type


def describe_output(action_type: str, output: dict | None) -> str:
    """A one-line summary of what a step did, for the run history (the whole output is its tooltip)."""
    if not output:
        return ""
    if output.get("deferred"):  # the contactability check blocked it until then (SPEC §17)
        return f"deferred until {_moment(output.get('next_allowed_at'))}: {output.get('reason', '')}"
    if output.get("skipped"):
        return f"skipped: {output.get('reason', '')}"
    if output.get("deferred_before"):
        times = output["deferred_before"].get("deferrals") or 1
        return f"{describe_output(action_type, {k: v for k, v in output.items() if k != 'deferred_before'})} (deferred {times}× before)"
    if action_type == "send_email":
        subject = f" · “{output['subject']}”" if output.get("subject") else ""
        again = " (already queued)" if output.get("duplicate") else ""
        return f"{output.get('status')} for {output.get('to') or 'nobody'}{subject}{again}"
    if action_type == "create_task":
        return f"task #{output.get('task_id')}" + (f", due {output['due_date']}" if output.get("due_date") else "")
    if action_type in ("update_lead_status", "update_lead_priority"):
        return f"{output.get('old')} → {output.get('new')}"
    if action_type == "assign_lead":
        return f"assigned to {_user_name(output.get('assigned_to_id'))}"
    if action_type in ("add_tag", "remove_tag"):
        return f"“{output.get('tag')}”"
    if action_type == "send_notification":
        return f"notified {_user_name(output.get('user_id'))}"
    return ", ".join(f"{key}: {value}" for key, value in output.items())


def _moment(iso: str | None) -> str:
    """A stored ISO moment as the run history says it: ``2026-12-08 14:00 UTC``."""
    try:
        return f"{datetime.fromisoformat(iso):%Y-%m-%d %H:%M} UTC"
    except (TypeError, ValueError):
        return "later"


def describe_rules(rule_set: dict) -> str:
    """``Value estimate is greater than 1000 and State is TX``: a branch's or wait's rules in words, as
    the segment builder says them (activity rules too: ``Activity: email opened at least once …``)."""
    joiner = " and " if rule_set.get("match_all_rules", True) else " or "
    return joiner.join(describe_rule(rule) for rule in rule_set.get("rules") or [] if isinstance(rule, dict))


def _user_name(user_id) -> str:
    user = db.session.get(User, int(user_id)) if str(user_id or "").isdigit() else None
    return user.display_name if user else "?"


def dry_run(automation: Automation, lead: Lead) -> dict:
    """The verdict of the automation's conditions and of each step the lead would reach, following
    the branches it would take (``journey.walk``; a wait is shown timing out, its other branch named)."""
    from .engine import rules_hold

    actions = action_tree(automation.actions)
    depth = {action["id"]: len(location) // 2 for location, action in walk_tree(actions)}
    steps = []
    path = journey_walk(
        actions,
        lead.id,
        lambda rule_set: rules_hold(rule_set, lead),
        step_holds=lambda action: lead_matches(action.get("conditions"), lead),
        with_disabled=True,
    )
    for position, (action, branch) in enumerate(path, start=1):
        config = action.get("configuration") or {}
        if not action.get("is_active", True):
            verdict, note = "disabled", "the step is disabled"
        elif not lead_matches(action.get("conditions"), lead):
            verdict, note = "skip", "the step's conditions do not hold"
        else:
            verdict, note = "run", _effect_note(action["action_type"], config, lead, branch)
        steps.append(
            {
                "position": position,
                "action_id": action["id"],
                "action_type": action["action_type"],
                "summary": describe_step(action["action_type"], config),
                "delay_minutes": action.get("delay_minutes") or 0,
                "verdict": verdict,
                "note": note,
                "branch": branch,
                "depth": depth[action["id"]],
            }
        )
    return {"conditions_hold": lead_matches(automation.conditions, lead), "steps": steps, "active": automation.is_active}


def _effect_note(action_type: str, config: dict, lead: Lead, branch: str | None = None) -> str:
    if action_type == "branch":
        return f"the rules {'hold' if branch == 'yes' else 'do not hold'}: goes down “{branch}”"
    if action_type == "split":
        return f"gets variant “{branch}” ({config['weights'][branch]} %)"
    if action_type == "wait_until":
        event = config.get("event_type", "").replace("_", " ")
        return f"waits up to {describe_delay(config.get('timeout_minutes') or 0)} for {event}: down “met” if it comes; shown timing out"
    if action_type == "exit":
        return "the run ends here (exited)" + (f": {config['reason']}" if config.get("reason") else "")
    if action_type == "send_email":
        if config.get("to") == "assignee":
            return "to " + (lead.assigned_to.email if lead.assigned_to else "nobody: the lead has no assignee")
        if lead.email_opt_out:
            return "suppressed if the template is marketing: the lead opted out"
        return f"to {lead.email or 'nobody: the lead has no email'}"
    if action_type == "update_lead_status":
        return "no change" if lead.status == config.get("status") else f"{lead.status} → {config.get('status')}"
    if action_type == "update_lead_priority":
        return "no change" if lead.priority == config.get("priority") else f"{lead.priority} → {config.get('priority')}"
    if action_type == "add_tag":
        return "already tagged" if config.get("tag") in lead.tags else "tag added"
    if action_type == "remove_tag":
        return "tag removed" if config.get("tag") in lead.tags else "not tagged: nothing to remove"
    if action_type == "create_task":
        try:
            return f"titled “{render_for_lead(lead, {'title': config.get('title') or ''})['title']}”"
        except ValidationFailed as exc:
            return f"fails: {exc.errors[0]['message']}"
    return "will run"
