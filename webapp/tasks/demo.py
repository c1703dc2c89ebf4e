"""Demo tasks: a few calls and follow-ups for each demo agent, overdue, due today and upcoming."""

from datetime import timedelta

from sqlalchemy import select

from ..extensions import db
from ..models import Lead, utcnow
from .services import create_task

DEMO_TASKS = (
    # (task type, title template, notes template, due in hours from now)
    ("call", "Call {{ first_name }} about the {{ insurance_type }} quote", "Best reached in the afternoon.", -20),
    ("follow_up", "Follow up with {{ full_name }}", None, 3),
    ("call", "Call {{ first_name }} back", "Left a voicemail yesterday.", 5),
    ("email", "Send {{ first_name }} the policy comparison", "{{ city }}, {{ state }}: compare two carriers.", 30),
    ("meeting", "Review coverage with {{ full_name }}", None, 75),
)


def seed_demo_tasks(org, people, rng) -> None:
    """Tasks for each agent about leads assigned to them, their titles rendered for the lead."""
    now = utcnow()
    for agent in (user for user in people.values() if user.role == "agent"):
        leads = db.session.scalars(
            select(Lead).where(Lead.organization_id == org.id, Lead.assigned_to_id == agent.id).order_by(Lead.id).limit(len(DEMO_TASKS))
        ).all()
        for lead, (task_type, title, notes, hours) in zip(leads, DEMO_TASKS, strict=False):
            values = {
                "task_type": task_type,
                "title": title,
                "notes": notes,
                "assignee_id": agent.id,
                "due_at": now + timedelta(hours=hours),
            }
            create_task(lead, values, people["Ada Admin"].id)
