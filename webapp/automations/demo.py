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

    welcome = template("welcome-email")
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
    ]
    for spec in specs:
        if any(a["action_type"] == "send_email" for a in spec["actions"]) and welcome is None:
            continue
        if spec["trigger_type"] == "segment_entered" and spec["trigger_configuration"]["segment_id"] is None:
            continue
        automation = Automation(organization_id=org.id)
        actions = [
            {"action_order": i, "is_active": True, "delay_minutes": 0, "conditions": {}, **a} for i, a in enumerate(spec.pop("actions"))
        ]
        save_automation(automation, {**spec, "actions": actions})
