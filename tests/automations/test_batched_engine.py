"""The batched engine (SPEC §15): a job executes its runs set-based, in one transaction, with the same
guarantees as one run at a time."""

import logging
import threading
import time
from collections import Counter

from sqlalchemy import event, select, text, update

from tests.automations.helpers import make_automation, runs_of, step
from tests.automations.test_faults import bulk_create, welcome_automation
from webapp.automations.engine import execute_runs
from webapp.extensions import db
from webapp.models import AutomationRunStep, Lead, LeadEvent, OutboxMessage, Task


def statements_of(function, *args) -> Counter:
    """What ``function(*args)`` sends to the database: the number of statements of each kind and table."""
    seen = Counter()

    def count(conn, cursor, statement, parameters, context, executemany):
        words = statement.split()
        kind = words[0]
        table = words[2] if kind in ("INSERT", "DELETE") else words[1] if kind == "UPDATE" else ""
        seen[f"{kind} {table}".strip()] += 1

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        function(*args)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return seen


def writes(seen: Counter) -> dict:
    return {kind: n for kind, n in seen.items() if kind != "SELECT"}


def test_a_batch_writes_its_rows_in_one_statement_per_table_whatever_its_size(api, org, mail_config):
    mail_config(MAIL_SERVER="127.0.0.1", MAIL_PORT=2525, MAIL_DEFAULT_SENDER="Acme <hello@acme.example.com>")
    automation = welcome_automation(api)
    bulk_create(api, 60, "batch")
    runs = sorted(r.id for r in runs_of(automation["id"]))

    few, many = statements_of(execute_runs, runs[:5]), statements_of(execute_runs, runs[5:])

    assert writes(few) == writes(many)  # 5 runs or 55: the same writes (reads vary with the ids drawn)
    for table in ("automation_run_steps", "outbox_messages", "tasks", "lead_events"):
        assert many[f"INSERT {table}"] == 1, many
    assert many["UPDATE automation_runs"] == 1, many  # one executemany
    db.session.expire_all()
    assert {r.status for r in runs_of(automation["id"])} == {"completed"}
    assert db.session.query(OutboxMessage).count() == db.session.query(Task).count() == 60
    assert db.session.query(AutomationRunStep).filter_by(status="completed").count() == 120
    task_events = db.session.scalars(select(LeadEvent).where(LeadEvent.event_type == "task_created")).all()
    assert sorted(e.data["task_id"] for e in task_events) == sorted(t.id for t in db.session.scalars(select(Task)))


def test_a_row_already_under_a_steps_key_fails_the_batch_and_its_runs_go_one_by_one_without_a_second_effect(api, org, mail_config):
    """The unique key guards the batch's rule that a step still to execute has no effect yet."""
    mail_config(MAIL_SERVER="127.0.0.1", MAIL_PORT=2525, MAIL_DEFAULT_SENDER="Acme <hello@acme.example.com>")
    template = api.post(
        "/api/v1/automations/email-templates",
        json={"name": "Later", "subject": "Later", "body_html": "<p>Later</p>", "template_type": "transactional"},
    ).json
    automation = make_automation(api, name="Later", actions=[step("send_email", delay_minutes=60, template_id=template["id"])])
    bulk_create(api, 3, "later")
    runs = sorted(r.id for r in runs_of(automation["id"]))
    assert set(execute_runs(runs).values()) == {"waiting"}
    first = db.session.scalars(select(AutomationRunStep).where(AutomationRunStep.run_id == runs[0])).one()
    # As if an earlier attempt had queued the email but not recorded it (the engine never does that):
    db.session.add(
        OutboxMessage(
            organization_id=org.id,
            idempotency_key=first.idempotency_key,
            lead_id=runs_of(automation["id"])[0].lead_id,
            template_type="transactional",
            recipient="lead",
            to_address="earlier@example.com",
            subject="Earlier",
            status="sent",
        )
    )
    db.session.execute(update(AutomationRunStep).values(due_at=db.func.now()))
    db.session.commit()

    assert execute_runs(runs) == dict.fromkeys(runs, "completed")

    db.session.expire_all()
    messages = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert len(messages) == 3 and messages[0].subject == "Earlier"
    db.session.refresh(first)
    assert first.status == "completed" and first.output["duplicate"] is True


def test_a_goal_met_by_a_steps_own_change_ends_the_run_inside_a_batch(api, org):
    automation = make_automation(
        api,
        name="Until contacted",
        goal={"match_all_rules": True, "rules": [{"field": "status", "operator": "equals", "value": "contacted"}]},
        actions=[step("update_lead_status", status="contacted"), step("add_tag", tag="after-the-goal")],
    )
    lead_ids = bulk_create(api, 4, "goal")
    runs = sorted(r.id for r in runs_of(automation["id"]))

    assert execute_runs(runs) == dict.fromkeys(runs, "goal_reached")

    db.session.expire_all()
    assert all(not lead.tags for lead in db.session.scalars(select(Lead).where(Lead.id.in_(lead_ids))))


def test_a_lead_changed_while_its_run_executes_waits_instead_of_deadlocking(api, org, caplog):
    """A lead change locks the lead, then (its goal and wait hooks) the lead's open runs; a batch
    takes them in the same order, so neither transaction is aborted as a deadlock victim."""
    automation = make_automation(api, name="Contacted", actions=[step("update_lead_status", status="contacted"), step("add_tag", tag="x")])
    [lead_id] = bulk_create(api, 1, "lock")
    [run] = runs_of(automation["id"])
    engine, locked, errors = db.engine, threading.Event(), []

    def change_the_lead():
        with engine.connect() as other:
            try:
                other.execute(text("UPDATE leads SET city = 'Austin' WHERE id = :id"), {"id": lead_id})
                locked.set()
                time.sleep(0.5)  # the batch is under way meanwhile
                other.execute(text("SELECT id FROM automation_runs WHERE lead_id = :id FOR UPDATE"), {"id": lead_id})
                other.commit()
            except Exception as exc:
                errors.append(exc)

    thread = threading.Thread(target=change_the_lead)
    thread.start()
    assert locked.wait(10)
    with caplog.at_level(logging.ERROR, logger="webapp.automations.engine"):
        assert execute_runs([run.id]) == {run.id: "completed"}
    thread.join(10)

    assert errors == [] and not caplog.records  # neither side was aborted, and the batch did not fall back
    lead = db.session.get(Lead, lead_id, populate_existing=True)
    assert (lead.city, lead.status, lead.tags) == ("Austin", "contacted", ["x"])
