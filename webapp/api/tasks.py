"""Tasks: CRUD with filters, completing with an outcome, Idempotency-Key on create (SPEC §14)."""

from datetime import datetime, timezone

from flask import g, jsonify, request, url_for
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from ..audit import audit
from ..extensions import db
from ..models import Lead, Task, utcnow
from ..models.base import MAX_ID
from ..models.tasks import TASK_STATUSES
from ..tasks import services
from ..tasks.services import Completion, TaskChanges, TaskFields
from ..tenancy import get_or_404, get_scoped
from ..validation import ValidationFailed
from . import bp
from .auth import CONFIGURE, READ, WORK, api_auth
from .common import IDEMPOTENCY_HEADER, PAGE_QUERY, Out, created, dump, json_body, no_content, page_envelope, paginate, replay_idempotent
from .docs import documented
from .errors import ApiError

TAG = "tasks"


class TaskOut(Out):
    id: int
    organization_id: int
    lead_id: int | None
    assignee_id: int | None
    task_type: str
    title: str
    notes: str | None
    due_at: datetime | None
    status: str
    completed_at: datetime | None
    completed_by_id: int | None
    outcome: str | None
    created_at: datetime
    updated_at: datetime


LIST_QUERY = {
    **PAGE_QUERY,
    "assignee_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    "assignee": {"type": "string", "enum": ["me"], "description": "`me`: the caller's tasks"},
    "status": {"type": "string", "enum": list(TASK_STATUSES)},
    "lead_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    "due_before": {
        "anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "date"}],
        "description": "ISO-8601 (a date alone is midnight UTC)",
    },
    "overdue": {"type": "boolean", "description": "true: open tasks due before now; false: the others"},
}


@bp.get("/tasks")
@api_auth(*READ)
@documented("List tasks, soonest due first", response=page_envelope(TaskOut), query=LIST_QUERY, tag=TAG)
def list_tasks():
    return jsonify(paginate(services.task_list_query(g.organization_id, *_list_criteria()), TaskOut))


def _list_criteria() -> list:
    """The filters of the query string, already held to LIST_QUERY by ``api_auth`` (check_query);
    ``due_before`` may also be a date alone (its midnight UTC), so it is read here."""
    args, criteria = request.args, []
    if "assignee" in args:
        criteria.append(Task.assignee_id == g.user.id)
    for name, column in (("assignee_id", Task.assignee_id), ("lead_id", Task.lead_id)):
        if name in args:
            criteria.append(column == int(args[name]))  # another organization's lead or user: no tasks
    if "status" in args:
        criteria.append(Task.status == args["status"])
    if "due_before" in args:
        moment = _moment(args["due_before"])
        if moment is None:
            raise ValidationFailed([{"field": "due_before", "message": "must be an ISO-8601 date or date and time"}])
        criteria.append(Task.due_at < moment)
    if "overdue" in args:
        now = utcnow()
        criteria.append(services.overdue(now) if args["overdue"] == "true" else services.not_overdue(now))
    return criteria


def _moment(raw: str) -> datetime | None:
    """An ISO-8601 date (midnight UTC) or date and time (naive is UTC); None when it is neither."""
    try:
        moment = _MOMENT.validate_python(raw.strip())  # a date alone is its midnight
        return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    except (PydanticValidationError, ValueError, OverflowError):
        return None


_MOMENT = TypeAdapter(datetime)


@bp.post("/tasks")
@api_auth(*WORK)
@documented(
    "Create a task about a lead (title and notes are rendered for the lead; an unknown lead is a 404)",
    body=TaskFields,
    response=TaskOut,
    status=201,
    errors=(409,),
    tag=TAG,
    headers=IDEMPOTENCY_HEADER,
)
def create_task():
    def handle(commit=True):
        values = services.validate_new_task(json_body(), g.organization_id)
        lead = _lead_or_404(values.pop("lead_id"))
        task = services.create_task(lead, values, g.user.id)
        audit("create", task, {"lead_id": lead.id, "title": task.title})
        response = created(dump(TaskOut, task), url_for("api.get_task", task_id=task.id))
        if commit:
            db.session.commit()
        return response

    return replay_idempotent(handle)


def _lead_or_404(lead_id: int) -> Lead:
    """The task's lead: another organization's lead is as missing as one that never existed."""
    lead = get_scoped(Lead, lead_id)
    if lead is None:
        raise ApiError(404, "No such lead", errors=[{"field": "lead_id", "message": "no such lead"}])
    return lead


@bp.get("/tasks/<int:task_id>")
@api_auth(*READ)
@documented("Get a task", response=TaskOut, tag=TAG)
def get_task(task_id):
    return jsonify(dump(TaskOut, get_or_404(Task, task_id)))


@bp.patch("/tasks/<int:task_id>")
@api_auth(*WORK)
@documented(
    "Change the given fields of a task (status done completes it, cancelled cancels it)",
    body=TaskChanges,
    response=TaskOut,
    errors=(409,),
    tag=TAG,
)
def update_task(task_id):
    task = get_or_404(Task, task_id)
    changes = services.update_task(task, services.validate_task_changes(json_body(), g.organization_id), g.user.id)
    audit("update", task, changes)
    body = dump(TaskOut, task)
    db.session.commit()
    return jsonify(body)


@bp.delete("/tasks/<int:task_id>")
@api_auth(*CONFIGURE)
@documented("Delete a task (agents cancel a task instead: PATCH status)", status=204, tag=TAG)
def delete_task(task_id):
    task = get_or_404(Task, task_id)
    audit("delete", task, {"lead_id": task.lead_id, "title": task.title, "status": task.status})
    services.delete_task(task)
    db.session.commit()
    return no_content()


@bp.post("/tasks/<int:task_id>/complete")
@api_auth(*WORK)
@documented(
    "Complete an open task with its outcome (a call's: reached, voicemail, no_answer or wrong_number)",
    body=Completion,
    response=TaskOut,
    errors=(409,),
    tag=TAG,
)
def complete_task(task_id):
    task = get_or_404(Task, task_id)
    outcome = services.validate_completion(json_body())
    services.complete_task(task, outcome, g.user.id)
    audit("update", task, {"status": ["open", "done"], "outcome": outcome})
    body = dump(TaskOut, task)
    db.session.commit()
    return jsonify(body)
