"""Running scheduled tasks durably: claim, run, retry, reschedule (SPEC §8, §13).

The life of a task::

    pending / retry_scheduled --claim--> running --handler returns--> completed
                                                                      (recurring: pending, next occurrence)
                                                 --handler raises---> retry_scheduled (backoff) | failed
    running past started_at + timeout_seconds (its worker died) --> taken again by the next claim

The claim commits ``running`` (started_at, locked_by, attempts + 1) before the handler starts, so a
killed worker leaves a row that a later claim finds once its timeout has passed. The handler's
writes commit in the same transaction that marks the task completed, and only if the attempt is
still this worker's (worker id + attempt number are the fencing token): a worker that outlived its
timeout cannot commit a second effect. Creating and changing tasks is ``scheduled_tasks.definitions``.
"""

import json
import logging
import os
import socket
import threading
import uuid
from datetime import datetime, timedelta

from flask import Flask, current_app
from sqlalchemy import case, select, update
from sqlalchemy.orm import aliased

from ..extensions import db
from ..features import wiring
from ..models import ScheduledTask, utcnow
from ..models.scheduled_tasks import DUE_PREDICATE, RUNNING_PREDICATE
from ..validation import ValidationFailed
from .definitions import PermanentTaskError, history_with
from .recurrence import RecurrenceError, next_occurrence

log = logging.getLogger(__name__)

DEFAULT_BACKOFF_SECONDS = 30  # app config TASK_BACKOFF_SECONDS; doubles with every attempt
MAX_BACKOFF_SECONDS = 3600
MAX_ERROR_LENGTH = 2000
STALE_CLAIM = timedelta(seconds=1)  # a claimed task that waited longer than this in its batch renews its lease
OUTCOMES = ("completed", "failed", "retry_scheduled")


# --- claiming --------------------------------------------------------------------------------


def claim_due_tasks(worker_id: str, limit: int, now: datetime | None = None, organization_id: int | None = None) -> list[int]:
    """Claim up to ``limit`` due tasks for this worker and commit; ids in execution order.

    Due: pending or retry_scheduled with scheduled_for <= now, highest priority first, then oldest.
    Tasks left running past their timeout are first made due again (or failed when out of
    attempts). On PostgreSQL the rows are locked with ``FOR UPDATE SKIP LOCKED``, so concurrent
    workers never claim one task twice; on SQLite the single UPDATE statement is atomic.
    """
    now = now or utcnow()
    try:
        _recover_timed_out(now, organization_id)
        ids = _claim(worker_id, limit, now, organization_id)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return ids


def _claim(worker_id: str, limit: int, now: datetime, organization_id: int | None) -> list[int]:
    due = aliased(ScheduledTask)
    candidates = (
        select(due.id)
        .where(DUE_PREDICATE, due.scheduled_for <= now)
        .order_by(due.priority.desc(), due.scheduled_for, due.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if organization_id is not None:
        candidates = candidates.where(due.organization_id == organization_id)
    task = ScheduledTask
    statement = (
        update(task)
        .where(task.id.in_(candidates.scalar_subquery()))
        .values(status="running", locked_by=worker_id, started_at=now, finished_at=None, attempts=task.attempts + 1, updated_at=now)
        .returning(task.id, task.priority, task.scheduled_for)
        .execution_options(synchronize_session=False)
    )
    rows = db.session.execute(statement).all()
    return [row.id for row in sorted(rows, key=lambda r: (-r.priority, r.scheduled_for, r.id))]


def _recover_timed_out(now: datetime, organization_id: int | None) -> None:
    """Make tasks whose worker stopped answering (running past their timeout) due again."""
    running = select(ScheduledTask.id, ScheduledTask.started_at, ScheduledTask.timeout_seconds).where(RUNNING_PREDICATE)
    if organization_id is not None:
        running = running.where(ScheduledTask.organization_id == organization_id)
    expired = [row.id for row in db.session.execute(running) if _lease_expired(row, now)]
    if not expired:
        return
    locked = (
        select(ScheduledTask)
        .where(ScheduledTask.id.in_(expired), RUNNING_PREDICATE)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    for task in db.session.scalars(locked):
        if _lease_expired(task, now):  # re-checked under the lock
            error = (
                f"no result after {task.timeout_seconds}s from worker {task.locked_by}: the worker stopped or the task ran past its timeout"
            )
            log.warning("scheduled task %s timed out on %s; taking it again", task.id, task.locked_by)
            _, changes = _failure_changes(task, error, now, outcome="timed_out", delay=timedelta(0))
            for name, value in changes.items():
                setattr(task, name, value)


def _lease_expired(row, now: datetime) -> bool:
    return row.started_at is None or row.started_at + timedelta(seconds=row.timeout_seconds) < now


# --- running ---------------------------------------------------------------------------------


def run_task(task_id: int, worker_id: str, now: datetime | None = None) -> str:
    """Execute a task claimed by this worker; returns its outcome.

    Outcomes: ``completed`` (a recurring task is pending again for its next occurrence),
    ``retry_scheduled``, ``failed``, or ``skipped`` when the attempt is no longer this worker's
    (timed out and taken by another worker, or cancelled): its writes are then rolled back.
    ``now`` fixes the clock for backoff and the next occurrence (tests).
    """
    task = db.session.get(ScheduledTask, task_id, populate_existing=True)
    if task is None or task.status != "running" or task.locked_by != worker_id:
        db.session.rollback()
        return "skipped"
    token = task.attempts
    stale = task.started_at is None or utcnow() - task.started_at > STALE_CLAIM
    if stale and not _renew_lease(task_id, worker_id, token):
        return "skipped"
    try:
        result = _execute(task)
    except Exception as exc:
        db.session.rollback()
        log.warning("scheduled task %s failed on attempt %s", task_id, token, exc_info=True)
        task = db.session.get(ScheduledTask, task_id)
        outcome, changes = _failure_changes(task, _describe(exc), now or utcnow(), permanent=_is_permanent(exc))
        return outcome if _write_own_attempt(task_id, worker_id, token, changes) else "skipped"
    changes = _success_changes(task, result, now or utcnow())
    return "completed" if _write_own_attempt(task_id, worker_id, token, changes) else "skipped"


def _execute(task: ScheduledTask):
    task_type = wiring().task_types.get(task.task_type)
    if task_type is None:
        raise PermanentTaskError(f"unknown task type '{task.task_type}'")
    if not isinstance(task.payload, dict):
        raise PermanentTaskError("payload: must be an object")
    result = task_type.handler(task)
    db.session.flush()
    return json.loads(json.dumps(result, default=str)) if result is not None else None


def _renew_lease(task_id: int, worker_id: str, token: int) -> bool:
    """Restart the timeout of a task that waited in its batch; False when it is no longer ours."""
    statement = (
        update(ScheduledTask)
        .where(*_own_attempt(task_id, worker_id, token))
        .values(started_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    renewed = db.session.execute(statement).rowcount == 1
    db.session.commit()
    return renewed


def _write_own_attempt(task_id: int, worker_id: str, token: int, changes: dict) -> bool:
    """Record the attempt's outcome and commit it with the handler's writes, if the attempt is
    still this worker's; otherwise roll everything back (the fence against a second effect)."""
    statement = (
        update(ScheduledTask)
        .where(*_own_attempt(task_id, worker_id, token))
        .values(**changes, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if db.session.execute(statement).rowcount == 1:
        db.session.commit()
        return True
    db.session.rollback()
    log.warning("scheduled task %s is no longer %s's attempt %s: its writes are discarded", task_id, worker_id, token)
    return False


def _own_attempt(task_id: int, worker_id: str, token: int) -> tuple:
    return (
        ScheduledTask.id == task_id,
        ScheduledTask.status == "running",
        ScheduledTask.locked_by == worker_id,
        ScheduledTask.attempts == token,
    )


# --- outcomes: the column changes each one makes -------------------------------------------------


def _success_changes(task: ScheduledTask, result, now: datetime) -> dict:
    changes = {
        "result": result,
        "locked_by": None,
        "finished_at": now,
        "status": "completed",
        "attempt_history": history_with(task, now, "completed", None),
    }
    if task.recurrence:
        changes |= _next_occurrence_changes(task, now)
    return changes


def _failure_changes(
    task: ScheduledTask, error: str, now: datetime, *, permanent: bool = False, outcome: str = "failed", delay: timedelta | None = None
) -> tuple[str, dict]:
    """Keep the error; schedule a retry with backoff, or fail the task when out of attempts.

    A recurring task that runs out of attempts on a transient error keeps its schedule (the failed
    occurrence stays in its history and last_error); a permanent error stops it.
    """
    changes = {"last_error": error, "locked_by": None, "attempt_history": history_with(task, now, outcome, error)}
    if permanent or task.attempts >= task.max_attempts:
        changes |= {"status": "failed", "finished_at": now}
        if task.recurrence and not permanent:
            changes |= _next_occurrence_changes(task, now)
        return "failed", changes
    retry_at = now + (delay if delay is not None else _backoff(task.attempts))
    return "retry_scheduled", changes | {"status": "retry_scheduled", "scheduled_for": retry_at}


def _next_occurrence_changes(task: ScheduledTask, now: datetime) -> dict:
    try:
        next_time = next_occurrence(task.recurrence, now, anchor=task.scheduled_for)
    except RecurrenceError as exc:
        return {"status": "failed", "last_error": f"recurrence: {exc}"}
    return {"status": "pending", "attempts": 0, "scheduled_for": next_time}


def _is_permanent(exc: Exception) -> bool:
    return isinstance(exc, (PermanentTaskError, ValidationFailed))


def _backoff(attempts: int) -> timedelta:
    base = current_app.config.get("TASK_BACKOFF_SECONDS", DEFAULT_BACKOFF_SECONDS)
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS))


def _describe(exc: Exception) -> str:
    if isinstance(exc, (PermanentTaskError, ValidationFailed)):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}"
    return text[:MAX_ERROR_LENGTH]


# --- processing in this process, and the worker loop --------------------------------------------


def process_due(organization_id: int | None = None, limit: int = 100, now: datetime | None = None) -> dict:
    """Claim and run due tasks now, in this process (only the organization's when given).

    Returns ``{"processed", "completed", "failed", "retry_scheduled"}``. Commits as it goes, so
    call it outside any other unit of work.
    """
    worker_id = make_worker_id("process-due")
    counts = {"processed": 0, **dict.fromkeys(OUTCOMES, 0)}
    for task_id in claim_due_tasks(worker_id, limit, now=now, organization_id=organization_id):
        outcome = run_task(task_id, worker_id, now=now)
        if outcome in OUTCOMES:
            counts["processed"] += 1
            counts[outcome] += 1
    return counts


def run_worker_loop(
    worker_id: str,
    stop_event: threading.Event,
    poll_interval: float = 1.0,
    batch: int = 10,
    *,
    burst: bool = False,
    app: Flask | None = None,
) -> int:
    """Claim and run due tasks until ``stop_event`` is set; returns how many were run.

    Runs in an app context: pass ``app`` to have the loop push its own (a thread of worker.py or
    of the embedded server). With ``burst`` it returns as soon as nothing is due, like
    ``rq worker --burst``. Database errors are logged and retried after ``poll_interval``.
    """
    if app is not None:
        with app.app_context():
            return run_worker_loop(worker_id, stop_event, poll_interval, batch, burst=burst)
    ran = 0
    while not stop_event.is_set():
        try:
            task_ids = claim_due_tasks(worker_id, batch)
        except Exception:
            log.exception("worker %s could not claim tasks; retrying in %ss", worker_id, poll_interval)
            stop_event.wait(poll_interval)
            continue
        if not task_ids:
            if burst:
                break
            stop_event.wait(poll_interval)
            continue
        ran += _run_claimed(task_ids, worker_id, stop_event)
    return ran


def _run_claimed(task_ids: list[int], worker_id: str, stop_event: threading.Event) -> int:
    ran = 0
    for position, task_id in enumerate(task_ids):
        if stop_event.is_set():
            _release(task_ids[position:], worker_id)
            break
        try:
            run_task(task_id, worker_id)
            ran += 1
        except Exception:  # the row stays running and is taken again after its timeout
            db.session.rollback()
            log.exception("worker %s could not record the outcome of task %s", worker_id, task_id)
    return ran


def _release(task_ids: list[int], worker_id: str) -> None:
    """Give back claimed tasks that were not started (the worker is stopping)."""
    task = ScheduledTask
    statement = (
        update(task)
        .where(task.id.in_(task_ids), task.status == "running", task.locked_by == worker_id)
        .values(status=case((task.attempts > 1, "retry_scheduled"), else_="pending"), attempts=task.attempts - 1, locked_by=None)
        .execution_options(synchronize_session=False)
    )
    try:
        db.session.execute(statement)
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("worker %s could not release tasks %s; they are taken again after their timeout", worker_id, task_ids)


def make_worker_id(prefix: str = "worker") -> str:
    """A worker id unique across machines and processes: ``prefix:host:pid:random``."""
    return f"{prefix}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


# --- small helpers -----------------------------------------------------------------------------
