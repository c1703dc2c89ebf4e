"""Runs: created in the transaction of their trigger, executed step by step by workers.

A run's due steps execute in one transaction under a lock on the run row: every step's effect and
its ``completed`` status are committed together, so a step retried after a crash or run twice by two
workers has its effect once. Delays and retries with backoff are scheduled tasks
(``delayed_automation``); a run left ``pending``/``running`` by a lost job or a dead worker is found
by ``requeue_stalled_runs`` and queued again.
"""

import contextlib
import contextvars
import logging
import uuid
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..extensions import db
from ..jobs import enqueue
from ..jobs.loops import job_id_for, not_waiting
from ..models import Automation, AutomationRun, AutomationRunStep, Lead, ScheduledTask, utcnow
from ..models.automations import OPEN_RUN_STATUSES
from .actions import StepContext, execute_action
from .conditions import lead_matches

log = logging.getLogger(__name__)
RUNS_PER_JOB = 100
MAX_STEP_ATTEMPTS = 3
# {lead_id: (automation ids)} of the run being executed: its changes must not restart them.
_chain: contextvars.ContextVar[dict | None] = contextvars.ContextVar("automation_chain", default=None)


def current_chain() -> dict:
    return _chain.get() or {}


@contextlib.contextmanager
def _executing(run: AutomationRun):
    token = _chain.set({run.lead_id: tuple(run.chain or ()) + (run.automation_id,)})
    try:
        yield
    finally:
        _chain.reset(token)


# --- creating runs -----------------------------------------------------------------------------


def create_runs(
    organization_id: int, wanted: list[tuple], chain: dict | None = None, occurrence: str | None = None, manual: bool = False
) -> list[int]:
    """Record runs for ``(automation, lead_id, event_id)`` whose conditions hold; queue them after commit.

    Without re-entry an automation runs once per lead ever (a unique dedupe key); with re-entry,
    or for time_based occurrences and manual starts, again, but never while one is still open.
    """
    chain = chain or {}
    leads = _leads_by_id(organization_id, {lead_id for _, lead_id, _ in wanted})
    open_runs = _open_runs({a.id for a, _, _ in wanted}, set(leads))
    rows, seen = [], set()
    for automation, lead_id, event_id in wanted:
        lead = leads.get(lead_id)
        key = (automation.id, lead_id)
        if lead is None or key in seen or key in open_runs:
            continue
        if not lead_matches(automation.conditions, lead):
            continue
        seen.add(key)
        rows.append(
            {
                "organization_id": organization_id,
                "automation_id": automation.id,
                "lead_id": lead_id,
                "status": "pending",
                "trigger_type": automation.trigger_type,
                "trigger_event_id": event_id,
                "chain": list(chain.get(lead_id, ())),
                "dedupe_key": _dedupe_key(automation, lead_id, event_id, occurrence, manual),
                "created_at": utcnow(),
                "updated_at": utcnow(),
            }
        )
    if not rows:
        return []
    created = _insert_new_runs(rows)
    automations = {a.id: a for a, _, _ in wanted}
    _insert_steps(created, automations)
    run_ids = sorted(created)
    queue_runs(run_ids)
    return run_ids


def queue_runs(run_ids: list[int]) -> None:
    """Queue ``execute_runs`` jobs for these runs (sorted ids), in batches, once the transaction commits."""
    for start in range(0, len(run_ids), RUNS_PER_JOB):
        batch = run_ids[start : start + RUNS_PER_JOB]
        enqueue(execute_runs, batch, job_id=job_id_for("runs", batch[0], batch[-1]))


def _dedupe_key(automation: Automation, lead_id: int, event_id, occurrence, manual) -> str:
    if manual:
        return f"{automation.id}:{lead_id}:manual:{uuid.uuid4().hex}"
    if occurrence:
        return f"{automation.id}:{lead_id}:at:{occurrence}"
    if automation.allow_reentry:
        return f"{automation.id}:{lead_id}:event:{event_id or uuid.uuid4().hex}"
    return f"{automation.id}:{lead_id}"


def how_started(run: AutomationRun) -> str:
    """How a run began, in words (the run history): by hand, on its schedule, or by its trigger's event.

    Read from the dedupe key, which ``_dedupe_key`` above writes differently for each."""
    key = run.dedupe_key or ""
    if ":manual:" in key:
        return "started by hand"
    if ":at:" in key:
        return "on schedule"
    return run.trigger_type.replace("_", " ")


def _leads_by_id(organization_id: int, lead_ids: set[int]) -> dict[int, Lead]:
    if not lead_ids:
        return {}
    leads = db.session.scalars(select(Lead).where(Lead.organization_id == organization_id, Lead.id.in_(lead_ids)))
    return {lead.id: lead for lead in leads}


def _open_runs(automation_ids: set[int], lead_ids: set[int]) -> set[tuple[int, int]]:
    if not automation_ids or not lead_ids:
        return set()
    rows = db.session.execute(
        select(AutomationRun.automation_id, AutomationRun.lead_id).where(
            AutomationRun.automation_id.in_(automation_ids),
            AutomationRun.lead_id.in_(lead_ids),
            AutomationRun.status.in_(OPEN_RUN_STATUSES),
        )
    )
    return {(a, lead) for a, lead in rows}


def _insert_new_runs(rows: list[dict]) -> dict[int, dict]:
    """Insert runs, skipping dedupe keys that exist (a trigger handled twice starts nothing twice)."""
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(AutomationRun).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(AutomationRun.id, AutomationRun.dedupe_key)
    )
    by_key = {row["dedupe_key"]: row for row in rows}
    created = {}
    for row in rows:  # one statement per run: ON CONFLICT with RETURNING reports only inserted rows
        result = db.session.execute(statement.values(**row)).first()
        if result is not None:
            created[result.id] = by_key[result.dedupe_key]
    return created


def _insert_steps(created: dict[int, dict], automations: dict[int, Automation]) -> None:
    steps = []
    for run_id, row in created.items():
        automation = automations[row["automation_id"]]
        active = [a for a in automation.actions if a.is_active]
        for position, action in enumerate(active):
            delay = action.delay_minutes or 0
            if position == 0 and not automation.run_immediately:
                delay += automation.delay_minutes or 0
            steps.append(
                {
                    "run_id": run_id,
                    "action_id": action.id,
                    "action_type": action.action_type,
                    "position": position,
                    "configuration": action.configuration or {},
                    "conditions": action.conditions or {},
                    "delay_minutes": delay,
                    "status": "pending",
                    "attempts": 0,
                    "created_at": utcnow(),
                    "updated_at": utcnow(),
                }
            )
    if steps:
        db.session.execute(AutomationRunStep.__table__.insert(), steps)


# --- executing runs ----------------------------------------------------------------------------


def execute_runs(run_ids: list[int]) -> dict:
    """The job: execute these runs one after the other; returns how each ended."""
    outcome = {}
    for run_id in run_ids:
        try:
            outcome[run_id] = execute_run(run_id)
        except Exception:  # one broken run must not stop the batch; it stays open and is requeued
            db.session.rollback()
            log.exception("automation run %s could not be executed", run_id)
            outcome[run_id] = "error"
    return outcome


class _ActionFailed(Exception):
    """An action raised while the run's steps were executed in one transaction."""


FINISHED_STEP_STATUSES = ("completed", "skipped", "failed", "cancelled")


def execute_run(run_id: int) -> str:
    """Execute the run's due steps in order; returns the run's status afterwards.

    Usually all due steps run in one transaction, under a lock on the run row (a second job for the
    same run waits, then finds the steps done), and commit together with their statuses. If an action
    raises, that transaction is rolled back and the run is executed again one step per transaction,
    so that the steps before the failing one keep their effects and the failed attempt is recorded.
    No savepoints: releasing one would hand the transaction's queued jobs to workers before the commit.
    """
    try:
        return _advance(run_id, careful=False)
    except _ActionFailed:
        db.session.rollback()
    while True:
        status = _advance(run_id, careful=True)
        if status != "running":
            return status


def _advance(run_id: int, careful: bool) -> str:
    """Lock the run, execute its due steps (only the next one when ``careful``), commit; return its status."""
    run = db.session.scalar(
        select(AutomationRun).where(AutomationRun.id == run_id).with_for_update().execution_options(populate_existing=True)
    )
    if run is None or run.status not in OPEN_RUN_STATUSES:
        status = run.status if run else "missing"
        db.session.rollback()
        return status
    steps = db.session.scalars(
        select(AutomationRunStep)
        .where(AutomationRunStep.run_id == run_id)
        .order_by(AutomationRunStep.position)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    lead = db.session.get(Lead, run.lead_id)
    run.started_at = run.started_at or utcnow()
    if careful:  # other transactions see it between the steps
        run.status = "running"
    state, executed = "running", 0
    for step in steps:
        if step.status in FINISHED_STEP_STATUSES:
            continue
        if careful and executed:
            break
        executed, step_id = executed + 1, step.id
        try:
            step_state = _execute_step(run, step, lead)
        except Exception as exc:
            if not careful:
                raise _ActionFailed() from exc
            db.session.rollback()  # this step's effect only: the steps before it are committed
            return _record_failure(run_id, step_id, exc)
        if step_state in ("waiting", "failed"):
            state = step_state
            break
    else:
        state = "skipped" if steps and all(s.status == "skipped" for s in steps) else "completed"
    run.status = state
    if state in ("completed", "skipped", "failed"):
        run.finished_at = utcnow()
    db.session.commit()
    return state


def _execute_step(run: AutomationRun, step: AutomationRunStep, lead: Lead) -> str:
    """One step, inside the caller's transaction; returns its status (``waiting`` parks the run)."""
    now = utcnow()
    if step.delay_minutes and step.due_at is None:
        step.due_at = now + timedelta(minutes=step.delay_minutes)
    if step.due_at and step.due_at > now:
        if step.status != "waiting":  # parked already: its delayed_automation task exists
            _wait_until(run, step, step.due_at)
        return "waiting"
    if not lead_matches(step.conditions, lead, empty_means=True):
        output, status = {"reason": "conditions not met"}, "skipped"
    else:
        with _executing(run):
            output = execute_action(step.action_type, step.configuration or {}, StepContext(run=run, step=step, lead=lead))
        status = "skipped" if output and output.get("skipped") else "completed"
    # written after the action, so that the step's row is updated once (a failed attempt is counted
    # by _record_failure, after the rollback of its effect)
    step.started_at, step.attempts = step.started_at or now, step.attempts + 1
    step.status, step.finished_at, step.output, step.error = status, utcnow(), output, None
    return step.status


def _record_failure(run_id: int, step_id: int, exc: Exception) -> str:
    """Record a failed attempt in its own transaction: retry with backoff, or fail the run with the error.

    Returns the run's status (``running`` when the step is to be tried again at once)."""
    run = db.session.scalar(
        select(AutomationRun).where(AutomationRun.id == run_id).with_for_update().execution_options(populate_existing=True)
    )
    step = db.session.get(AutomationRunStep, step_id, populate_existing=True, with_for_update=True)
    if run is None or step is None or run.status not in OPEN_RUN_STATUSES:
        status = run.status if run else "missing"
        db.session.rollback()
        return status
    step.attempts += 1
    step.started_at = step.started_at or utcnow()
    step.error = f"{type(exc).__name__}: {exc}"[:2000]
    permanent = getattr(exc, "permanent", False)
    if step.attempts < MAX_STEP_ATTEMPTS and not permanent:
        backoff = current_app.config.get("AUTOMATION_RETRY_BACKOFF_SECONDS", 30) * 2 ** (step.attempts - 1)
        step.due_at = utcnow() + timedelta(seconds=backoff)
        state = "running"  # tried again at once
        if backoff > 0:
            _wait_until(run, step, step.due_at)
            state = "waiting"
        db.session.commit()
        return state
    step.status, step.finished_at = "failed", utcnow()
    run.status, run.finished_at = "failed", utcnow()
    run.error = f"step {step.position + 1} ({step.action_type}): {step.error}"
    db.session.commit()
    return "failed"


def _wait_until(run: AutomationRun, step: AutomationRunStep, due_at) -> None:
    """Park the run: a delayed_automation task resumes it at ``due_at``."""
    step.status = "waiting"
    run.status = "waiting"
    db.session.add(
        ScheduledTask(
            organization_id=run.organization_id,
            task_type="delayed_automation",
            name=f"Run {run.id} step {step.position + 1}",
            scheduled_for=due_at,
            payload={"run_id": run.id, "step_id": step.id},
            priority=60,
        )
    )


def resume_delayed_step(task: ScheduledTask) -> dict:
    """Handler of ``delayed_automation`` tasks: make the step due and queue its run."""
    run = db.session.get(AutomationRun, task.payload["run_id"])
    step = db.session.get(AutomationRunStep, task.payload["step_id"])
    if run is None or step is None or run.organization_id != task.organization_id:
        return {"resumed": False, "reason": "the run no longer exists"}
    if run.status != "waiting" or step.status != "waiting":
        return {"resumed": False, "reason": f"run is {run.status}, step is {step.status}"}
    step.status = "pending"
    step.due_at = min(step.due_at or utcnow(), utcnow())  # the scheduler says it is time
    run.status = "pending"
    queue_runs([run.id])
    return {"resumed": True, "run_id": run.id}


# --- control ----------------------------------------------------------------------------------


def cancel_open_runs(automation: Automation) -> int:
    """Deactivation: pending and waiting runs are cancelled, with their waiting steps."""
    run_ids = db.session.scalars(
        select(AutomationRun.id).where(AutomationRun.automation_id == automation.id, AutomationRun.status.in_(OPEN_RUN_STATUSES))
    ).all()
    if not run_ids:
        return 0
    now = utcnow()
    db.session.execute(
        update(AutomationRun).where(AutomationRun.id.in_(run_ids)).values(status="cancelled", finished_at=now, updated_at=now)
    )
    db.session.execute(
        update(AutomationRunStep)
        .where(AutomationRunStep.run_id.in_(run_ids), AutomationRunStep.status.in_(("pending", "waiting")))
        .values(status="cancelled", updated_at=now)
    )
    return len(run_ids)


def retry_run(run: AutomationRun) -> None:
    """A failed run starts again at its failed step (completed steps are not repeated)."""
    if run.status != "failed":
        raise ValueError("only failed runs can be retried")
    for step in run.steps:
        if step.status == "failed":
            step.status, step.attempts, step.error, step.due_at, step.finished_at = "pending", 0, None, None, None
    run.status, run.error, run.finished_at = "pending", None, None
    queue_runs([run.id])


def requeue_stalled_runs() -> int:
    """Runs still pending/running long after their last change lost their job: queue them again.

    Runs that a job still waiting in the queue will execute are not stalled, only behind a backlog."""
    cutoff = utcnow() - timedelta(seconds=current_app.config["STALLED_AFTER_SECONDS"])
    run_ids = db.session.scalars(
        select(AutomationRun.id)
        .where(AutomationRun.status.in_(("pending", "running")), AutomationRun.updated_at < cutoff, not_waiting(AutomationRun.id, "runs"))
        .order_by(AutomationRun.id)
        .limit(5000)
    ).all()
    if run_ids:
        db.session.execute(update(AutomationRun).where(AutomationRun.id.in_(run_ids)).values(updated_at=utcnow()))
        queue_runs(list(run_ids))
        db.session.commit()
    return len(run_ids)
