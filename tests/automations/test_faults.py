"""Automations under faults (SPEC §13: work is recorded in PostgreSQL before it is queued): a worker
SIGKILLed in the middle of a burst, Redis restarted with its jobs lost, the SMTP server down. Real
``python worker.py`` processes, a private ``redis-server``, a local SMTP server (aiosmtpd)."""

import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
import redis
from sqlalchemy import func, select, text, update

from tests.automations.helpers import action_id, flow, make_automation, make_email_template, runs_of, step, wait_step
from tests.conftest import ApiClient, login_browser
from tests.email.conftest import free_port
from webapp.automations.engine import execute_runs
from webapp.extensions import db
from webapp.jobs import rq_queue
from webapp.jobs.loops import run_sweepers
from webapp.models import AutomationRun, AutomationRunStep, Lead, OutboxMessage, ScheduledTask, Task, utcnow
from webapp.scheduled_tasks.execution import process_due

ROOT = pathlib.Path(__file__).resolve().parents[2]
SENDER = "Acme Insurance <hello@acme.example.com>"
# What the sweepers of a recovering worker need to find lost work within seconds, not minutes.
RECOVERY_ENV = {"LEADFLOW_STALLED_AFTER_SECONDS": "2", "LEADFLOW_SWEEP_INTERVAL_SECONDS": "1"}


def wait_for(condition, timeout: float, what: str, interval: float = 0.05):
    """Poll ``condition`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class RedisServer:
    """A private ``redis-server`` without persistence: a restart loses every job, as a crash would."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        wait_for(lambda: self._answers(client), 10, "redis-server to accept connections")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    @staticmethod
    def _answers(client) -> bool:
        try:
            return client.ping()
        except redis.ConnectionError:
            return False


@pytest.fixture
def private_redis(app, monkeypatch):
    """This test's own Redis, used by the app (jobs are queued there) and by the workers it starts."""
    server = RedisServer()
    server.start()
    monkeypatch.setitem(app.config, "REDIS_URL", server.url)
    yield server
    server.stop()


@pytest.fixture
def workers(test_env, tmp_path):
    """``start(**env)``: a ``python worker.py`` process; every one still alive is stopped afterwards."""
    started = []

    def start(name: str, **env) -> subprocess.Popen:
        log = open(tmp_path / f"{name}.log", "w")
        # a session of its own: killing the group takes the RQ scheduler process a worker forks, too
        process = subprocess.Popen(
            [sys.executable, "worker.py"],
            cwd=ROOT,
            env={**os.environ, **test_env, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started.append((process, log))
        return process

    yield start
    for process, log in started:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        kill_group(process)
        log.close()


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the worker and every process it started, as a crash of its machine would."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


def worker_env(redis_url: str, smtp_port: int, **extra) -> dict:
    return {"REDIS_URL": redis_url, "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(smtp_port), "MAIL_DEFAULT_SENDER": SENDER, **extra}


def welcome_automation(api) -> dict:
    """The seed's two-step welcome automation: an email, then a follow-up task."""
    template = api.post(
        "/api/v1/automations/email-templates",
        json={
            "name": "Welcome Email",
            "subject": "Welcome, {{ first_name }}",
            "template_type": "marketing",
            "body_html": "<p>Welcome {{ first_name }}!</p>",
            "body_text": "Welcome {{ first_name }}!",
        },
    ).json
    return make_automation(
        api,
        name="Welcome Email Automation",
        actions=[
            step("send_email", template_id=template["id"]),
            step("create_task", task_type="follow_up", title="Follow up with new lead", due_in_days=1),
        ],
    )


def bulk_create(api, count: int, prefix: str) -> list[int]:
    leads = [{"first_name": f"{prefix.title()}{n}", "email": f"{prefix}{n}@example.com"} for n in range(count)]
    response = api.post("/api/v1/leads/bulk", json={"leads": leads})
    assert response.status_code == 201, response.json
    return sorted(db.session.scalars(select(Lead.id).where(Lead.email.like(f"{prefix}%"))).all())


def count_runs(status: str) -> int:
    db.session.rollback()  # a fresh snapshot: the workers commit in other processes
    return db.session.scalar(select(func.count()).select_from(AutomationRun).where(AutomationRun.status == status))


def sent_messages() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "sent"))


def assert_every_effect_happened_once(automation_id: int, lead_ids: list[int], smtp_handler, prefix: str) -> None:
    runs = runs_of(automation_id)
    assert len(runs) == len(lead_ids) and {r.status for r in runs} == {"completed"}
    assert all([s.status for s in r.steps] == ["completed", "completed"] for r in runs)
    tasks_per_lead = dict(db.session.execute(select(Task.lead_id, func.count()).group_by(Task.lead_id)).all())
    assert tasks_per_lead == dict.fromkeys(lead_ids, 1)
    email_steps = db.session.scalars(
        select(AutomationRunStep)
        .join(AutomationRun)
        .where(AutomationRun.automation_id == automation_id, AutomationRunStep.action_type == "send_email")
    ).all()
    messages = db.session.scalars(select(OutboxMessage)).all()
    assert sorted(m.idempotency_key for m in messages) == sorted(s.idempotency_key for s in email_steps)
    assert {m.id for m in messages} == {s.output["message_id"] for s in email_steps}
    assert {m.status for m in messages} == {"sent"}
    recipients = sorted(rcpt for envelope in smtp_handler.envelopes for rcpt in envelope.rcpt_tos)
    assert recipients == sorted(f"{prefix}{n}@example.com" for n in range(len(lead_ids)))


def test_a_worker_killed_in_the_middle_of_a_burst_loses_nothing_and_repeats_nothing(api, org, private_redis, smtp_server, workers):
    automation = welcome_automation(api)
    lead_ids = bulk_create(api, 150, "burst")
    assert rq_queue("default").count == 2  # 150 runs in jobs of 100 and 50
    env = worker_env(private_redis.url, smtp_server.port)

    doomed = workers("doomed", **env, LEADFLOW_STALLED_AFTER_SECONDS="2")
    # A job executes its 100 runs in one transaction: killed while it is executing them, none is done.
    wait_for(lambda: rq_queue("default").started_job_registry.count == 1, 60, "the first worker to start a job", interval=0.01)
    time.sleep(0.2)
    kill_group(doomed)
    assert count_runs("completed") in (0, 100)  # killed in the middle of its first job (or, on a fast day, after it)

    workers("rescuer", **env, **RECOVERY_ENV)
    wait_for(lambda: count_runs("completed") == 150, 90, "every run to complete", interval=0.2)
    wait_for(lambda: sent_messages() == 150 and len(smtp_server.handler.envelopes) >= 150, 90, "every email to be sent", interval=0.2)

    assert_every_effect_happened_once(automation["id"], lead_ids, smtp_server.handler, "burst")


def test_jobs_lost_with_a_restarted_redis_are_found_again_and_run_once(app, api, org, private_redis, smtp_server, mail_config, workers):
    mail_config(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port, MAIL_DEFAULT_SENDER=SENDER)
    automation = welcome_automation(api)
    lead_ids = bulk_create(api, 40, "restart")
    run_ids = [r.id for r in runs_of(automation["id"])]
    # A worker got through half of the runs before Redis went down: their emails are queued jobs too.
    execute_runs(run_ids[:20])
    assert (rq_queue("default").count, rq_queue("low").count) == (1, 1)  # the run job (all 40 runs); one job sends the 20 emails
    assert count_runs("completed") == 20 and count_runs("pending") == 20

    private_redis.stop()
    private_redis.start()
    assert rq_queue("default").count == rq_queue("low").count == 0  # every job is gone; the rows in PostgreSQL remain

    workers("after-restart", **worker_env(private_redis.url, smtp_server.port), **RECOVERY_ENV)
    wait_for(lambda: count_runs("completed") == 40, 60, "the sweeper to requeue the lost runs", interval=0.2)
    wait_for(
        lambda: sent_messages() == 40 and len(smtp_server.handler.envelopes) >= 40,
        60,
        "the sweeper to requeue the lost emails",
        interval=0.2,
    )

    assert_every_effect_happened_once(automation["id"], lead_ids, smtp_server.handler, "restart")
    assert {m.attempts for m in db.session.scalars(select(OutboxMessage))} == {1}


def test_with_smtp_down_emails_are_retried_then_failed_the_run_completes_and_a_resend_sends_once(
    app, api, client, org, admin, smtp_server, mail_config, run_jobs
):
    closed_port = free_port()  # nothing listens there
    mail_config(
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=closed_port,
        MAIL_DEFAULT_SENDER=SENDER,
        MAIL_MAX_ATTEMPTS=3,
        MAIL_RETRY_BACKOFF_SECONDS=0.2,
        MAIL_TIMEOUT_SECONDS=5,
    )
    automation = welcome_automation(api)
    lead_ids = bulk_create(api, 3, "down")
    run_jobs()

    def all_failed():  # each retry is queued by the sweeper once its backoff is over
        run_sweepers()
        run_jobs()
        return sorted(m.status for m in db.session.scalars(select(OutboxMessage)).all()) == ["failed"] * 3

    wait_for(all_failed, 20, "three attempts of every message", interval=0.2)
    db.session.expire_all()
    messages = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    for message in messages:
        assert message.attempts == 3 and message.sent_at is None
        assert "ConnectionRefusedError" in message.last_error
    runs = runs_of(automation["id"])
    assert [r.status for r in runs] == ["completed"] * 3  # queuing the email was the step's effect
    assert all(r.steps[0].output["message_id"] in {m.id for m in messages} for r in runs)
    assert db.session.scalar(select(func.count()).select_from(Task)) == 3

    # The server is back: a failed message stays failed (no automatic resend) until someone sends it again.
    mail_config(MAIL_PORT=smtp_server.port)
    run_sweepers()
    run_jobs()
    assert smtp_server.handler.envelopes == []

    login_browser(client, admin.email)
    for message in messages:
        assert client.post(f"/outbox/{message.id}/send").status_code == 302
        assert client.post(f"/outbox/{message.id}/send").status_code == 302  # a second click: already queued
    run_jobs()
    for message in messages:
        page = client.post(f"/outbox/{message.id}/send", follow_redirects=True)
        assert b"Not sent: a sent message cannot be sent again" in page.data
    run_sweepers()
    run_jobs()

    db.session.expire_all()
    assert [m.status for m in db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))] == ["sent"] * 3
    assert sorted(r for e in smtp_server.handler.envelopes for r in e.rcpt_tos) == [f"down{n}@example.com" for n in range(3)]
    assert len(lead_ids) == 3 and [r.status for r in runs_of(automation["id"])] == ["completed"] * 3


def test_the_sweepers_leave_alone_work_that_only_waits_behind_a_backlog(app, api, org, private_redis, mail_config, monkeypatch):
    monkeypatch.setitem(app.config, "STALLED_AFTER_SECONDS", 0)  # every row looks stalled at once
    mail_config(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), MAIL_DEFAULT_SENDER=SENDER)
    automation = welcome_automation(api)
    bulk_create(api, 5, "backlog")
    queue, sending = rq_queue("default"), rq_queue("low")
    assert queue.count == 1

    assert run_sweepers() == 0  # the runs' job is waiting in the queue: not lost, not queued twice
    assert queue.count == 1
    execute_runs([r.id for r in runs_of(automation["id"])])  # a worker ran them; their emails wait in the queue
    assert (queue.count, sending.count) == (1, 1)  # the five emails are sent by one job, after the runs
    assert run_sweepers() == 0
    assert (queue.count, sending.count) == (1, 1)

    sending.connection.delete(sending.key)  # now the jobs are lost
    assert run_sweepers() == 5  # the five emails (the runs are completed)
    message_ids = db.session.scalars(select(OutboxMessage.id)).all()
    [job] = sending.jobs  # one job sends the five, named by their ids' range
    assert job.args == (sorted(message_ids),) and job.id.startswith(f"outbox-{min(message_ids)}-{max(message_ids)}-")


def test_a_runs_jobs_are_handed_to_workers_only_once_its_work_is_committed(app, api, org, mail_config, monkeypatch):
    """Otherwise a worker may take a job before its row exists, find nothing, and the work waits for the sweeper."""
    from webapp import jobs
    from webapp.email_templates.delivery import send_outbox_messages

    mail_config(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), MAIL_DEFAULT_SENDER=SENDER)
    welcome = api.post(
        "/api/v1/automations/email-templates",
        json={"name": "Hello", "subject": "Hello", "body_html": "<p>Hello</p>", "template_type": "transactional"},
    ).json
    chained = make_automation(
        api,
        name="Tag contacted leads",
        trigger_type="lead_status_changed",
        trigger_configuration={"to_status": "contacted"},
        actions=[step("add_tag", tag="contacted")],
    )
    automation = make_automation(
        api,
        name="Two emails and a status",
        actions=[
            step("send_email", template_id=welcome["id"]),
            step("update_lead_status", status="contacted"),
            step("send_email", template_id=welcome["id"], subject="Hello again"),
        ],
    )
    handed_over = []

    def visible_when_dispatched(app_, batch):
        with db.engine.connect() as elsewhere:  # what a worker would see
            for function, args, _, _ in batch:
                if function is send_outbox_messages:
                    statuses = elsewhere.scalars(select(OutboxMessage.status).where(OutboxMessage.id.in_(args[0])))
                    handed_over.extend(("email", status) for status in statuses)
                else:
                    found = elsewhere.scalar(select(func.count()).select_from(AutomationRun).where(AutomationRun.id.in_(args[0])))
                    handed_over.append(("runs", found == len(args[0])))
        return real_dispatch(app_, batch)

    real_dispatch = jobs._dispatch
    monkeypatch.setattr(jobs, "_dispatch", visible_when_dispatched)
    api.post("/api/v1/leads", json={"first_name": "Lee", "email": "lee@example.com"})
    [run] = runs_of(automation["id"])
    assert execute_runs([run.id]) == {run.id: "completed"}

    assert sorted(handed_over) == [("email", "queued"), ("email", "queued"), ("runs", True), ("runs", True)]
    assert len(runs_of(chained["id"])) == 1


def test_a_step_that_fails_keeps_the_effects_of_the_steps_before_it_once(api, org, run_jobs):
    from tests.email.helpers import make_template

    broken = make_template(org, name="Broken", body_text="{{ 'A' * 10**9 }}")  # cannot be rendered: permanent
    automation = make_automation(
        api,
        actions=[step("create_task", title="Call", due_in_days=1), step("send_email", template_id=broken.id), step("add_tag", tag="never")],
    )
    lead_id = api.post("/api/v1/leads", json={"first_name": "Lee", "email": "lee@example.com"}).json["id"]
    run_jobs()

    [run] = runs_of(automation["id"])
    assert run.status == "failed" and "step 2 (send_email)" in run.error and "larger than" in run.error
    # the third step was never reached: it has no row (a step row is created as the run reaches it)
    assert [(s.status, s.attempts) for s in run.steps] == [("completed", 1), ("failed", 1)]
    assert db.session.scalar(select(func.count()).select_from(Task).where(Task.lead_id == lead_id)) == 1
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    assert db.session.get(Lead, lead_id).tags == []


# --- journeys (SPEC §15) under the same faults ------------------------------------------------------

HIGH_VALUE = {"match_all_rules": True, "rules": [{"field": "value_estimate", "operator": "greater_than", "value": "1000"}]}


def branching_journey(api) -> tuple[dict, dict[str, int]]:
    """branch on value → yes: the "Big" email / no: the "Small" email → tag done. Returns it and its action ids."""
    big = make_email_template(api, "Big", "For big spenders")
    small = make_email_template(api, "Small", "For careful spenders")
    journey = make_automation(
        api,
        name="Branching journey",
        actions=[
            flow("branch", {"yes": [step("send_email", template_id=big)], "no": [step("send_email", template_id=small)]}, **HIGH_VALUE),
            step("add_tag", tag="done"),
        ],
    )
    ids = {
        "branch": action_id(journey, 0),
        "yes": action_id(journey, 0, "yes", 0),
        "no": action_id(journey, 0, "no", 0),
        "done": action_id(journey, 1),
    }
    return journey, ids


def worker_waits_for_a_lock() -> bool:
    db.session.rollback()  # pg_stat_activity is read once per transaction
    waiting = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    return db.session.scalar(text(waiting)) > 0


def received_once_each(smtp_handler) -> Counter:
    counts = Counter(
        (rcpt, message["subject"])
        for envelope, message in zip(smtp_handler.envelopes, smtp_handler.messages, strict=True)
        for rcpt in envelope.rcpt_tos
    )
    assert set(counts.values()) == {1}, counts
    return counts


def test_a_worker_killed_in_the_middle_of_journey_runs_leaves_each_on_one_branch_with_one_email(
    api, org, private_redis, smtp_server, workers
):
    journey, ids = branching_journey(api)
    count = 30
    leads = [
        {"first_name": f"J{n}", "email": f"journey{n}@example.com", "value_estimate": "5000" if n % 2 else "200"} for n in range(count)
    ]
    assert api.post("/api/v1/leads/bulk", json={"leads": leads}).status_code == 201
    assert rq_queue("default").count == 1  # the 30 runs in one job
    env = worker_env(private_redis.url, smtp_server.port)

    # The 11th run's lead is locked elsewhere: the worker executes the runs before it (branch, email,
    # tag), then waits at that run's first write to its lead, in the middle of its job. There it is killed.
    held = runs_of(journey["id"])[10]
    with db.engine.connect() as elsewhere:
        elsewhere.execute(select(Lead.id).where(Lead.id == held.lead_id).with_for_update())
        doomed = workers("doomed", **env, LEADFLOW_STALLED_AFTER_SECONDS="2")
        wait_for(worker_waits_for_a_lock, 60, "the worker to reach the 11th run")
        kill_group(doomed)
        elsewhere.rollback()
    assert count_runs("completed") <= 10  # what it did and had not committed is lost with it

    workers("rescuer", **env, **RECOVERY_ENV)
    wait_for(lambda: count_runs("completed") == count, 90, "every run to complete", interval=0.2)
    wait_for(lambda: sent_messages() == count and len(smtp_server.handler.envelopes) >= count, 90, "every email to be sent", interval=0.2)

    runs = runs_of(journey["id"])
    for run in runs:
        lead = db.session.get(Lead, run.lead_id)
        taken = "yes" if lead.value_estimate > 1000 else "no"
        assert run.path == [
            {"action_id": ids["branch"], "branch": taken},
            {"action_id": ids[taken], "branch": None},
            {"action_id": ids["done"], "branch": None},
        ]
        assert [s.action_id for s in run.steps] == [ids["branch"], ids[taken], ids["done"]]
        assert lead.tags == ["done"]
    email_steps = [s for r in runs for s in r.steps if s.action_type == "send_email"]
    messages = db.session.scalars(select(OutboxMessage)).all()
    assert sorted(m.idempotency_key for m in messages) == sorted(s.idempotency_key for s in email_steps)
    expected = {(f"journey{n}@example.com", "For big spenders" if n % 2 else "For careful spenders") for n in range(count)}
    assert set(received_once_each(smtp_server.handler)) == expected


def test_a_timeout_and_its_event_racing_send_the_run_down_one_branch(app, api, org, private_redis, smtp_server, workers):
    journey = make_automation(
        api,
        actions=[
            wait_step("lead_status_changed", {"met": [step("add_tag", tag="met")], "timed_out": [step("add_tag", tag="timed-out")]}, 60)
        ],
    )
    wait = action_id(journey, 0)
    lead_ids = bulk_create(api, 8, "race")
    execute_runs([r.id for r in runs_of(journey["id"])])
    assert count_runs("waiting") == 8
    workers("racer", **worker_env(private_redis.url, smtp_server.port))  # executes the resumed runs meanwhile
    token = api.token

    def fire_event(lead_id, barrier):
        with app.app_context():
            barrier.wait()
            response = ApiClient(app.test_client(), token).patch(f"/api/v1/leads/{lead_id}", json={"status": "contacted"})
            assert response.status_code == 200

    def fire_timeout(barrier):
        with app.app_context():
            barrier.wait()
            assert process_due(org.id)["completed"] == 1
            db.session.remove()

    for lead_id in lead_ids:  # one lead at a time: its timeout made due, then both delivered at once
        [run] = [r for r in runs_of(journey["id"]) if r.lead_id == lead_id]
        db.session.execute(
            update(ScheduledTask).where(ScheduledTask.payload["run_id"].as_integer() == run.id).values(scheduled_for=utcnow())
        )
        db.session.commit()
        barrier = threading.Barrier(2)
        racers = [threading.Thread(target=fire_event, args=(lead_id, barrier)), threading.Thread(target=fire_timeout, args=(barrier,))]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join(30)
    wait_for(lambda: count_runs("completed") == 8, 60, "every run to complete", interval=0.1)

    taken = Counter()
    for run in runs_of(journey["id"]):
        [branch] = [entry["branch"] for entry in run.path if entry["action_id"] == wait]  # one path entry for the wait
        taken[branch] += 1
        assert [(s.action_type, s.status) for s in run.steps] == [("wait_until", "completed"), ("add_tag", "completed")]
        assert run.steps[0].output["branch"] == branch and len(run.path) == 2
        assert db.session.get(Lead, run.lead_id).tags == ["met" if branch == "met" else "timed-out"]
    assert set(taken) <= {"met", "timed_out"}
    tasks = db.session.scalars(select(ScheduledTask).where(ScheduledTask.task_type == "delayed_automation")).all()
    assert {t.status for t in tasks} == {"completed"}
    assert sum(bool(t.result["resumed"]) for t in tasks) == taken["timed_out"]  # a timeout that lost the race did nothing


def test_with_smtp_down_a_journey_email_is_retried_and_the_run_goes_on_once_it_is_sent(app, api, org, smtp_server, mail_config, run_jobs):
    closed_port = free_port()  # nothing listens there
    mail_config(
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=closed_port,
        MAIL_DEFAULT_SENDER=SENDER,
        MAIL_MAX_ATTEMPTS=6,
        MAIL_RETRY_BACKOFF_SECONDS=0.1,
        MAIL_TIMEOUT_SECONDS=5,
    )
    welcome = make_email_template(api, "Welcome", "Welcome aboard")
    next_steps = make_email_template(api, "Next", "Your next steps")
    journey = make_automation(
        api,
        actions=[
            step("send_email", template_id=welcome),
            wait_step(
                "email_sent", {"met": [step("send_email", template_id=next_steps)], "timed_out": [step("add_tag", tag="never-mailed")]}
            ),
        ],
    )
    lead_ids = bulk_create(api, 3, "patient")
    run_jobs()

    def retried():  # each retry is queued by the sweeper once its backoff is over
        run_sweepers()
        run_jobs()
        return all(m.attempts >= 2 for m in db.session.scalars(select(OutboxMessage)).all())

    wait_for(retried, 20, "a second failed attempt of every welcome email", interval=0.1)
    db.session.expire_all()
    assert {m.status for m in db.session.scalars(select(OutboxMessage))} == {"queued"}
    assert [r.status for r in runs_of(journey["id"])] == ["waiting"] * 3  # still waiting for email_sent

    mail_config(MAIL_PORT=smtp_server.port)  # the server is back

    def finished():
        run_sweepers()
        run_jobs()
        return [r.status for r in runs_of(journey["id"])] == ["completed"] * 3 and sent_messages() == 6

    wait_for(finished, 20, "the retried emails to be sent and the runs to go on", interval=0.1)
    for run in runs_of(journey["id"]):
        assert [(p["action_id"], p["branch"]) for p in run.path] == [
            (action_id(journey, 0), None),
            (action_id(journey, 1), "met"),
            (action_id(journey, 1, "met", 0), None),
        ]
    assert set(received_once_each(smtp_server.handler)) == {
        (f"patient{n}@example.com", subject) for n in range(len(lead_ids)) for subject in ("Welcome aboard", "Your next steps")
    }
