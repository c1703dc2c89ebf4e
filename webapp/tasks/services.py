"""Tasks: their input, titles and notes rendered for the lead, creating, changing and completing them.

One place for the API, the pages and the ``create_task`` automation step. Services validate, change
rows and record lead events (``task_created``, ``task_updated``, ``task_completed``) in the caller's
transaction; they never commit.
"""

from datetime import date, datetime, time, timedelta, timezone
from typing import Annotated

from pydantic import AfterValidator, Field
from sqlalchemy import and_, func, or_, select

from ..batching import with_new_id
from ..email_templates.delivery import lead_template_context
from ..email_templates.rendering import TemplateRenderError, render_text
from ..extensions import db
from ..leads.changes import after_lead_changes, new_event
from ..models import Lead, Task, User, utcnow
from ..models.tasks import (
    CALL_OUTCOMES,
    DUE_HOUR_UTC,
    MAX_NOTES_LENGTH,
    MAX_OUTCOME_LENGTH,
    MAX_TITLE_LENGTH,
    TASK_STATUSES,
    TASK_TYPES,
)
from ..tenancy import ids_in_org
from ..validation import Conflict, RowId, StrictModel, ValidationFailed, choice, documented_as, line, optional, parse, presence_errors, text


def _utc(value: datetime) -> datetime:
    """Naive times are UTC."""
    try:
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    except OverflowError:  # the first or last hours of year 1 or 9999, moved to UTC
        raise ValueError("must be a date and time between the years 1 and 9999 in UTC") from None


DueAt = optional(Annotated[datetime, AfterValidator(_utc)])
DueDate = optional(Annotated[date, documented_as(description="Without due_at: the task is due at 17:00 UTC that day")])
TEMPLATE_NOTE = "A template rendered for the lead like email variables: `Call {{ first_name }}`"
UNTITLED = "(untitled task)"
OUTCOME_NOTE = f"Free text; for a call one of: {', '.join(CALL_OUTCOMES)}"


class TaskFields(StrictModel):
    """A new task about a lead. ``due_date`` without ``due_at`` means 17:00 UTC that day."""

    required_on_create = ("lead_id", "title")
    never_null = ("task_type",)

    lead_id: RowId | None = None
    assignee_id: RowId | None = None
    task_type: choice(TASK_TYPES) = "follow_up"
    title: line(MAX_TITLE_LENGTH) = Field(None, description=TEMPLATE_NOTE)
    notes: text(MAX_NOTES_LENGTH) = Field(None, description=TEMPLATE_NOTE)
    due_at: DueAt = None
    due_date: DueDate = None


class TaskChanges(StrictModel):
    """A task's changes: only the fields given change. ``status: done`` completes the task (a call
    needs an ``outcome``), ``cancelled`` cancels it, ``open`` opens it again."""

    never_null = ("task_type", "title", "status")

    assignee_id: RowId | None = None
    task_type: choice(TASK_TYPES) | None = None
    title: line(MAX_TITLE_LENGTH) = Field(None, description=TEMPLATE_NOTE)
    notes: text(MAX_NOTES_LENGTH) = Field(None, description=TEMPLATE_NOTE)
    due_at: DueAt = None
    due_date: DueDate = None
    status: choice(TASK_STATUSES) | None = None
    outcome: text(MAX_OUTCOME_LENGTH) = Field(None, description=OUTCOME_NOTE)


class Completion(StrictModel):
    """Completing a task: what came of it."""

    outcome: text(MAX_OUTCOME_LENGTH) = Field(None, description=OUTCOME_NOTE)


# --- input --------------------------------------------------------------------------------------


def validate_new_task(data, organization_id: int) -> dict:
    """Check a new task's body; returns clean values (``due_date`` turned into ``due_at``)."""
    values = parse(TaskFields, data).model_dump()
    errors = presence_errors(TaskFields, values, partial=False)
    errors += _assignee_errors(values, organization_id)
    if errors:
        raise ValidationFailed(errors)
    return _with_due_at(values)


def validate_task_changes(data, organization_id: int) -> dict:
    """Check a task's changes; returns only the fields given (``due_date`` turned into ``due_at``)."""
    values = parse(TaskChanges, data).model_dump(exclude_unset=True)
    errors = presence_errors(TaskChanges, values, partial=True)
    errors += _assignee_errors(values, organization_id)
    if errors:
        raise ValidationFailed(errors)
    return _with_due_at(values)


def validate_completion(data) -> str | None:
    """The outcome of a completion body (checked against the task by ``complete_task``)."""
    return parse(Completion, data).outcome


def _assignee_errors(values: dict, organization_id: int) -> list[dict]:
    if values.get("assignee_id") is not None and not ids_in_org(User, [values["assignee_id"]], organization_id):
        return [{"field": "assignee_id", "message": "no such user"}]
    return []


def _with_due_at(values: dict) -> dict:
    """``due_date`` as the ``due_at`` it means; a ``due_at`` given too is the more precise, and wins."""
    if "due_date" in values:
        day = values.pop("due_date")
        if values.get("due_at") is None and (day is not None or "due_at" not in values):
            values["due_at"] = due_at_of(day)
    return values


def due_at_of(day: date | None) -> datetime | None:
    """When a task due on ``day`` (no time given) is due: 17:00 UTC, until leads carry a time zone."""
    return None if day is None else datetime.combine(day, time(DUE_HOUR_UTC), tzinfo=timezone.utc)


def outcome_errors(task_type: str, outcome: str | None) -> list[dict]:
    """A call's outcome is one of ``CALL_OUTCOMES``; other tasks take free text (or none)."""
    if task_type == "call" and outcome not in CALL_OUTCOMES:
        return [{"field": "outcome", "message": f"a call's outcome must be one of: {', '.join(CALL_OUTCOMES)}"}]
    return []


# --- rendering ----------------------------------------------------------------------------------


def render_for_lead(lead: Lead, values: dict, context: dict | None = None) -> dict:
    """``title`` and ``notes`` in ``values`` rendered for the lead in the email renderer's sandbox
    (``"Call {{ first_name }}"`` → ``"Call Priya"``); a template that fails is a 422 naming the field."""
    wanted = [name for name in ("title", "notes") if values.get(name)]
    if not wanted:
        return values
    context = context or lead_template_context(lead)
    rendered, errors = dict(values), []
    for name in wanted:
        try:
            rendered[name] = render_text(values[name], context, field=name)
        except TemplateRenderError as exc:
            errors.append({"field": name, "message": f"not a valid template: {exc.as_error()['message']}"})
    if errors:
        raise ValidationFailed(errors)
    if "title" in rendered:  # one line, as a title is shown; a title that renders empty says so
        rendered["title"] = " ".join(rendered["title"].split())[:MAX_TITLE_LENGTH] or UNTITLED
    if rendered.get("notes") is not None:
        rendered["notes"] = rendered["notes"].strip()[:MAX_NOTES_LENGTH] or None
    return rendered


# --- changes ------------------------------------------------------------------------------------


def create_task(lead: Lead, values: dict, actor_id: int | None = None, *, idempotency_key: str | None = None) -> Task:
    """A new open task about ``lead`` from validated values, its title and notes rendered for the
    lead, and a ``task_created`` lead event."""
    values = render_for_lead(lead, values)
    task = Task(
        organization_id=lead.organization_id,
        lead_id=lead.id,
        assignee_id=values.get("assignee_id"),
        task_type=values.get("task_type") or "follow_up",
        title=values["title"],
        notes=values.get("notes"),
        due_at=values.get("due_at"),
        status="open",
        idempotency_key=idempotency_key,
    )
    with_new_id(task)
    _record(task, "task_created", {"task_type": task.task_type, "due_at": _iso(task.due_at), "assignee_id": task.assignee_id}, actor_id)
    return task


def update_task(task: Task, values: dict, actor_id: int | None = None) -> dict:
    """Apply validated changes; returns the changed fields as ``{field: {"old", "new"}}``.

    ``status`` done completes the task (``task_completed``); open reopens it. Other changes,
    cancelling included, record ``task_updated``.
    """
    values = render_for_lead(task.lead, dict(values)) if task.lead is not None else dict(values)
    status = values.pop("status", task.status)
    outcome_given = "outcome" in values
    outcome = values.pop("outcome", task.outcome)
    changes = {}
    for name, new in values.items():
        old = getattr(task, name)
        if old != new:
            changes[name] = {"old": _iso(old), "new": _iso(new)}
            setattr(task, name, new)
    if status == "done" and task.status != "done":
        if changes:
            _record(task, "task_updated", {"changes": changes}, actor_id)
        before = task.status
        complete_task(task, outcome, actor_id)
        return {**changes, "status": {"old": before, "new": "done"}}
    if status != task.status:
        changes["status"] = {"old": task.status, "new": status}
        task.status = status
        if status == "open":
            task.completed_at = task.completed_by_id = None
            outcome = outcome if outcome_given else None
    if outcome != task.outcome:
        changes["outcome"] = {"old": task.outcome, "new": outcome}
        task.outcome = outcome
    if task.status == "done" and (errors := outcome_errors(task.task_type, task.outcome)):
        raise ValidationFailed(errors)
    if changes:
        task.updated_at = utcnow()
        _record(task, "task_updated", {"changes": changes}, actor_id)
    return changes


def complete_task(task: Task, outcome: str | None, actor_id: int | None) -> Task:
    """Mark an open task done with its outcome (a call's is one of ``CALL_OUTCOMES``): ``task_completed``."""
    if task.status != "open":
        raise Conflict(f"the task is {task.status}; only an open task can be completed")
    errors = outcome_errors(task.task_type, outcome)
    if errors:
        raise ValidationFailed(errors)
    now = utcnow()
    task.status, task.outcome, task.completed_at, task.completed_by_id, task.updated_at = "done", outcome, now, actor_id, now
    _record(task, "task_completed", {"task_type": task.task_type, "outcome": outcome}, actor_id)
    return task


def delete_task(task: Task) -> None:
    db.session.delete(task)


def _record(task: Task, event_type: str, data: dict, actor_id: int | None) -> None:
    """A lead event about the task, in the caller's transaction (triggers see it too)."""
    if task.lead_id is None:
        return
    event = new_event(task.organization_id, task.lead_id, event_type, {"task_id": task.id, "title": task.title, **data}, actor_id)
    after_lead_changes(task.organization_id, [], [event])


def _iso(value):
    return value.isoformat() if isinstance(value, datetime) else value


# --- lists --------------------------------------------------------------------------------------


def task_list_query(organization_id: int, *criteria):
    """The organization's tasks, soonest due first (no due time last)."""
    return select(Task).where(Task.organization_id == organization_id, *criteria).order_by(Task.due_at.is_(None), Task.due_at, Task.id)


def overdue(now: datetime):
    return and_(Task.status == "open", Task.due_at < now)


def not_overdue(now: datetime):
    return or_(Task.status != "open", Task.due_at.is_(None), Task.due_at >= now)


def end_of_today(now: datetime) -> datetime:
    """The end of the UTC day of ``now`` (the agent's day, until users carry a time zone)."""
    return datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=timezone.utc)


def my_tasks(organization_id: int, assignee_id: int | None, now: datetime | None = None) -> dict[str, list[Task]]:
    """The open tasks of an assignee (every assignee when None) by section: ``overdue``, ``today``
    (due later today, UTC) and ``upcoming`` (later, or with no due time)."""
    now = now or utcnow()
    criteria = [Task.status == "open"] + ([Task.assignee_id == assignee_id] if assignee_id is not None else [])
    tasks = db.session.scalars(task_list_query(organization_id, *criteria).limit(500)).all()
    sections = {"overdue": [], "today": [], "upcoming": []}
    end = end_of_today(now)
    for task in tasks:
        if task.due_at is not None and task.due_at < now:
            sections["overdue"].append(task)
        elif task.due_at is not None and task.due_at < end:
            sections["today"].append(task)
        else:
            sections["upcoming"].append(task)
    return sections


def due_task_count(organization_id: int, assignee_id: int, now: datetime | None = None) -> int:
    """How many open tasks of the assignee are overdue or due today (the navigation's badge)."""
    return db.session.scalar(
        select(func.count())
        .select_from(Task)
        .where(
            Task.organization_id == organization_id,
            Task.assignee_id == assignee_id,
            Task.status == "open",
            Task.due_at < end_of_today(now or utcnow()),
        )
    )


def lead_tasks(lead: Lead) -> list[Task]:
    """A lead's tasks: open ones soonest due first, then the finished ones, latest first."""
    tasks = db.session.scalars(task_list_query(lead.organization_id, Task.lead_id == lead.id).limit(200)).all()
    return [t for t in tasks if t.status == "open"] + sorted(
        (t for t in tasks if t.status != "open"), key=lambda t: t.completed_at or t.updated_at, reverse=True
    )
