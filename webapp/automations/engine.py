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
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import joinedload

from ..batching import batch, with_new_id
from ..engagement import suppression
from ..extensions import db
from ..jobs import enqueue
from ..jobs.loops import job_id_for, not_waiting
from ..leads.changes import changes_collected
from ..models import Automation, AutomationRun, AutomationRunStep, AutomationVersion, Lead, ScheduledTask, utcnow
from ..models.automations import OPEN_RUN_STATUSES
from . import contact_gate, journey
from .actions import ActionError, StepContext, execute_action
from .conditions import lead_matches
from .versions import definition_for, definitions_for

log = logging.getLogger(__name__)
RUNS_PER_JOB = 100
GOAL_CHUNK = 5000  # leads per query of the goal and wait hooks
MAX_FAILURES_PER_BATCH = 3  # runs taken out of a batch before the rest is executed one by one
MAX_STEP_ATTEMPTS = 3
ONCE_PER_LEAD_TRIGGERS = ("lead_not_contacted",)  # fires once for a lead, re-entry or not (SPEC §17)
# {lead_id: (automation ids)} of the run being executed: its changes must not restart them.
_chain: contextvars.ContextVar[dict | None] = contextvars.ContextVar("automation_chain", default=None)


def current_chain() -> dict:
    return _chain.get() or {}


@contextlib.contextmanager
def _executing(runs: list[AutomationRun]):
    """The chain of these runs' changes: per lead, the automations that are executing for it, and the
    chains that started them (a batch's hooks run once, for all its runs)."""
    chain: dict[int, tuple] = {}
    for run in runs:
        chain[run.lead_id] = tuple(dict.fromkeys((*chain.get(run.lead_id, ()), *(run.chain or ()), run.automation_id)))
    token = _chain.set(chain)
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
    ``lead_not_contacted`` fires once per lead, re-entry or not.
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
                "version": automation.version or 1,
                "path": [],
                "trigger_event_id": event_id,
                "chain": list(chain.get(lead_id, ())),
                "dedupe_key": _dedupe_key(automation, lead_id, event_id, occurrence, manual),
                "created_at": utcnow(),
                "updated_at": utcnow(),
            }
        )
    if not rows:
        return []
    run_ids = sorted(_insert_new_runs(rows))
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
    if automation.allow_reentry and automation.trigger_type not in ONCE_PER_LEAD_TRIGGERS:
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


# --- executing runs ----------------------------------------------------------------------------


def execute_runs(run_ids: list[int]) -> dict:
    """The job: execute a batch of runs in one transaction; returns how each ended.

    All the batch's runs, their steps, leads and definitions are read in four queries, their due
    steps executed without a write (``batching``), then their rows inserted together and committed.
    A run whose action raises is taken out: the batch is rolled back and executed again without it,
    and that run alone goes the careful way (``execute_run``), so one broken run does not fail its
    batch and the steps before its failure keep their effects.
    """
    remaining, alone, outcome = sorted(set(run_ids)), [], {}
    while remaining:
        if len(alone) >= MAX_FAILURES_PER_BATCH:  # a batch of broken runs: one at a time from here
            alone, remaining = alone + remaining, []
            break
        try:
            outcome.update(_advance_batch(remaining))
            break
        except _ActionFailed as failure:
            db.session.rollback()
            alone.append(failure.run_id)
            remaining = [run_id for run_id in remaining if run_id != failure.run_id]
        except Exception:  # not an action's error: which run caused it is unknown, so each goes alone
            db.session.rollback()
            log.exception("a batch of automation runs failed; executing them one by one")
            alone, remaining = alone + remaining, []
    for run_id in alone:
        try:
            outcome[run_id] = execute_run(run_id)
        except Exception:  # it stays open and is requeued
            db.session.rollback()
            log.exception("automation run %s could not be executed", run_id)
            outcome[run_id] = "error"
    return outcome


class _ActionFailed(Exception):
    """An action raised while steps were executed in one transaction (the error is its ``__cause__``)."""

    def __init__(self, run_id: int, step_id: int):
        super().__init__(f"run {run_id}, step {step_id}")
        self.run_id, self.step_id = run_id, step_id


FINISHED_STEP_STATUSES = ("completed", "skipped", "failed", "cancelled")


def _advance_batch(run_ids: list[int]) -> dict:
    """Lock the runs that no other transaction holds, execute their due steps, commit once.

    A run locked elsewhere is being executed (or resumed) there: it is left to that transaction."""
    leads = _lock_leads(run_ids)
    runs = db.session.scalars(
        select(AutomationRun)
        .where(AutomationRun.id.in_(run_ids))
        .order_by(AutomationRun.id)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    ).all()
    outcome = dict.fromkeys(run_ids, "locked") | {run.id: run.status for run in runs}
    runs = [run for run in runs if run.status in OPEN_RUN_STATUSES]
    if not runs:
        db.session.rollback()
        return outcome
    steps = {run.id: [] for run in runs}
    for step in db.session.scalars(
        select(AutomationRunStep)
        .where(AutomationRunStep.run_id.in_(steps))
        .order_by(AutomationRunStep.run_id, AutomationRunStep.position)
        .with_for_update()
        .execution_options(populate_existing=True)
    ):
        steps[step.run_id].append(step)
    definitions = definitions_for(runs)
    # Nothing is written until the walks are done: the new rows of all runs go in one INSERT per
    # table, and the hooks of all their lead changes run once, on leaving changes_collected().
    with _executing(runs), changes_collected(), batch(), db.session.no_autoflush:
        suppression.read_ahead({(lead.organization_id, lead.email) for lead in leads.values()})
        contact_gate.read_ahead(leads.values())  # the contactability facts: once for the batch, at its first check
        for run in runs:
            outcome[run.id] = _walk(run, steps[run.id], leads[run.lead_id], definitions[run.id])
    db.session.commit()
    return outcome


def execute_run(run_id: int) -> str:
    """Execute one run's due steps in order; returns the run's status afterwards.

    First all due steps in one transaction, under a lock on the run row (a second job for the same run
    waits, then finds the steps done). If an action raises, that transaction is rolled back and the
    run is executed again one step per transaction, so that the steps before the failing one keep
    their effects and the failed attempt is recorded. No savepoints: releasing one would hand the
    transaction's queued jobs to workers before the commit.
    """
    try:
        return _advance(run_id, careful=False)
    except _ActionFailed:
        db.session.rollback()
    while True:
        status = _advance(run_id, careful=True)
        if status != "running":
            return status


def _lock_leads(run_ids: list[int]) -> dict[int, Lead]:
    """Lock the runs' leads, in id order, before the runs: a lead change locks its lead, then the
    lead's open runs (goals, waits), and taking them the other way round would deadlock with it."""
    leads = db.session.scalars(
        select(Lead)
        .where(Lead.id.in_(select(AutomationRun.lead_id).where(AutomationRun.id.in_(run_ids))))
        .order_by(Lead.id)
        .with_for_update(key_share=True, of=Lead)  # FOR NO KEY UPDATE, as an UPDATE of the lead takes
        .options(joinedload(Lead.assigned_to))
        .execution_options(populate_existing=True)
    )
    return {lead.id: lead for lead in leads.unique()}


def _advance(run_id: int, careful: bool) -> str:
    """Lock the run, execute its due steps (only the next one when ``careful``), commit; return its status."""
    leads = _lock_leads([run_id])
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
    try:
        state = _walk(run, list(steps), leads[run.lead_id], definition_for(run), careful)
    except _ActionFailed as failure:
        if not careful:
            raise
        db.session.rollback()  # this step's effect only: the steps before it are committed
        return _record_failure(run_id, failure.step_id, failure.__cause__)
    db.session.commit()
    return state


def _walk(run: AutomationRun, steps: list, lead: Lead, definition: dict, careful: bool = False) -> str:
    """Execute the run's due steps in the caller's transaction; returns its status (``running``: more
    to do at once). Raises ``_ActionFailed`` when an action raises.

    The run walks its version's tree (``journey``): each step row is created as the run reaches its
    action; a flow action's step records the branch taken, and the run goes on into that branch.
    ``careful``: one step only, and a step reached is first committed by the caller, so that a failed
    attempt of its action can be recorded on it.
    """
    run.started_at = run.started_at or utcnow()
    if careful:  # other transactions see it between the steps
        run.status = "running"
    if goal_holds(definition, lead):
        reach_goal(run, steps)
        return run.status
    executed = 0
    while True:
        if careful and executed:
            return _ends(run, "running")
        step = next((s for s in steps if s.status not in FINISHED_STEP_STATUSES), None)
        if step is None:
            try:
                step = _reach_next(run, definition, steps)
            except ActionError as exc:  # the version does not hold the action the run stands on
                run.error = str(exc)
                return _ends(run, "failed")
            if step is None:
                return _ends(run, "skipped" if steps and all(s.status == "skipped" for s in steps) else "completed")
            if careful:
                return _ends(run, "running")
        executed += 1
        try:
            step_state = _execute_step(run, step, lead)
        except Exception as exc:
            raise _ActionFailed(run.id, step.id) from exc
        if run.status in ("exited", "goal_reached"):  # an exit step, or a goal met by the step's own change
            return _ends(run, run.status)
        if goal_holds(definition, lead):  # the step's change met the goal (in a batch, before any hook ran)
            reach_goal(run, steps)
            return run.status
        if step_state in ("waiting", "failed"):
            return _ends(run, step_state)


def _ends(run: AutomationRun, state: str) -> str:
    run.status = state
    if state not in OPEN_RUN_STATUSES:
        run.finished_at = run.finished_at or utcnow()
    return state


def _reach_next(run: AutomationRun, definition: dict, steps: list) -> AutomationRunStep | None:
    """The step row of the action the run reaches next (None at the end of its journey)."""
    actions = definition.get("actions") or []
    if steps:
        last = steps[-1]
        after = journey.locate(actions, last.action_id)
        if after is None:
            raise ActionError(f"the step's action {last.action_id} is not in version {run.version} of the automation")
        branch = (last.output or {}).get("branch") if last.status == "completed" else None
        location = journey.next_location(actions, after, branch)
    else:
        location = journey.next_location(actions, None)
    if location is None:
        return None
    action = journey.action_at(actions, location)
    delay = action.get("delay_minutes") or 0
    if not steps and not definition.get("run_immediately", True):
        delay += definition.get("delay_minutes") or 0
    step = AutomationRunStep(
        run_id=run.id,
        action_id=action["id"],
        action_type=action["action_type"],
        position=len(steps),
        configuration=action.get("configuration") or {},
        conditions=action.get("conditions") or {},
        delay_minutes=delay,
        status="pending",
        attempts=0,
    )
    with_new_id(step)  # its id is its idempotency key
    steps.append(step)
    return step


def _execute_step(run: AutomationRun, step: AutomationRunStep, lead: Lead) -> str:
    """One step, inside the caller's transaction; returns its status (``waiting`` parks the run)."""
    if _is_waiting_for_event(step):
        return "waiting"  # only its event or its timeout moves it on (resume_waiting_runs, resume_delayed_step)
    now = utcnow()
    if step.delay_minutes and step.due_at is None:
        step.due_at = now + timedelta(minutes=step.delay_minutes)
    if step.due_at and step.due_at > now:
        if step.status != "waiting":  # parked already: its delayed_automation task exists
            _wait_until(run, step, step.due_at)
        return "waiting"
    if not lead_matches(step.conditions, lead, empty_means=True):
        output, status = {"reason": "conditions not met"}, "skipped"
    elif step.action_type == "wait_until":
        return _start_waiting(run, step, now)
    elif step.action_type in journey.FLOW_ACTIONS:
        output, status = _flow_output(run, step, lead), "completed"
    else:
        with _executing([run]):
            output = execute_action(step.action_type, step.configuration or {}, StepContext(run=run, step=step, lead=lead))
        if output.get("deferred"):
            return _defer(run, step, output, now)
        output = _with_deferrals(step, output)
        status = "skipped" if output and output.get("skipped") else "completed"
    # written after the action, so that the step's row is updated once (a failed attempt is counted
    # by _record_failure, after the rollback of its effect)
    step.started_at, step.attempts = step.started_at or now, step.attempts + 1
    _finish_step(run, step, status, output)
    if step.action_type == "exit" and status == "completed":
        run.status = "exited"
    return step.status


def _defer(run: AutomationRun, step: AutomationRunStep, output: dict, now) -> str:
    """The contactability check blocks the step until ``next_allowed_at`` (SPEC §17): the run waits, a
    delayed_automation task resumes it then, and the step is checked again."""
    earlier = (step.output or {}).get("deferrals", 0) if (step.output or {}).get("deferred") else 0
    step.started_at = step.started_at or now
    step.output = {**output, "deferrals": earlier + 1}
    step.due_at = datetime.fromisoformat(output["next_allowed_at"])
    _wait_until(run, step, step.due_at)
    return "waiting"


def _with_deferrals(step: AutomationRunStep, output: dict) -> dict:
    """A step that was deferred keeps the record of its last deferral in its final output."""
    before = step.output or {}
    if not before.get("deferred"):
        return output
    keep = ("reasons", "next_allowed_at", "deferrals")
    return {**output, "deferred_before": {key: before.get(key) for key in keep}}


def _flow_output(run: AutomationRun, step: AutomationRunStep, lead: Lead) -> dict:
    """What a branch, split or exit step decides: the branch the run follows (or the exit's reason)."""
    if step.action_type == "exit":
        return {"exited": True, "reason": (step.configuration or {}).get("reason") or ""}
    action = {"id": step.action_id, "action_type": step.action_type, "configuration": step.configuration}
    return {"branch": journey.decide(action, lead.id, _rules_of(lead))}


def _finish_step(run: AutomationRun, step: AutomationRunStep, status: str, output: dict | None) -> None:
    """A step's outcome, and the run's path (``{"action_id", "branch"}`` of every finished step)."""
    step.status, step.finished_at, step.output, step.error = status, utcnow(), output, None
    run.path = [*(run.path or []), {"action_id": step.action_id, "branch": (output or {}).get("branch")}]


def _is_waiting_for_event(step: AutomationRunStep) -> bool:
    return step.action_type == "wait_until" and step.status == "waiting" and "waiting_for" in (step.output or {})


def _start_waiting(run: AutomationRun, step: AutomationRunStep, now) -> str:
    """A wait_until parks the run until a matching lead event (``resume_waiting_runs``) or its timeout."""
    config = step.configuration or {}
    step.started_at, step.attempts = step.started_at or now, step.attempts + 1
    step.due_at = now + timedelta(minutes=int(config["timeout_minutes"]))
    step.output = {"waiting_for": config["event_type"], "until": step.due_at.isoformat()}
    _wait_until(run, step, step.due_at)
    return "waiting"


# --- journeys: waits, goals (hooks of every lead change) --------------------------------------------


def rules_hold(rule_set: dict | None, lead: Lead) -> bool:
    """A branch's, wait's or goal's ``{"match_all_rules", "rules"}`` for this lead (no rules: False)."""
    rule_set = rule_set or {}
    if not rule_set.get("rules"):
        return False
    return lead_matches({"match_all": rule_set.get("match_all_rules", True), "rules": rule_set["rules"]}, lead)


def _rules_of(lead: Lead):
    return lambda rule_set: rules_hold(rule_set, lead)


def goal_holds(definition: dict, lead: Lead) -> bool:
    return rules_hold(definition.get("goal"), lead)


def reach_goal(run: AutomationRun, steps: list[AutomationRunStep]) -> None:
    """The lead met the goal: the run ends ``goal_reached``; its waiting and pending steps are cancelled."""
    now = utcnow()
    for step in steps:
        if step.status not in FINISHED_STEP_STATUSES:
            step.status, step.finished_at = "cancelled", now
    run.status, run.finished_at = "goal_reached", now


def check_goals(organization_id: int, lead_ids: list[int]) -> list:
    """The lead-change hook: open runs of these leads whose version's goal the lead now meets end ``goal_reached``."""
    if not lead_ids or not _any_goal(organization_id):
        return []
    for start in range(0, len(lead_ids), GOAL_CHUNK):
        runs = db.session.scalars(
            select(AutomationRun)
            .where(
                AutomationRun.organization_id == organization_id,
                AutomationRun.lead_id.in_(lead_ids[start : start + GOAL_CHUNK]),
                AutomationRun.status.in_(OPEN_RUN_STATUSES),
            )
            .order_by(AutomationRun.id)
            .with_for_update()  # a worker executing one of them finishes its steps first
            .execution_options(populate_existing=True)
        ).all()
        goals = _goals_of({(run.automation_id, run.version) for run in runs})
        for run in runs:
            if run.status not in OPEN_RUN_STATUSES:
                continue  # finished while we waited for its lock
            if goals.get((run.automation_id, run.version)) and rules_hold(goals[(run.automation_id, run.version)], run.lead):
                reach_goal(run, run.steps)
    return []


def _any_goal(organization_id: int) -> bool:
    """Has an active automation of the organization a goal? (One small query spares the lead changes
    of organizations without goals — a CSV import of new leads — the search for open runs. A run of
    an earlier version whose goal the current one dropped still checks it before each step.)"""
    goals = db.session.scalars(select(Automation.goal).where(Automation.organization_id == organization_id, Automation.is_active.is_(True)))
    return any((goal or {}).get("rules") for goal in goals)


def _goals_of(versions: set[tuple[int, int]]) -> dict:
    if not versions:
        return {}
    rows = db.session.execute(
        select(AutomationVersion.automation_id, AutomationVersion.version, AutomationVersion.definition).where(
            AutomationVersion.automation_id.in_({automation_id for automation_id, _ in versions})
        )
    )
    return {(a, v): (d or {}).get("goal") for a, v, d in rows if (a, v) in versions}


def resume_waiting_runs(organization_id: int, events: list) -> None:
    """The lead-events hook: a run waiting for one of these events goes on, down ``met``, in this transaction."""
    waiting_any = select(AutomationRun.id).where(AutomationRun.organization_id == organization_id, AutomationRun.status == "waiting")
    if not events or db.session.scalar(waiting_any.limit(1)) is None:
        return  # nothing waits in this organization (one query, whatever the number of events)
    by_lead: dict[int, list] = {}
    for event in events:
        by_lead.setdefault(event.lead_id, []).append(event)
    lead_ids = sorted(by_lead)
    resumed = []
    for start in range(0, len(lead_ids), GOAL_CHUNK):
        waiting = db.session.execute(
            select(AutomationRunStep, AutomationRun)
            .join(AutomationRun, AutomationRun.id == AutomationRunStep.run_id)
            .where(
                AutomationRun.organization_id == organization_id,
                AutomationRun.lead_id.in_(lead_ids[start : start + GOAL_CHUNK]),
                AutomationRun.status == "waiting",
                AutomationRunStep.status == "waiting",
                AutomationRunStep.action_type == "wait_until",
            )
            .order_by(AutomationRun.id)
            .with_for_update(of=AutomationRun)
        ).all()
        for step, run in waiting:
            if not _is_waiting_for_event(step):
                continue  # still in the delay before the wait
            action, lead = {"configuration": step.configuration}, run.lead
            met = next((e for e in by_lead[run.lead_id] if journey.event_meets_wait(action, e.event_type, _rules_of(lead))), None)
            if met is not None:
                _finish_step(run, step, "completed", {"branch": "met", "event_id": met.id, "event_type": met.event_type})
                run.status = "pending"
                resumed.append(run.id)
    if resumed:
        queue_runs(sorted(resumed))


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
    """Handler of ``delayed_automation`` tasks: make the step due (a wait_until: timed out) and queue its run."""
    run = db.session.scalar(
        select(AutomationRun).where(AutomationRun.id == task.payload["run_id"]).with_for_update().execution_options(populate_existing=True)
    )
    step = db.session.get(AutomationRunStep, task.payload["step_id"], populate_existing=True)
    if run is None or step is None or run.organization_id != task.organization_id:
        return {"resumed": False, "reason": "the run no longer exists"}
    if run.status != "waiting" or step.status != "waiting":
        return {"resumed": False, "reason": f"run is {run.status}, step is {step.status}"}
    if _is_waiting_for_event(step):
        _finish_step(run, step, "completed", {**step.output, "branch": "timed_out"})
    else:
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
