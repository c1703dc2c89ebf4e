"""Scheduled tasks: CRUD, cancel/retry, and running the organization's due tasks now (SPEC §8, §9, §12)."""

from datetime import datetime, timezone
from typing import Annotated, Any

from flask import g, jsonify, request, url_for
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from ..audit import audit
from ..extensions import db
from ..features import wiring
from ..models import ScheduledTask
from ..models.scheduled_tasks import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_PRIORITY,
    DEFAULT_TIMEOUT_SECONDS,
    MAX_ATTEMPTS_LIMIT,
    MAX_NAME_LENGTH,
    MAX_TIMEOUT_SECONDS,
    PRIORITY_RANGE,
    TASK_STATUSES,
)
from ..scheduled_tasks.definitions import cancel_task, create_task, retry_task, task_type_names, update_task
from ..scheduled_tasks.execution import process_due
from ..scheduled_tasks.recurrence import RECURRENCE_PATTERN
from ..tenancy import get_or_404, scoped
from ..validation import (
    WHITESPACE,
    Conflict,
    StrictModel,
    ValidationFailed,
    at_most,
    documented_as,
    iso_text_only,
    one_of_kinds,
    optional,
    parse,
)
from . import bp
from .auth import CONFIGURE, READ, api_auth
from .common import PAGE_QUERY, Out, created, dump, json_body, no_content, page_envelope, paginate
from .docs import documented

TAG = "scheduled tasks"
BASE = "/automations/scheduled-tasks"


# --- input ----------------------------------------------------------------------------------------


def _utc(value: datetime) -> datetime:
    """Naive times are UTC; the year must stay storable after the offset is applied."""
    try:
        value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError("must be a date and time between the years 1900 and 9998") from None
    if not 1900 <= value.year <= 9998:
        raise ValueError("must be a date and time between the years 1900 and 9998")
    return value


# Whole numbers only: "5" and true are not a priority (5.0 is 5: api.common.json_body). Bounds: the model's.
Priority = Annotated[int, Field(strict=True, ge=PRIORITY_RANGE[0], le=PRIORITY_RANGE[1])]
MaxAttempts = Annotated[int, Field(strict=True, ge=1, le=MAX_ATTEMPTS_LIMIT)]
TimeoutSeconds = Annotated[int, Field(strict=True, ge=1, le=MAX_TIMEOUT_SECONDS)]
# The document narrows the years to 1901-9989, so that no offset takes a time it allows out of bounds.
When = Annotated[
    datetime,
    BeforeValidator(iso_text_only),
    AfterValidator(_utc),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": r"^(19(0[1-9]|[1-9][0-9])|[2-8][0-9]{3}|9[0-8][0-9]{2})-"}),
]
# Checked by parse_recurrence; the document states the forms it reads (blank is no recurrence).
Recurrence = optional(Annotated[str, Field(max_length=100), documented_as(pattern=f"^[{WHITESPACE}]*$|{RECURRENCE_PATTERN}")])
Name = Annotated[str, Field(max_length=MAX_NAME_LENGTH), at_most(MAX_NAME_LENGTH)]


class _AppTaskTypes:
    """The document's enum of the app's task types, read when the document is built. A hook of the
    type rather than a ``json_schema_extra``: a field's own ``Field(json_schema_extra=...)`` (``_unset``)
    replaces the type's, and the update's task_type was left a free string."""

    def __get_pydantic_json_schema__(self, core_schema, handler):
        return {**handler(core_schema), "enum": task_type_names()}


TaskType = Annotated[str, Field(min_length=1, max_length=40), _AppTaskTypes()]


# An optional field that is never null: its placeholder default stays out of the document.
def _unset():
    return Field(default=None, json_schema_extra=lambda schema: schema.pop("default", None))


def _payload_by_task_type() -> list[dict]:
    """The document: the payload that goes with each task type (``TaskType.payload_schema``)."""
    return [
        {
            "title": "".join(part.title() for part in task_type.name.split("_")) + "Task",
            "properties": {
                "task_type": {"type": "string", "const": task_type.name},
                "payload": dict(task_type.payload_schema or {"type": "object"}),
            },
            "required": ["task_type", "payload"],
        }
        for task_type in wiring().task_types.values()
    ]


def _any_payload(schema: dict) -> None:
    schema.pop("default", None)
    schema.pop("additionalProperties", None)
    schema.pop("type", None)
    schema["anyOf"] = [alternative["properties"]["payload"] for alternative in _payload_by_task_type()]
    schema["description"] = "A payload of the task_type: of the one sent with it, else of the stored one."


class ScheduledTaskIn(StrictModel):
    """A new task. ``scheduled_for`` defaults to now (naive times are UTC); payload keys depend on the type."""

    model_config = ConfigDict(json_schema_extra=one_of_kinds(_payload_by_task_type))

    task_type: TaskType
    payload: dict[str, Any]
    name: Name = ""
    scheduled_for: When | None = None
    priority: Priority = DEFAULT_PRIORITY
    max_attempts: MaxAttempts = DEFAULT_MAX_ATTEMPTS
    recurrence: Recurrence = Field(default=None, description="`every N minutes|hours|days` or a 5-field cron (UTC)")
    timeout_seconds: TimeoutSeconds = DEFAULT_TIMEOUT_SECONDS


class ScheduledTaskChanges(StrictModel):
    """PUT: the given fields are replaced, the others kept; ``recurrence: null`` stops the recurrence.

    The defaults are never applied (only the fields sent are changed), so null is refused except
    for ``recurrence``.
    """

    task_type: TaskType = _unset()
    payload: dict[str, Any] = Field(default=None, json_schema_extra=lambda schema: _any_payload(schema))
    name: Name = _unset()
    scheduled_for: When = _unset()
    priority: Priority = _unset()
    max_attempts: MaxAttempts = _unset()
    recurrence: Recurrence = None
    timeout_seconds: TimeoutSeconds = _unset()


# --- output ---------------------------------------------------------------------------------------


class TaskAttemptOut(BaseModel):
    attempt: int
    started_at: datetime | None
    finished_at: datetime | None
    worker: str | None
    outcome: str
    error: str | None


class ScheduledTaskOut(Out):
    id: int
    organization_id: int
    task_type: str
    name: str
    payload: dict[str, Any]
    scheduled_for: datetime
    priority: int
    status: str
    attempts: int
    max_attempts: int
    last_error: str | None
    recurrence: str | None
    timeout_seconds: int
    result: dict[str, Any] | None
    attempt_history: list[TaskAttemptOut]
    started_at: datetime | None
    finished_at: datetime | None
    created_by_id: int | None
    created_at: datetime
    updated_at: datetime


class ProcessDueOut(BaseModel):
    processed: int
    completed: int
    failed: int
    retry_scheduled: int


LIST_QUERY = {
    **PAGE_QUERY,
    "status": {"type": "string", "enum": list(TASK_STATUSES)},
    "task_type": lambda: {"type": "string", "enum": task_type_names()},
}


# --- routes ---------------------------------------------------------------------------------------


@bp.get(BASE)
@api_auth(*READ)
@documented("List scheduled tasks, newest first", response=page_envelope(ScheduledTaskOut), query=LIST_QUERY, tag=TAG)
def list_scheduled_tasks():
    query = scoped(ScheduledTask, *_list_criteria()).order_by(ScheduledTask.id.desc())
    return jsonify(paginate(query, ScheduledTaskOut))


def _list_criteria() -> list:
    criteria, errors = [], []
    status, task_type = request.args.get("status"), request.args.get("task_type")
    if status is not None:
        if status not in TASK_STATUSES:
            errors.append({"field": "status", "message": f"must be one of: {', '.join(TASK_STATUSES)}"})
        criteria.append(ScheduledTask.status == status)
    if task_type is not None:
        known = task_type_names()
        if task_type not in known:
            errors.append({"field": "task_type", "message": f"must be one of: {', '.join(known)}"})
        criteria.append(ScheduledTask.task_type == task_type)
    if errors:
        raise ValidationFailed(errors)
    return criteria


@bp.post(BASE)
@api_auth(*CONFIGURE)
@documented("Schedule a task", body=ScheduledTaskIn, response=ScheduledTaskOut, status=201, tag=TAG)
def create_scheduled_task():
    fields = parse(ScheduledTaskIn, json_body())
    task = create_task(g.organization_id, created_by_id=g.user.id, **fields.model_dump())
    audit("create", task, {"task_type": task.task_type, "name": task.name})
    db.session.commit()
    return created(dump(ScheduledTaskOut, task), url_for("api.get_scheduled_task", task_id=task.id))


@bp.get(f"{BASE}/<int:task_id>")
@api_auth(*READ)
@documented("Get a scheduled task with its attempts, last error and result", response=ScheduledTaskOut, tag=TAG)
def get_scheduled_task(task_id):
    return jsonify(dump(ScheduledTaskOut, get_or_404(ScheduledTask, task_id)))


@bp.put(f"{BASE}/<int:task_id>")
@api_auth(*CONFIGURE)
@documented(
    "Change the given fields of a task that is not running", body=ScheduledTaskChanges, response=ScheduledTaskOut, errors=(409,), tag=TAG
)
def update_scheduled_task(task_id):
    task = get_or_404(ScheduledTask, task_id)
    changes = parse(ScheduledTaskChanges, json_body()).model_dump(exclude_unset=True)
    before = {name: getattr(task, name) for name in changes}
    update_task(task, changes)
    audit("update", task, {name: [_short(before[name]), _short(value)] for name, value in changes.items() if before[name] != value})
    db.session.commit()
    return jsonify(dump(ScheduledTaskOut, task))


@bp.delete(f"{BASE}/<int:task_id>")
@api_auth(*CONFIGURE)
@documented("Delete a task that is not running (cancel a running one first)", status=204, errors=(409,), tag=TAG)
def delete_scheduled_task(task_id):
    task = get_or_404(ScheduledTask, task_id)
    db.session.refresh(task, with_for_update=True)  # a worker cannot claim it between the check and the delete
    if task.status == "running":
        raise Conflict("a running task cannot be deleted; cancel it first")
    audit("delete", task, {"task_type": task.task_type, "name": task.name, "status": task.status})
    db.session.delete(task)
    db.session.commit()
    return no_content()


@bp.post(f"{BASE}/<int:task_id>/cancel")
@api_auth(*CONFIGURE)
@documented("Cancel a pending, retry-scheduled or running task", response=ScheduledTaskOut, errors=(409,), tag=TAG)
def cancel_scheduled_task(task_id):
    return _change_state(task_id, cancel_task)


@bp.post(f"{BASE}/<int:task_id>/retry")
@api_auth(*CONFIGURE)
@documented("Run a failed or cancelled task again, now, with fresh attempts", response=ScheduledTaskOut, errors=(409,), tag=TAG)
def retry_scheduled_task(task_id):
    return _change_state(task_id, retry_task)


def _change_state(task_id: int, change):
    task = get_or_404(ScheduledTask, task_id)
    before = task.status
    change(task)
    audit("update", task, {"status": [before, task.status]})
    db.session.commit()
    return jsonify(dump(ScheduledTaskOut, task))


@bp.post(f"{BASE}/process-due")
@api_auth(*CONFIGURE)
@documented("Run the organization's due tasks now, in this request", response=ProcessDueOut, tag=TAG)
def process_due_tasks():
    counts = process_due(g.organization_id)  # commits task by task: nothing else is pending in this request
    audit("trigger", changes={"process_due": counts})
    db.session.commit()
    return jsonify(counts)


def _short(value) -> str:
    text = str(value)
    return text if len(text) <= 200 else text[:199] + "…"
