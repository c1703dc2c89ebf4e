"""Demo automations: the seed's five use cases, built on the demo segments and templates."""

from sqlalchemy import select

from ..extensions import db
from ..models import Automation, EmailTemplate, Segment
from .services import save_automation


def seed_demo_automations(org, people, rng) -> None:
    def template(slug):
        return db.session.scalar(select(EmailTemplate.id).where(EmailTemplate.organization_id == org.id, EmailTemplate.slug == slug))

    def segment(slug):
        return db.session.scalar(select(Segment.id).where(Segment.organization_id == org.id, Segment.slug == slug))

    welcome, quote = template("welcome-email"), template("quote-follow-up")
    high_value, stale = segment("high-value-auto-leads"), segment("new-leads-older-than-24-hours")
    specs = [
        {
            "name": "Welcome Email Automation",
            "description": "Send welcome email to new leads",
            "trigger_type": "lead_created",
            "is_active": True,
            "actions": [
                {"action_type": "send_email", "configuration": {"template_id": welcome, "subject": "Welcome to Our Insurance Services"}},
                {
                    "action_type": "create_task",
                    "configuration": {"task_type": "follow_up", "title": "Follow up with {{ full_name }}", "due_in_days": 2},
                },
            ],
        },
        {
            "name": "Lead qualification",
            "description": "High-value auto leads are qualified and assigned",
            "trigger_type": "lead_created",
            "is_active": True,
            "conditions": {
                "match_all": True,
                "rules": [
                    {"field": "insurance_type", "operator": "equals", "value": "auto"},
                    {"field": "value_estimate", "operator": "greater_than", "value": "1000"},
                ],
            },
            "actions": [
                {"action_type": "update_lead_status", "configuration": {"status": "qualified"}},
                {"action_type": "assign_lead", "configuration": {"strategy": "least_loaded", "role": "agent"}},
            ],
        },
        {
            "name": "Priority on high value",
            "description": "Leads entering High-Value Auto become high priority",
            "trigger_type": "segment_entered",
            "trigger_configuration": {"segment_id": high_value},
            "is_active": True,
            "actions": [
                {"action_type": "update_lead_priority", "configuration": {"priority": "high"}},
                {
                    "action_type": "send_notification",
                    "configuration": {"user_id": "assignee", "message": "{{ full_name }} is a high-value auto lead"},
                },
            ],
        },
        {
            "name": "Follow up stale new leads",
            "description": "Still new after 24 hours: email and a call task",
            "trigger_type": "segment_entered",
            "trigger_configuration": {"segment_id": stale},
            "is_active": True,
            "actions": [
                {"action_type": "send_email", "configuration": {"template_id": welcome}},
                {
                    "action_type": "create_task",
                    "configuration": {"task_type": "call", "title": "Call {{ first_name }}: still new after 24 h", "due_in_days": 1},
                },
            ],
        },
        {
            "name": "Cross-sell home to converted auto",
            "description": "Converted leads get a home insurance offer",
            "trigger_type": "lead_status_changed",
            "trigger_configuration": {"to_status": "converted"},
            "is_active": False,
            "conditions": {"match_all": True, "rules": [{"field": "insurance_type", "operator": "equals", "value": "auto"}]},
            "actions": [
                {"action_type": "add_tag", "configuration": {"tag": "cross-sell-home"}},
                {
                    "action_type": "create_task",
                    "delay_minutes": 1440,
                    "configuration": {"task_type": "email", "title": "Offer {{ first_name }} home insurance", "due_in_days": 3},
                },
            ],
        },
        quote_journey(quote),
    ]
    for spec in specs:
        if any(a["action_type"] == "send_email" for a in spec["actions"]) and (welcome is None or quote is None):
            continue
        if spec["trigger_type"] == "segment_entered" and spec["trigger_configuration"]["segment_id"] is None:
            continue
        automation = Automation(organization_id=org.id)
        save_automation(automation, {**spec, "actions": _with_defaults(spec.pop("actions"))})


def _with_defaults(actions: list[dict]) -> list[dict]:
    """Steps as validate_automation returns them: every key given, branches too."""
    return [
        {
            "action_order": order,
            "is_active": True,
            "delay_minutes": 0,
            "conditions": {},
            **action,
            "branches": {name: _with_defaults(steps) for name, steps in action.get("branches", {}).items()} or None,
        }
        for order, action in enumerate(actions)
    ]


def quote_journey(template_id: int | None) -> dict:
    """A journey with the four flow actions and a goal: a quoted lead is followed up until it converts."""
    value_over = {"match_all_rules": True, "rules": [{"field": "value_estimate", "operator": "greater_than", "value": "1000"}]}
    return {
        "name": "Quote follow-up journey",
        "description": "Quoted leads: an email, three days to answer, then a call or a nurture test; ends when they convert",
        "trigger_type": "lead_status_changed",
        "trigger_configuration": {"to_status": "quoted"},
        "is_active": True,
        "goal": {"match_all_rules": True, "rules": [{"field": "status", "operator": "equals", "value": "converted"}]},
        "actions": [
            {"action_type": "send_email", "configuration": {"template_id": template_id}},
            {
                "action_type": "wait_until",
                "configuration": {"event_type": "lead_status_changed", "timeout_minutes": 3 * 24 * 60},
                "branches": {
                    "met": [],
                    "timed_out": [
                        {
                            "action_type": "create_task",
                            "configuration": {"task_type": "call", "title": "Call {{ first_name }} about their quote", "due_in_days": 0},
                        }
                    ],
                },
            },
            {
                "action_type": "branch",
                "configuration": {"match_all_rules": True, "rules": [{"field": "status", "operator": "equals", "value": "lost"}]},
                "branches": {"yes": [{"action_type": "exit", "configuration": {"reason": "the lead said no"}}], "no": []},
            },
            {
                "action_type": "branch",
                "configuration": value_over,
                "branches": {
                    "yes": [{"action_type": "assign_lead", "configuration": {"strategy": "least_loaded", "role": "agent"}}],
                    "no": [
                        {
                            "action_type": "split",
                            "configuration": {"weights": {"email": 50, "tag": 50}},
                            "branches": {
                                "email": [{"action_type": "send_email", "configuration": {"template_id": template_id}}],
                                "tag": [{"action_type": "add_tag", "configuration": {"tag": "nurture"}}],
                            },
                        }
                    ],
                },
            },
        ],
    }
