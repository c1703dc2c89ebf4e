"""What a scheduled task is and how it is created, changed, cancelled, retried and purged (SPEC §8).

Task types come from ``features.Wiring.task_types``: each validates its own payload here, on create
and update, and again before each run (``scheduled_tasks.execution``). Nothing here commits.
"""

from datetime import datetime

from sqlalchemy import delete, func

from ..extensions import db
from ..features import wiring
from ..models import ScheduledTask, utcnow
from ..models.scheduled_tasks import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_PRIORITY,
    DEFAULT_TIMEOUT_SECONDS,
    FINISHED_STATUSES,
    HISTORY_LIMIT,
    MAX_ATTEMPTS_LIMIT,
    MAX_NAME_LENGTH,
    MAX_TIMEOUT_SECONDS,
    PRIORITY_RANGE,
)
from ..validation import Conflict, ValidationFailed
from .recurrence import validate_recurrence

EDITABLE_FIELDS = ("task_type", "name", "payload", "scheduled_for", "priority", "max_attempts", "recurrence", "timeout_seconds")


class PermanentTaskError(Exception):
    """An error that no retry can fix (bad payload, missing object): the task fails at once."""


def task_type_names() -> list[str]:
    """The names of every task type of this app, sorted."""
    return sorted(wiring().task_types)


def validate_payload(task_type: str, payload, organization_id: int) -> list[dict]:
    """The errors of a task's type and payload, as ``[{"field", "message"}]`` (empty when valid)."""
    known = wiring().task_types.get(task_type) if isinstance(task_type, str) else None
    if known is None:
        expected = ", ".join(task_type_names())
        return [{"field": "task_type", "message": f"unknown task type '{task_type}'; expected one of: {expected}"}]
    if not isinstance(payload, dict):
        return [{"field": "payload", "message": "must be an object"}]
    return known.validate_payload(payload, organization_id)


# --- creating and changing tasks (the caller commits) -----------------------------------------


def validate_task(
    organization_id: int,
    *,
    task_type: str,
    payload,
    name: str = "",
    priority: int = DEFAULT_PRIORITY,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    recurrence: str | None = None,
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS,
) -> list[dict]:
    """Every error of a task's fields and payload, as ``[{"field", "message"}]``."""
    errors = []
    if not isinstance(name, str) or len(name) > MAX_NAME_LENGTH:
        errors.append({"field": "name", "message": f"must be a text of at most {MAX_NAME_LENGTH} characters"})
    errors += _check_int("priority", priority, *PRIORITY_RANGE)
    errors += _check_int("max_attempts", max_attempts, 1, MAX_ATTEMPTS_LIMIT)
    errors += _check_int("timeout_seconds", timeout_seconds, 1, MAX_TIMEOUT_SECONDS)
    if recurrence is not None and (message := validate_recurrence(recurrence)):
        errors.append({"field": "recurrence", "message": message})
    return errors + validate_payload(task_type, payload, organization_id)


def create_task(
    organization_id: int,
    task_type: str,
    payload: dict,
    *,
    name: str = "",
    scheduled_for: datetime | None = None,
    priority: int = DEFAULT_PRIORITY,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    recurrence: str | None = None,
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS,
    created_by_id: int | None = None,
) -> ScheduledTask:
    """Validate and add a pending task to the session (flushed, not committed).

    Raises ValidationFailed with the field errors. The task is a row of the caller's transaction:
    it exists for workers exactly when the work that asked for it is committed.
    """
    errors = validate_task(
        organization_id,
        task_type=task_type,
        payload=payload,
        name=name,
        priority=priority,
        max_attempts=max_attempts,
        recurrence=recurrence,
        timeout_seconds=timeout_seconds,
    )
    if errors:
        raise ValidationFailed(errors)
    task = ScheduledTask(
        organization_id=organization_id,
        task_type=task_type,
        name=name or task_type.replace("_", " "),
        payload=payload,
        scheduled_for=scheduled_for or utcnow(),
        priority=priority,
        max_attempts=max_attempts,
        recurrence=recurrence or None,
        timeout_seconds=timeout_seconds,
        created_by_id=created_by_id,
        status="pending",
        attempts=0,
        attempt_history=[],
    )
    db.session.add(task)
    db.session.flush()
    return task


def update_task(task: ScheduledTask, changes: dict) -> None:
    """Replace the given fields of a task that is not running, keeping the others (not committed).

    Raises Conflict for a running task and ValidationFailed with the field errors.
    """
    db.session.refresh(task, with_for_update=True)
    if task.status == "running":
        raise Conflict("a running task cannot be changed; cancel it or wait until it finishes")
    errors = [{"field": key, "message": "unknown field"} for key in changes if key not in EDITABLE_FIELDS]
    if "scheduled_for" in changes and not isinstance(changes["scheduled_for"], datetime):
        errors.append({"field": "scheduled_for", "message": "must be a date and time"})
    merged = {field: changes.get(field, getattr(task, field)) for field in EDITABLE_FIELDS if field != "scheduled_for"}
    errors += validate_task(task.organization_id, **merged)
    if errors:
        raise ValidationFailed(errors)
    for field, value in changes.items():
        setattr(task, field, value)


def cancel_task(task: ScheduledTask) -> None:
    """Cancel a pending, retry-scheduled or running task (not committed).

    A running attempt is not interrupted, but its writes are discarded when it finishes.
    Raises Conflict for a task that is already finished.
    """
    db.session.refresh(task, with_for_update=True)
    if task.status in FINISHED_STATUSES:
        raise Conflict(f"a {task.status} task cannot be cancelled")
    now = utcnow()
    if task.status == "running":
        task.attempt_history = history_with(task, now, "cancelled", None)
    task.status, task.finished_at, task.locked_by = "cancelled", now, None


def retry_task(task: ScheduledTask) -> None:
    """Make a failed or cancelled task pending again, due now, with fresh attempts (not committed)."""
    db.session.refresh(task, with_for_update=True)
    if task.status not in ("failed", "cancelled"):
        raise Conflict(f"only failed or cancelled tasks can be retried; this one is {task.status}")
    task.status, task.scheduled_for, task.attempts = "pending", utcnow(), 0
    task.finished_at = task.locked_by = None


def purge_finished_tasks(organization_id: int, cutoff: datetime) -> int:
    """Delete the organization's completed, failed and cancelled tasks finished before ``cutoff``."""
    statement = (
        delete(ScheduledTask)
        .where(
            ScheduledTask.organization_id == organization_id,
            ScheduledTask.status.in_(FINISHED_STATUSES),
            func.coalesce(ScheduledTask.finished_at, ScheduledTask.updated_at) < cutoff,
        )
        .execution_options(synchronize_session=False)
    )
    return db.session.execute(statement).rowcount


def history_with(task: ScheduledTask, now: datetime, outcome: str, error: str | None) -> list[dict]:
    """The attempt history with this attempt added (the last HISTORY_LIMIT attempts are kept)."""
    entry = {
        "attempt": task.attempts,
        "started_at": _iso(task.started_at),
        "finished_at": _iso(now),
        "worker": task.locked_by,
        "outcome": outcome,
        "error": error,
    }
    return [*(task.attempt_history or [])[-(HISTORY_LIMIT - 1) :], entry]


def _check_int(field: str, value, low: int, high: int) -> list[dict]:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return [{"field": field, "message": f"must be a whole number from {low} to {high}"}]
    return []


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
