"""Scheduled tasks on PostgreSQL: claiming, retries, recurrence, cancel/retry, batch operations."""

import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text

from tests.factories import make_lead, make_org
from webapp.extensions import db
from webapp.features import TaskType, wiring
from webapp.models import Lead, LeadEvent, Organization, ScheduledTask, utcnow
from webapp.scheduled_tasks import execution
from webapp.scheduled_tasks.definitions import (
    PermanentTaskError,
    cancel_task,
    create_task,
    retry_task,
    task_type_names,
    update_task,
    validate_payload,
)
from webapp.scheduled_tasks.execution import claim_due_tasks, process_due, run_task, run_worker_loop
from webapp.validation import Conflict, ValidationFailed

# --- test-only task types ----------------------------------------------------------------------


def _echo(task):
    return {"echo": task.payload}


def _fail_until(task):
    """Fails while the attempt number is <= payload["fail_times"] (forever without it)."""
    if task.attempts <= task.payload.get("fail_times", 10**6):
        raise RuntimeError(f"boom on attempt {task.attempts}")
    return {"succeeded_on": task.attempts}


def _permanent(task):
    raise PermanentTaskError("payload.automation_id: no such automation")


def _reclaimed_while_running(task):
    """Writes a row, then another 'worker' takes the task over (as after a timeout)."""
    db.session.add(Organization(name="written by a stale attempt", slug="stale"))
    with db.engine.begin() as other_worker:
        other_worker.execute(
            text("UPDATE scheduled_tasks SET locked_by = 'other', attempts = attempts + 1 WHERE id = :id"), {"id": task.id}
        )
    return {"wrote": True}


def _stop_the_worker(task):
    STOP.set()
    return None


STOP = threading.Event()
ANY_PAYLOAD = lambda payload, organization_id: []  # noqa: E731


@pytest.fixture(autouse=True)
def _test_task_types(extra_task_types):
    extra_task_types(
        *(
            TaskType(name, handler, ANY_PAYLOAD)
            for name, handler in [
                ("test_echo", _echo),
                ("test_flaky", _fail_until),
                ("test_permanent", _permanent),
                ("test_reclaimed", _reclaimed_while_running),
                ("test_stop", _stop_the_worker),
            ]
        )
    )


def at(*parts) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def task_row(task_id: int) -> ScheduledTask:
    return db.session.get(ScheduledTask, task_id, populate_existing=True)


def add_task(org, task_type="test_echo", payload=None, **fields) -> ScheduledTask:
    task = create_task(org.id, task_type, payload if payload is not None else {}, **fields)
    db.session.commit()
    return task


@pytest.fixture
def org(session):
    return make_org()


@pytest.fixture
def no_backoff(app, monkeypatch):
    monkeypatch.setitem(app.config, "TASK_BACKOFF_SECONDS", 0)


# --- claiming ----------------------------------------------------------------------------------


def test_claim_takes_the_highest_priority_first_then_the_oldest(org):
    t0 = utcnow() - timedelta(minutes=10)
    low = add_task(org, priority=10, scheduled_for=t0)
    urgent_new = add_task(org, priority=90, scheduled_for=t0 + timedelta(minutes=2))
    normal = add_task(org, priority=50, scheduled_for=t0)
    urgent_old = add_task(org, priority=90, scheduled_for=t0 + timedelta(minutes=1))

    assert claim_due_tasks("w1", 3) == [urgent_old.id, urgent_new.id, normal.id]
    assert claim_due_tasks("w2", 3) == [low.id]
    claimed = task_row(urgent_old.id)
    assert (claimed.status, claimed.locked_by, claimed.attempts) == ("running", "w1", 1)
    assert claimed.started_at is not None


def test_claim_leaves_future_finished_and_claimed_tasks_alone(org):
    add_task(org, scheduled_for=utcnow() + timedelta(hours=1))
    for status in ("completed", "failed", "cancelled"):
        task = add_task(org)
        task.status = status
    db.session.commit()
    due = add_task(org)

    assert claim_due_tasks("w1", 10) == [due.id]
    assert claim_due_tasks("w2", 10) == []


def test_retry_scheduled_tasks_are_due_at_their_retry_time(org):
    task = add_task(org)
    task.status, task.scheduled_for = "retry_scheduled", at(2030, 1, 1)
    db.session.commit()
    assert claim_due_tasks("w1", 10, now=at(2029, 12, 31)) == []
    assert claim_due_tasks("w1", 10, now=at(2030, 1, 1)) == [task.id]


# --- running, retries, failures ------------------------------------------------------------------


def test_a_successful_task_is_completed_with_its_result_and_attempt_history(org):
    task = add_task(org, payload={"x": 1})
    assert process_due() == {"processed": 1, "completed": 1, "failed": 0, "retry_scheduled": 0}
    done = task_row(task.id)
    assert (done.status, done.attempts, done.locked_by) == ("completed", 1, None)
    assert done.result == {"echo": {"x": 1}}
    assert done.finished_at is not None
    [attempt] = done.attempt_history
    assert attempt["outcome"] == "completed" and attempt["error"] is None
    assert attempt["worker"].startswith("process-due:") and attempt["started_at"] and attempt["finished_at"]


def test_a_failing_task_is_retried_with_exponential_backoff_then_failed_with_its_error(org):
    t0 = utcnow()
    task = add_task(org, "test_flaky", scheduled_for=t0, max_attempts=3)

    assert process_due(now=t0)["retry_scheduled"] == 1
    first = task_row(task.id)
    assert (first.status, first.attempts) == ("retry_scheduled", 1)
    assert first.scheduled_for == t0 + timedelta(seconds=30)
    assert first.last_error == "RuntimeError: boom on attempt 1"

    assert process_due(now=t0 + timedelta(seconds=29))["processed"] == 0
    assert process_due(now=t0 + timedelta(seconds=30))["retry_scheduled"] == 1
    assert task_row(task.id).scheduled_for == t0 + timedelta(seconds=30 + 60)

    assert process_due(now=t0 + timedelta(seconds=90)) == {"processed": 1, "completed": 0, "failed": 1, "retry_scheduled": 0}
    failed = task_row(task.id)
    assert (failed.status, failed.attempts) == ("failed", 3)
    assert failed.last_error == "RuntimeError: boom on attempt 3"
    assert [a["outcome"] for a in failed.attempt_history] == ["failed", "failed", "failed"]
    assert [a["error"] for a in failed.attempt_history] == [f"RuntimeError: boom on attempt {n}" for n in (1, 2, 3)]
    assert process_due(now=t0 + timedelta(days=1))["processed"] == 0


def test_a_task_that_succeeds_on_a_retry_is_completed(org, no_backoff):
    task = add_task(org, "test_flaky", payload={"fail_times": 1})
    assert process_due()["retry_scheduled"] == 1
    assert process_due()["completed"] == 1
    done = task_row(task.id)
    assert (done.status, done.attempts, done.result) == ("completed", 2, {"succeeded_on": 2})
    assert done.last_error == "RuntimeError: boom on attempt 1"


def test_an_unknown_task_type_fails_at_once_with_a_clear_error(org):
    task = ScheduledTask(organization_id=org.id, task_type="no_such_type", payload={})
    db.session.add(task)
    db.session.commit()
    assert process_due()["failed"] == 1
    failed = task_row(task.id)
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert failed.last_error == "unknown task type 'no_such_type'"


def test_a_bad_payload_fails_at_once_with_a_clear_error(org):
    task = ScheduledTask(organization_id=org.id, task_type="batch_operation", payload={"operation": "explode", "lead_ids": [1]})
    db.session.add(task)
    db.session.commit()
    assert process_due()["failed"] == 1
    failed = task_row(task.id)
    assert (failed.status, failed.attempts, failed.max_attempts) == ("failed", 1, 3)
    assert failed.last_error == "payload.operation: unknown operation 'explode'"


def test_a_permanent_error_from_a_handler_is_not_retried(org):
    task = add_task(org, "test_permanent")
    assert process_due()["failed"] == 1
    assert task_row(task.id).last_error == "payload.automation_id: no such automation"


# --- recurrence ----------------------------------------------------------------------------------


def test_a_recurring_task_is_pending_again_for_its_next_occurrence(org):
    task = add_task(org, scheduled_for=at(2024, 1, 1, 9, 0), recurrence="every 1 hour")
    assert process_due(now=at(2024, 1, 1, 9, 7))["completed"] == 1
    again = task_row(task.id)
    assert (again.status, again.attempts, again.locked_by) == ("pending", 0, None)
    assert again.scheduled_for == at(2024, 1, 1, 10, 0)
    assert again.result == {"echo": {}}
    assert process_due(now=at(2024, 1, 1, 10, 0))["completed"] == 1
    assert [a["outcome"] for a in task_row(task.id).attempt_history] == ["completed", "completed"]
    assert task_row(task.id).scheduled_for == at(2024, 1, 1, 11, 0)


def test_a_cron_task_is_rescheduled_to_the_next_matching_time(org):
    task = add_task(org, scheduled_for=at(2024, 1, 5, 9, 0), recurrence="0 9 * * 1-5")
    process_due(now=at(2024, 1, 5, 9, 1))  # a Friday
    assert task_row(task.id).scheduled_for == at(2024, 1, 8, 9, 0)  # Monday


def test_a_recurring_task_out_of_attempts_keeps_its_schedule_and_its_error(org):
    task = add_task(org, "test_flaky", scheduled_for=at(2024, 1, 1, 9, 0), recurrence="every 1 day", max_attempts=1)
    assert process_due(now=at(2024, 1, 1, 9, 0))["failed"] == 1
    again = task_row(task.id)
    assert (again.status, again.attempts) == ("pending", 0)
    assert again.scheduled_for == at(2024, 1, 2, 9, 0)
    assert again.last_error == "RuntimeError: boom on attempt 1"


def test_a_permanent_error_stops_a_recurring_task(org):
    task = add_task(org, "test_permanent", recurrence="every 1 day")
    process_due()
    assert task_row(task.id).status == "failed"


# --- workers that die, lose their claim, or stop -------------------------------------------------


def test_a_running_task_past_its_timeout_is_taken_again(org):
    t0 = utcnow()
    task = add_task(org, scheduled_for=t0, timeout_seconds=60)
    assert claim_due_tasks("dead-worker", 1, now=t0) == [task.id]

    assert claim_due_tasks("w2", 1, now=t0 + timedelta(seconds=59)) == []
    assert claim_due_tasks("w2", 1, now=t0 + timedelta(seconds=61)) == [task.id]
    taken = task_row(task.id)
    assert (taken.locked_by, taken.attempts) == ("w2", 2)
    [lost] = taken.attempt_history
    assert (lost["outcome"], lost["worker"]) == ("timed_out", "dead-worker")
    assert "no result after 60s from worker dead-worker" in lost["error"]

    assert run_task(task.id, "w2") == "completed"
    assert task_row(task.id).status == "completed"


def test_a_task_that_times_out_on_its_last_attempt_fails(org):
    t0 = utcnow()
    task = add_task(org, scheduled_for=t0, timeout_seconds=60, max_attempts=1)
    claim_due_tasks("dead-worker", 1, now=t0)
    assert claim_due_tasks("w2", 1, now=t0 + timedelta(seconds=61)) == []
    failed = task_row(task.id)
    assert failed.status == "failed"
    assert failed.last_error.startswith("no result after 60s from worker dead-worker")


def test_an_attempt_taken_over_by_another_worker_commits_nothing(org):
    task = add_task(org, "test_reclaimed")
    [task_id] = claim_due_tasks("slow-worker", 1)
    assert run_task(task_id, "slow-worker") == "skipped"
    assert db.session.scalar(select(Organization).where(Organization.slug == "stale")) is None
    still_other = task_row(task.id)
    assert (still_other.status, still_other.locked_by, still_other.attempts) == ("running", "other", 2)


def test_a_worker_never_runs_a_task_claimed_by_another(org):
    task = add_task(org)
    [task_id] = claim_due_tasks("w1", 1)
    assert run_task(task_id, "w2") == "skipped"
    assert task_row(task.id).status == "running"


def test_the_worker_loop_runs_everything_due_in_burst_mode(org):
    tasks = [add_task(org, payload={"n": n}) for n in range(25)]
    assert run_worker_loop("w1", threading.Event(), batch=10, burst=True) == 25
    assert {task_row(t.id).status for t in tasks} == {"completed"}


def test_a_stopping_worker_gives_back_the_tasks_it_has_not_started(org):
    STOP.clear()
    first = add_task(org, "test_stop", priority=90)
    rest = [add_task(org) for _ in range(3)]
    assert run_worker_loop("w1", STOP, batch=10) == 1
    assert task_row(first.id).status == "completed"
    for task in rest:
        released = task_row(task.id)
        assert (released.status, released.attempts, released.locked_by) == ("pending", 0, None)


# --- cancel and retry ----------------------------------------------------------------------------


def test_a_cancelled_task_is_not_run_and_can_be_retried(org):
    task = add_task(org)
    cancel_task(task)
    db.session.commit()
    assert task_row(task.id).status == "cancelled"
    assert process_due()["processed"] == 0

    retry_task(task_row(task.id))
    db.session.commit()
    assert (task_row(task.id).status, task_row(task.id).attempts) == ("pending", 0)
    assert process_due()["completed"] == 1


def test_a_failed_task_can_be_retried_from_scratch(org):
    task = add_task(org, "test_flaky", max_attempts=1)
    process_due()
    retry_task(task_row(task.id))
    db.session.commit()
    again = task_row(task.id)
    assert (again.status, again.attempts) == ("pending", 0)
    assert again.scheduled_for <= utcnow()


def test_a_task_cancelled_while_claimed_is_not_completed(org):
    task = add_task(org)
    [task_id] = claim_due_tasks("w1", 1)
    cancel_task(task_row(task_id))
    db.session.commit()
    assert run_task(task_id, "w1") == "skipped"
    assert task_row(task.id).status == "cancelled"


def test_finished_tasks_cannot_be_cancelled_and_pending_ones_cannot_be_retried(org):
    task = add_task(org)
    with pytest.raises(Conflict):
        retry_task(task)
    process_due()
    with pytest.raises(Conflict):
        cancel_task(task_row(task.id))


def test_a_task_can_be_changed_until_it_runs(org):
    task = add_task(org, priority=10)
    update_task(task, {"priority": 80, "recurrence": "every 2 hours", "scheduled_for": at(2030, 1, 1)})
    db.session.commit()
    changed = task_row(task.id)
    assert (changed.priority, changed.recurrence, changed.scheduled_for) == (80, "every 2 hours", at(2030, 1, 1))

    with pytest.raises(ValidationFailed) as raised:
        update_task(changed, {"priority": 500, "colour": "red", "payload": {"x": 1}, "task_type": "batch_operation"})
    assert {e["field"] for e in raised.value.errors} == {"priority", "colour", "payload.operation"}

    claim_due_tasks("w1", 1, now=at(2030, 1, 1))
    with pytest.raises(Conflict):
        update_task(task_row(task.id), {"priority": 90})


# --- process_due and tenancy ---------------------------------------------------------------------


def test_process_due_for_one_organization_leaves_the_others_alone(org):
    other_org = make_org()
    mine = add_task(org)
    theirs = add_task(other_org)
    assert process_due(organization_id=org.id) == {"processed": 1, "completed": 1, "failed": 0, "retry_scheduled": 0}
    assert task_row(mine.id).status == "completed"
    assert task_row(theirs.id).status == "pending"


# --- validation ----------------------------------------------------------------------------------


def errors_of(org, task_type, payload, **fields) -> list[dict]:
    with pytest.raises(ValidationFailed) as raised:
        create_task(org.id, task_type, payload, **fields)
    return raised.value.errors


def test_creating_a_task_of_an_unknown_type_names_task_type(org):
    [error] = errors_of(org, "teleport", {})
    assert error["field"] == "task_type"
    assert "unknown task type 'teleport'" in error["message"]


def test_every_task_type_of_the_spec_is_wired(app):
    declared = set(wiring(app).task_types)
    assert {"delayed_automation", "recurring_campaign", "batch_operation", "system_maintenance"} <= declared
    with app.app_context():
        assert set(task_type_names()) == declared


def test_task_fields_are_validated(org):
    errors = errors_of(org, "test_echo", {}, priority=101, max_attempts=0, recurrence="every week", timeout_seconds=0)
    assert {e["field"] for e in errors} == {"priority", "max_attempts", "recurrence", "timeout_seconds"}


@pytest.mark.parametrize(
    "payload, field, fragment",
    [
        ({"operation": "explode", "lead_ids": [1]}, "payload.operation", "must be one of"),
        ({"operation": "add_tag", "tag": "vip", "lead_ids": [1], "colour": "red"}, "payload.colour", "unknown key"),
        ({"operation": "add_tag", "status": "new", "tag": "vip", "lead_ids": [1]}, "payload.status", "unknown key"),
        ({"operation": "set_status", "status": "purple", "lead_ids": [1]}, "payload.status", "must be one of"),
        ({"operation": "set_priority", "lead_ids": [1]}, "payload.priority", "required"),
        ({"operation": "add_tag", "tag": ""}, "payload.tag", "1 to 50 characters"),
        ({"operation": "add_tag", "tag": "vip"}, "payload.lead_ids", "required"),
        ({"operation": "add_tag", "tag": "vip", "lead_ids": "1,2"}, "payload.lead_ids", "non-empty list"),
        ({"operation": "add_tag", "tag": "vip", "segment_id": 1}, "payload.segment_id", "no such segment"),
        ({"operation": "refresh_segment", "segment_id": 1}, "payload.segment_id", "no such segment"),
        ({"operation": "refresh_segment", "tag": "x", "segment_id": 1}, "payload.tag", "unknown key"),
        ({"operation": "refresh_segment", "lead_ids": [1]}, "payload.segment_id", "required"),
        ({"operation": "refresh_segment", "lead_ids": [1]}, "payload.lead_ids", "unknown key"),
        ({"operation": "add_tag", "tag": "vip", "lead_ids": [1], "segment_id": 2}, "payload.segment_id", "not both"),
    ],
)
def test_batch_operation_payloads_are_validated(org, payload, field, fragment):
    make_lead(org)  # lead id 1
    errors = errors_of(org, "batch_operation", payload)
    assert any(e["field"] == field and fragment in e["message"] for e in errors), errors


def test_lead_ids_of_another_organization_are_unknown(org):
    foreign = make_lead(make_org())
    mine = make_lead(org)
    [error] = errors_of(org, "batch_operation", {"operation": "add_tag", "tag": "vip", "lead_ids": [mine.id, foreign.id, 99999]})
    assert error == {"field": "payload.lead_ids", "message": f"unknown lead ids: {foreign.id}, 99999"}


@pytest.mark.parametrize(
    "payload, field, fragment",
    [
        ({"operation": "purge", "older_than_days": 0}, "payload.older_than_days", "whole number of days"),
        ({"operation": "purge"}, "payload.older_than_days", "whole number of days"),
        ({"operation": "purge", "older_than_days": 30, "dry_run": True}, "payload.dry_run", "unknown key"),
        ({"operation": "refresh_dynamic_segments", "older_than_days": 3}, "payload.older_than_days", "unknown key"),
        ({"operation": "vacuum"}, "payload.operation", "must be one of"),
    ],
)
def test_system_maintenance_payloads_are_validated(org, payload, field, fragment):
    errors = validate_payload("system_maintenance", payload, org.id)
    assert any(e["field"] == field and fragment in e["message"] for e in errors), errors


def test_a_payload_that_is_not_an_object_is_rejected(org):
    assert validate_payload("batch_operation", ["add_tag"], org.id) == [{"field": "payload", "message": "must be an object"}]


# --- batch operations through the lead service ---------------------------------------------------


def test_batch_add_tag_changes_the_leads_and_records_events(org):
    tagged = make_lead(org, tags=("vip",))
    plain = make_lead(org)
    untouched = make_lead(org)
    task = add_task(org, "batch_operation", {"operation": "add_tag", "tag": "vip", "lead_ids": [tagged.id, plain.id]})
    assert process_due()["completed"] == 1
    assert task_row(task.id).result == {"operation": "add_tag", "targeted": 2, "changed": 1}
    assert db.session.get(Lead, plain.id, populate_existing=True).tags == ["vip"]
    assert db.session.get(Lead, untouched.id, populate_existing=True).tags == []
    events = db.session.scalars(select(LeadEvent).where(LeadEvent.event_type == "tag_added")).all()
    assert [(e.lead_id, e.data) for e in events] == [(plain.id, {"tag": "vip"})]


def test_batch_set_status_changes_the_leads_and_records_events(org):
    leads = [make_lead(org, status="new") for _ in range(3)]
    add_task(org, "batch_operation", {"operation": "set_status", "status": "qualified", "lead_ids": [lead.id for lead in leads]})
    process_due()
    assert {db.session.get(Lead, lead.id, populate_existing=True).status for lead in leads} == {"qualified"}
    events = db.session.scalars(select(LeadEvent).where(LeadEvent.event_type == "lead_status_changed")).all()
    assert len(events) == 3


def test_batch_operations_never_touch_another_organizations_leads(org):
    foreign = make_lead(make_org(), status="new")
    task = ScheduledTask(
        organization_id=org.id, task_type="batch_operation", payload={"operation": "set_status", "status": "lost", "lead_ids": [foreign.id]}
    )
    db.session.add(task)
    db.session.commit()
    process_due()
    assert task_row(task.id).result["changed"] == 0
    assert db.session.get(Lead, foreign.id, populate_existing=True).status == "new"


def test_a_segment_task_whose_segment_is_gone_fails_at_once(org):
    task = ScheduledTask(organization_id=org.id, task_type="batch_operation", payload={"operation": "refresh_segment", "segment_id": 1})
    db.session.add(task)
    db.session.commit()
    process_due()
    failed = task_row(task.id)
    assert (failed.status, failed.attempts, failed.last_error) == ("failed", 1, "payload.segment_id: no such segment")


def test_segment_operations_work_on_the_segments_members(org):
    from webapp.segments.services import create_segment

    members = [make_lead(org, tags=("vip",)) for _ in range(2)]
    make_lead(org)
    segment, _ = create_segment(
        org.id,
        {"name": "VIP", "slug": "vip", "is_dynamic": True, "rules": [{"field": "tags", "operator": "contains", "value": "vip"}]},
        None,
    )
    db.session.commit()
    assert errors_of(org, "batch_operation", {"operation": "refresh_segment", "segment_id": segment.id + 1}) == [
        {"field": "payload.segment_id", "message": "no such segment"}
    ]
    tag = add_task(org, "batch_operation", {"operation": "add_tag", "tag": "hot", "segment_id": segment.id})
    refresh = add_task(org, "batch_operation", {"operation": "refresh_segment", "segment_id": segment.id})
    refresh_all = add_task(org, "system_maintenance", {"operation": "refresh_dynamic_segments"})
    assert process_due()["completed"] == 3
    assert task_row(tag.id).result == {"operation": "add_tag", "targeted": 2, "changed": 2}
    assert task_row(refresh.id).result == {"operation": "refresh_segment", "entered": 0, "exited": 0, "member_count": 2}
    assert task_row(refresh_all.id).result["segments"] == 1
    hot = db.session.scalars(text("SELECT lead_id FROM lead_tags WHERE tag = 'hot' ORDER BY lead_id")).all()
    assert hot == [lead.id for lead in members]


# --- maintenance ---------------------------------------------------------------------------------


def test_purge_deletes_old_finished_tasks_and_lead_events_of_the_organization_only(org):
    old = utcnow() - timedelta(days=40)
    other_org = make_org()
    old_done = add_task(org)
    old_waiting = add_task(org)
    recent_done = add_task(org)
    theirs_old_done = add_task(other_org)
    old_done.status = theirs_old_done.status = "completed"
    old_done.finished_at = theirs_old_done.finished_at = old
    recent_done.status, recent_done.finished_at = "failed", utcnow()
    old_waiting.scheduled_for = utcnow() + timedelta(days=1)
    lead = make_lead(org)
    db.session.add_all(
        [
            LeadEvent(organization_id=org.id, lead_id=lead.id, event_type="lead_updated", created_at=old),
            LeadEvent(organization_id=org.id, lead_id=lead.id, event_type="lead_updated", created_at=utcnow()),
        ]
    )
    db.session.commit()
    purge = add_task(org, "system_maintenance", {"operation": "purge", "older_than_days": 30})

    assert process_due(organization_id=org.id)["completed"] == 1
    assert task_row(purge.id).result["deleted"] == {"scheduled_tasks": 1, "lead_events": 1}
    remaining = set(db.session.scalars(select(ScheduledTask.id)))
    assert remaining == {old_waiting.id, recent_done.id, theirs_old_done.id, purge.id}
    assert db.session.scalar(select(LeadEvent.created_at)) > old


def test_purgers_can_be_extended_by_other_features(org, app, rewire):
    rewire(purgers={**wiring(app).purgers, "automation_runs": lambda organization_id, cutoff: 5})
    task = add_task(org, "system_maintenance", {"operation": "purge", "older_than_days": 30})
    process_due()
    assert task_row(task.id).result["deleted"]["automation_runs"] == 5


def test_process_due_is_the_only_clock_the_engine_needs(org):
    """Tasks scheduled in the future are not run early, whatever the order of creation."""
    later = add_task(org, scheduled_for=utcnow() + timedelta(minutes=5), priority=100)
    now_task = add_task(org, priority=0)
    assert process_due()["completed"] == 1
    assert task_row(now_task.id).status == "completed"
    assert task_row(later.id).status == "pending"
    assert execution.process_due(now=utcnow() + timedelta(minutes=5))["completed"] == 1
