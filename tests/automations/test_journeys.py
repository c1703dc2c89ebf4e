"""Journeys end to end (SPEC §15): flow actions, waits, goals and versions through the API, real RQ
jobs (SimpleWorker), PostgreSQL, a local SMTP server; timeouts through ``process_due`` with the clock
moved on. The faults (a killed worker, racing timeout and event, SMTP down) are in test_faults.py."""

from collections import Counter
from datetime import timedelta

from sqlalchemy import select

from tests.automations.helpers import action_id, flow, make_automation, make_email_template, run_detail, runs_of, step, wait_step
from tests.factories import make_user
from tests.segments.helpers import create_segment
from webapp.automations.journey import split_variant
from webapp.automations.versions import versions_of
from webapp.extensions import db
from webapp.models import Automation, Lead, ScheduledTask, utcnow
from webapp.scheduled_tasks.execution import process_due

THREE_DAYS = 4320  # minutes
HIGH_VALUE = {"match_all_rules": True, "rules": [{"field": "value_estimate", "operator": "greater_than", "value": "1000"}]}
CONVERTED = {"match_all_rules": True, "rules": [{"field": "status", "operator": "equals", "value": "converted"}]}


def create_lead(api, name: str, **fields) -> int:
    response = api.post("/api/v1/leads", json={"first_name": name.title(), "email": f"{name}@example.com", **fields})
    assert response.status_code == 201, response.json
    return response.json["id"]


def received(smtp) -> Counter:
    """``(recipient, subject)`` of every message the SMTP server received, with how many times."""
    return Counter(
        (rcpt, message["subject"]) for envelope, message in zip(smtp.envelopes, smtp.messages, strict=True) for rcpt in envelope.rcpt_tos
    )


def run_of(automation: dict, lead_id: int):
    [run] = [r for r in runs_of(automation["id"]) if r.lead_id == lead_id]
    return run


def path_of(api, run) -> list[tuple[int, str | None]]:
    """The run's path as ``GET /automations/runs/{id}`` shows it. A step row exists only where the run
    went: the path's actions, in order, and at most one unfinished step after them (a wait, cancelled or not)."""
    detail = run_detail(api, run.id)
    path = [(entry["action_id"], entry["branch"]) for entry in detail["path"]]
    steps = detail["steps"]
    assert [s["action_id"] for s in steps[: len(path)]] == [action for action, _ in path]
    assert [s["status"] for s in steps[len(path) :]] in ([], ["waiting"], ["cancelled"], ["pending"])
    return path


def after_timeout(minutes: int):
    return utcnow() + timedelta(minutes=minutes + 1)


def welcome_journey(api) -> dict:
    """welcome email → wait until the status changes (3 days) → branch on value > 1000 → assign / nurture email."""
    welcome = make_email_template(api, "Welcome", "Welcome aboard")
    nurture = make_email_template(api, "Nurture", "Still thinking it over?")
    return make_automation(
        api,
        name="Welcome journey",
        actions=[
            step("send_email", template_id=welcome),
            wait_step("lead_status_changed", {"met": [], "timed_out": [step("add_tag", tag="cold")]}, THREE_DAYS),
            flow(
                "branch",
                {"yes": [step("assign_lead", strategy="round_robin", role="agent")], "no": [step("send_email", template_id=nurture)]},
                **HIGH_VALUE,
            ),
        ],
    )


def test_the_welcome_journey_waits_for_a_status_change_then_branches_on_value(api, run_jobs, smtp, org):
    agents = [make_user(org, role="agent") for _ in range(2)]
    journey = welcome_journey(api)
    send, wait, branch = (action_id(journey, i) for i in range(3))
    assign, nurture, cold = action_id(journey, 2, "yes", 0), action_id(journey, 2, "no", 0), action_id(journey, 1, "timed_out", 0)
    big = create_lead(api, "big", value_estimate="5000")
    small = create_lead(api, "small", value_estimate="200")
    silent = create_lead(api, "silent", value_estimate="3000")
    run_jobs()

    for lead_id in (big, small, silent):  # welcomed, then parked in the wait with its timeout scheduled
        run = run_of(journey, lead_id)
        assert run.status == "waiting" and path_of(api, run) == [(send, None)]
        assert [(s.action_type, s.status) for s in run.steps] == [("send_email", "completed"), ("wait_until", "waiting")]
        waiting = run.steps[1]
        assert waiting.due_at - waiting.started_at == timedelta(minutes=THREE_DAYS)
        timeout = db.session.scalar(select(ScheduledTask).where(ScheduledTask.payload["step_id"].as_integer() == waiting.id))
        assert (timeout.task_type, timeout.scheduled_for, timeout.payload["run_id"]) == ("delayed_automation", waiting.due_at, run.id)

    for lead_id in (big, small):  # the event resumes the run at once, in the PATCH's transaction
        assert api.patch(f"/api/v1/leads/{lead_id}", json={"status": "contacted"}).status_code == 200
        assert run_of(journey, lead_id).status == "pending"
    run_jobs()
    assert process_due(org.id, now=after_timeout(THREE_DAYS))["completed"] == 3  # two of them find nothing to do
    run_jobs()

    big_run, small_run, silent_run = (run_of(journey, lead_id) for lead_id in (big, small, silent))
    assert path_of(api, big_run) == [(send, None), (wait, "met"), (branch, "yes"), (assign, None)]
    assert path_of(api, small_run) == [(send, None), (wait, "met"), (branch, "no"), (nurture, None)]
    assert path_of(api, silent_run) == [(send, None), (wait, "timed_out"), (cold, None), (branch, "yes"), (assign, None)]
    assert {r.status for r in (big_run, small_run, silent_run)} == {"completed"}
    assert big_run.steps[1].output["event_type"] == "lead_status_changed"
    leads = {lead_id: db.session.get(Lead, lead_id) for lead_id in (big, small, silent)}
    assert sorted([leads[big].assigned_to_id, leads[silent].assigned_to_id]) == sorted(a.id for a in agents)  # round robin
    assert leads[small].assigned_to_id is None and leads[silent].tags == ["cold"] and leads[big].tags == []
    assert received(smtp) == Counter(
        {
            ("big@example.com", "Welcome aboard"): 1,
            ("small@example.com", "Welcome aboard"): 1,
            ("silent@example.com", "Welcome aboard"): 1,
            ("small@example.com", "Still thinking it over?"): 1,
        }
    )


def test_a_split_sends_each_lead_down_its_variant_and_an_exit_ends_the_run(api, run_jobs, org):
    weights = {"a": 50, "b": 50}
    journey = make_automation(
        api,
        actions=[
            flow(
                "split",
                {"a": [step("add_tag", tag="variant-a")], "b": [step("add_tag", tag="variant-b"), step("exit", reason="B stops")]},
                weights=weights,
            ),
            step("add_tag", tag="after-split"),
        ],
    )
    split, tag_a, tag_b, exit_b, after = (
        action_id(journey, 0),
        action_id(journey, 0, "a", 0),
        action_id(journey, 0, "b", 0),
        action_id(journey, 0, "b", 1),
        action_id(journey, 1),
    )
    response = api.post("/api/v1/leads/bulk", json={"leads": [{"first_name": f"S{n}"} for n in range(16)]})
    assert response.status_code == 201, response.json
    run_jobs()

    runs = runs_of(journey["id"])
    variants = Counter()
    for run in runs:
        variant = split_variant(weights, run.lead_id, split)
        variants[variant] += 1
        assert run.steps[0].output == {"branch": variant}
        tags = db.session.get(Lead, run.lead_id).tags
        if variant == "a":
            assert run.status == "completed" and path_of(api, run) == [(split, "a"), (tag_a, None), (after, None)]
            assert sorted(tags) == ["after-split", "variant-a"]
        else:
            assert run.status == "exited" and path_of(api, run) == [(split, "b"), (tag_b, None), (exit_b, None)]
            assert run.steps[-1].output == {"exited": True, "reason": "B stops"} and run.finished_at is not None
            assert tags == ["variant-b"]  # nothing after the exit ran
    assert len(runs) == 16 and set(variants) == {"a", "b"}


def goal_journey(api, *actions) -> dict:
    return make_automation(api, name="Until converted", goal=CONVERTED, actions=list(actions))


def test_reaching_the_goal_ends_a_waiting_run_at_once_and_its_timeout_then_does_nothing(api, run_jobs, org):
    journey = goal_journey(
        api,
        step("add_tag", tag="started"),
        wait_step("lead_status_changed", {"met": [step("add_tag", tag="moved")], "timed_out": [step("add_tag", tag="late")]}, 60),
        step("add_tag", tag="finished"),
    )
    lead_id = create_lead(api, "goal")
    run_jobs()
    assert run_of(journey, lead_id).status == "waiting"

    # the change meets the goal and is also the event the wait waits for: the goal wins
    assert api.patch(f"/api/v1/leads/{lead_id}", json={"status": "converted"}).status_code == 200
    run = run_of(journey, lead_id)
    assert run.status == "goal_reached" and run.finished_at is not None
    assert [(s.action_type, s.status) for s in run.steps] == [("add_tag", "completed"), ("wait_until", "cancelled")]
    run_jobs()
    outcome = process_due(org.id, now=after_timeout(60))
    assert outcome["completed"] == 1
    run_jobs()

    run = run_of(journey, lead_id)
    assert run.status == "goal_reached" and path_of(api, run) == [(action_id(journey, 0), None)]
    assert [s.status for s in run.steps] == ["completed", "cancelled"]
    assert db.session.get(Lead, lead_id).tags == ["started"]
    task = db.session.scalar(select(ScheduledTask).where(ScheduledTask.task_type == "delayed_automation"))
    assert task.result["resumed"] is False


def test_a_lead_meeting_the_goal_when_its_run_starts_runs_no_step(api, run_jobs, org):
    journey = goal_journey(api, step("add_tag", tag="never"))
    lead_id = create_lead(api, "done", status="converted")
    run_jobs()
    run = run_of(journey, lead_id)
    assert run.status == "goal_reached" and run.steps == [] and run.path == []
    assert db.session.get(Lead, lead_id).tags == []


def test_a_step_whose_own_change_meets_the_goal_ends_the_run_there(api, run_jobs, org):
    journey = goal_journey(api, step("update_lead_status", status="converted"), step("add_tag", tag="never"))
    lead_id = create_lead(api, "closer")
    run_jobs()
    run = run_of(journey, lead_id)
    assert run.status == "goal_reached" and [(s.action_type, s.status) for s in run.steps] == [("update_lead_status", "completed")]
    assert db.session.get(Lead, lead_id).tags == []


def test_waiting_runs_finish_on_their_version_after_an_edit_and_new_runs_use_the_new_one(api, run_jobs, org):
    agent = make_user(org, role="agent")

    def definition(yes_step) -> list:
        return [
            wait_step("lead_status_changed", {"met": [], "timed_out": [step("exit")]}, 60),
            flow("branch", {"yes": [yes_step], "no": []}, **HIGH_VALUE),
        ]

    v1 = make_automation(api, actions=definition(step("assign_lead", strategy="round_robin", role="agent")))
    old = [create_lead(api, f"old{n}", value_estimate="5000") for n in range(2)]
    run_jobs()
    assert {r.status for r in runs_of(v1["id"])} == {"waiting"} and v1["version"] == 1

    response = api.put(f"/api/v1/automations/{v1['id']}", json={"actions": definition(step("add_tag", tag="vip"))})
    assert response.status_code == 200 and response.json["version"] == 2
    v2 = response.json
    assert [v.version for v in db.session.scalars(versions_of(db.session.get(Automation, v1["id"])))] == [2, 1]
    new = create_lead(api, "new", value_estimate="5000")
    run_jobs()

    for lead_id in (*old, new):
        assert api.patch(f"/api/v1/leads/{lead_id}", json={"status": "contacted"}).status_code == 200
    run_jobs()
    for lead_id in old:  # version 1's yes branch: assigned, not tagged
        run = run_of(v1, lead_id)
        assert (run.version, run.status) == (1, "completed")
        assert path_of(api, run) == [(action_id(v1, 0), "met"), (action_id(v1, 1), "yes"), (action_id(v1, 1, "yes", 0), None)]
        lead = db.session.get(Lead, lead_id)
        assert (lead.assigned_to_id, lead.tags) == (agent.id, [])
    run = run_of(v1, new)
    assert (run.version, run.status) == (2, "completed")
    assert path_of(api, run) == [(action_id(v2, 0), "met"), (action_id(v2, 1), "yes"), (action_id(v2, 1, "yes", 0), None)]
    lead = db.session.get(Lead, new)
    assert (lead.assigned_to_id, lead.tags) == (None, ["vip"])


def test_deactivating_a_journey_cancels_its_waiting_runs(api, run_jobs, org):
    journey = make_automation(
        api,
        actions=[wait_step("lead_status_changed", {"met": [step("add_tag", tag="met")], "timed_out": [step("add_tag", tag="late")]}, 60)],
    )
    lead_id = create_lead(api, "idle")
    run_jobs()
    assert api.put(f"/api/v1/automations/{journey['id']}", json={"is_active": False}).status_code == 200
    run = run_of(journey, lead_id)
    assert run.status == "cancelled" and [s.status for s in run.steps] == ["cancelled"]

    api.patch(f"/api/v1/leads/{lead_id}", json={"status": "contacted"})  # neither the event nor the timeout moves it
    process_due(org.id, now=after_timeout(60))
    run_jobs()
    run = run_of(journey, lead_id)
    assert run.status == "cancelled" and run.path == [] and db.session.get(Lead, lead_id).tags == []


def test_a_wait_for_email_sent_resumes_when_the_sender_records_the_email(api, run_jobs, smtp, org):
    welcome = make_email_template(api, "Welcome", "Welcome aboard")
    journey = make_automation(
        api,
        actions=[
            step("send_email", template_id=welcome),
            wait_step("email_sent", {"met": [step("add_tag", tag="mailed")], "timed_out": [step("add_tag", tag="unmailed")]}, 60),
        ],
    )
    lead_id = create_lead(api, "mailed")
    run_jobs()  # the run parks in the wait; the email job sends, records email_sent: the run goes on

    run = run_of(journey, lead_id)
    assert run.status == "completed"
    assert path_of(api, run) == [(action_id(journey, 0), None), (action_id(journey, 1), "met"), (action_id(journey, 1, "met", 0), None)]
    assert run.steps[1].output["event_type"] == "email_sent"
    assert db.session.get(Lead, lead_id).tags == ["mailed"]
    assert received(smtp) == Counter({("mailed@example.com", "Welcome aboard"): 1})


def test_a_wait_for_segment_entered_resumes_when_segment_upkeep_moves_the_lead_in(api, run_jobs, org):
    create_segment(api, name="Big ones", slug="big-ones", rules=HIGH_VALUE["rules"])
    journey = make_automation(
        api,
        actions=[wait_step("segment_entered", {"met": [step("add_tag", tag="entered")], "timed_out": []})],
    )
    lead_id = create_lead(api, "grower", value_estimate="10")
    run_jobs()
    assert run_of(journey, lead_id).status == "waiting"

    assert api.patch(f"/api/v1/leads/{lead_id}", json={"value_estimate": "5000"}).status_code == 200
    run_jobs()
    run = run_of(journey, lead_id)
    assert run.status == "completed" and run.steps[0].output["event_type"] == "segment_entered"
    assert path_of(api, run) == [(action_id(journey, 0), "met"), (action_id(journey, 0, "met", 0), None)]
    assert db.session.get(Lead, lead_id).tags == ["entered"]
