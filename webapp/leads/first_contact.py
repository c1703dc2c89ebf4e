"""A lead's contacts (SPEC §17, speed to lead), in SQL: a completed call or email task, a change of its
status away from ``new``, an email sent to it. The ``lead_not_contacted`` trigger asks whether a lead
has had any; the dashboard, when the first one came."""

from sqlalchemy import func, select, union_all

from ..models import LeadEvent, OutboxMessage, Task
from ..models.email import SENT_STATUSES

CONTACT_TASK_TYPES = ("call", "email")


def _task_contacts(organization_id: int):
    return select(Task.lead_id.label("lead_id"), Task.completed_at.label("at")).where(
        Task.organization_id == organization_id,
        Task.task_type.in_(CONTACT_TASK_TYPES),
        Task.status == "done",
        Task.completed_at.is_not(None),
    )


def _status_contacts(organization_id: int):
    return select(LeadEvent.lead_id.label("lead_id"), LeadEvent.created_at.label("at")).where(
        LeadEvent.organization_id == organization_id,
        LeadEvent.event_type == "lead_status_changed",
        LeadEvent.data["old"].as_string() == "new",
    )


def _email_contacts(organization_id: int):
    return select(OutboxMessage.lead_id.label("lead_id"), OutboxMessage.sent_at.label("at")).where(
        OutboxMessage.organization_id == organization_id,
        OutboxMessage.recipient == "lead",
        OutboxMessage.status.in_(SENT_STATUSES),
        OutboxMessage.sent_at.is_not(None),
    )


def never_contacted(organization_id: int, lead_id_column) -> list:
    """SQL conditions on ``lead_id_column`` (of the organization's leads): the lead has had no contact."""
    return [
        ~query.where(column == lead_id_column).exists()
        for query, column in (
            (_task_contacts(organization_id), Task.lead_id),
            (_status_contacts(organization_id), LeadEvent.lead_id),
            (_email_contacts(organization_id), OutboxMessage.lead_id),
        )
    ]


def first_contacts(organization_id: int, lead_ids_query=None):
    """A subquery of ``(lead_id, first_contact_at)``: the earliest contact of each contacted lead (of
    ``lead_ids_query``'s leads when given, a select of lead ids)."""
    parts = [_task_contacts(organization_id), _status_contacts(organization_id), _email_contacts(organization_id)]
    if lead_ids_query is not None:
        parts = [part.where(part.selected_columns.lead_id.in_(lead_ids_query)) for part in parts]
    contacts = union_all(*parts).subquery("contacts")
    first = select(contacts.c.lead_id, func.min(contacts.c.at).label("first_contact_at")).group_by(contacts.c.lead_id)
    return first.subquery("first_contacts")
