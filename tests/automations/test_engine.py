"""Automations end to end through the API and a real RQ worker: triggers, actions, runs, safety."""

from datetime import timedelta

from sqlalchemy import func, select

from tests.automations.helpers import make_automation, runs_of, step
from tests.factories import make_lead, make_org, make_user
from webapp.extensions import db
from webapp.models import AutomationRunStep, Lead, LeadEvent, Notification, ScheduledTask, Task, utcnow
from webapp.scheduled_tasks.execution import process_due


def create_lead(api, **fields):
    response = api.post("/api/v1/leads", json={"first_name": "Lee", "email": "lee@example.com", **fields})
    assert response.status_code == 201, response.json
    return response.json["id"]


def test_lead_created_runs_every_step_and_records_them(api, run_jobs, org, admin):
    automation = make_automation(
        api,
        actions=[
            step("add_tag", tag="welcome"),
            step("update_lead_status", status="contacted"),
            step("create_task", task_type="call", title="Call them", due_in_days=2),
        ],
    )
    lead_id = create_lead(api)
    run_jobs()
    [run] = runs_of(automation["id"])
    assert run.status == "completed"
    assert [s.status for s in run.steps] == ["completed"] * 3
    lead = db.session.get(Lead, lead_id)
    assert lead.tags == ["welcome"] and lead.status == "contacted"
    task = db.session.scalar(select(Task).where(Task.lead_id == lead_id))
    assert task.title == "Call them" and task.task_type == "call"
    assert run.steps[2].output["task_id"] == task.id


def test_status_trigger_matches_from_and_to(api, run_jobs, org):
    automation = make_automation(
        api,
        trigger_type="lead_status_changed",
        trigger_configuration={"from_status": "new", "to_status": "qualified"},
        actions=[step("add_tag", tag="hot")],
    )
    first, second = create_lead(api), create_lead(api)
    api.patch(f"/api/v1/leads/{first}", json={"status": "qualified"})
    api.patch(f"/api/v1/leads/{second}", json={"status": "contacted"})
    run_jobs()
    assert [r.lead_id for r in runs_of(automation["id"])] == [first]


def test_priority_assigned_and_value_triggers(api, run_jobs, org, admin):
    agent = make_user(org, role="agent")
    by_priority = make_automation(
        api,
        name="p",
        trigger_type="lead_priority_changed",
        trigger_configuration={"to_priority": "urgent"},
        actions=[step("add_tag", tag="p")],
    )
    by_assignee = make_automation(
        api, name="a", trigger_type="lead_assigned", trigger_configuration={"user_id": agent.id}, actions=[step("add_tag", tag="a")]
    )
    by_value = make_automation(
        api,
        name="v",
        trigger_type="lead_value_changed",
        trigger_configuration={"min_value": "5000", "min_change": "1000"},
        actions=[step("add_tag", tag="v")],
    )
    lead_id = create_lead(api, value_estimate="4500")
    api.patch(f"/api/v1/leads/{lead_id}", json={"priority": "urgent", "assigned_to_id": agent.id})
    api.patch(f"/api/v1/leads/{lead_id}", json={"value_estimate": "5200"})  # +700: below min_change
    api.patch(f"/api/v1/leads/{lead_id}", json={"value_estimate": "7000"})
    run_jobs()
    assert len(runs_of(by_priority["id"])) == 1
    assert len(runs_of(by_assignee["id"])) == 1
    assert len(runs_of(by_value["id"])) == 1
    assert sorted(db.session.get(Lead, lead_id).tags) == ["a", "p", "v"]


def test_conditions_decide_whether_a_run_starts(api, run_jobs, org):
    automation = make_automation(
        api,
        conditions={
            "match_all": True,
            "rules": [
                {"field": "insurance_type", "operator": "equals", "value": "auto"},
                {"field": "value_estimate", "operator": "greater_than", "value": "1000"},
            ],
        },
        actions=[step("add_tag", tag="high-value-auto")],
    )
    match = create_lead(api, insurance_type="auto", value_estimate="2500")
    create_lead(api, insurance_type="home", value_estimate="2500")
    run_jobs()
    assert [r.lead_id for r in runs_of(automation["id"])] == [match]


def test_a_step_whose_conditions_fail_is_skipped(api, run_jobs, org):
    automation = make_automation(
        api,
        actions=[
            step("add_tag", tag="everyone"),
            step(
                "add_tag", tag="texans", conditions={"match_all": True, "rules": [{"field": "state", "operator": "equals", "value": "TX"}]}
            ),
        ],
    )
    create_lead(api, state="CA")
    run_jobs()
    [run] = runs_of(automation["id"])
    assert [s.status for s in run.steps] == ["completed", "skipped"]
    assert run.status == "completed"


def test_without_reentry_a_lead_goes_through_once(api, run_jobs, org):
    automation = make_automation(api, trigger_type="lead_status_changed", actions=[step("add_tag", tag="x")])
    lead_id = create_lead(api)
    for status in ("contacted", "qualified", "contacted"):
        api.patch(f"/api/v1/leads/{lead_id}", json={"status": status})
        run_jobs()
    assert len(runs_of(automation["id"])) == 1


def test_with_reentry_a_lead_goes_through_again_after_finishing(api, run_jobs, org):
    automation = make_automation(api, trigger_type="lead_status_changed", allow_reentry=True, actions=[step("add_tag", tag="x")])
    lead_id = create_lead(api)
    for status in ("contacted", "qualified"):
        api.patch(f"/api/v1/leads/{lead_id}", json={"status": status})
        run_jobs()
    assert [r.status for r in runs_of(automation["id"])] == ["completed", "completed"]


def test_a_chain_that_comes_back_does_not_loop(api, run_jobs, org):
    # A sets status contacted → B (on contacted) sets qualified → A (on any status change) again? no.
    a = make_automation(
        api, name="A", trigger_type="lead_status_changed", allow_reentry=True, actions=[step("update_lead_status", status="contacted")]
    )
    b = make_automation(
        api,
        name="B",
        trigger_type="lead_status_changed",
        allow_reentry=True,
        trigger_configuration={"to_status": "contacted"},
        actions=[step("update_lead_status", status="qualified")],
    )
    lead_id = create_lead(api)
    api.patch(f"/api/v1/leads/{lead_id}", json={"status": "quoted"})
    for _ in range(5):
        run_jobs()
    assert len(runs_of(a["id"])) == 1
    assert len(runs_of(b["id"])) == 1
    assert db.session.get(Lead, lead_id).status == "qualified"


def test_delayed_step_waits_for_its_scheduled_task(api, run_jobs, org):
    automation = make_automation(api, actions=[step("add_tag", tag="now"), step("add_tag", tag="later", delay_minutes=60)])
    lead_id = create_lead(api)
    run_jobs()
    [run] = runs_of(automation["id"])
    assert run.status == "waiting" and [s.status for s in run.steps] == ["completed", "waiting"]
    task = db.session.scalar(select(ScheduledTask).where(ScheduledTask.task_type == "delayed_automation"))
    assert task.scheduled_for > utcnow() + timedelta(minutes=59)
    assert process_due(org.id)["processed"] == 0  # not due yet
    assert process_due(org.id, now=utcnow() + timedelta(minutes=61))["completed"] == 1
    run_jobs()
    [run] = runs_of(automation["id"])
    assert run.status == "completed"
    assert db.session.get(Lead, lead_id).tags == ["later", "now"]


def test_deactivation_cancels_waiting_runs(api, run_jobs, org):
    automation = make_automation(api, actions=[step("add_tag", tag="later", delay_minutes=30)])
    create_lead(api)
    run_jobs()
    assert runs_of(automation["id"])[0].status == "waiting"
    assert api.put(f"/api/v1/automations/{automation['id']}", json={"is_active": False}).status_code == 200
    [run] = runs_of(automation["id"])
    assert run.status == "cancelled" and run.steps[0].status == "cancelled"
    process_due(org.id, now=utcnow() + timedelta(minutes=31))
    run_jobs()
    assert runs_of(automation["id"])[0].status == "cancelled"


def test_failing_step_is_retried_then_fails_the_run_with_its_error(api, run_jobs, app, org):
    app.config["AUTOMATION_RETRY_BACKOFF_SECONDS"] = 0
    try:
        automation = make_automation(api, actions=[step("assign_lead", strategy="round_robin", role="agent")])
        create_lead(api)  # no agent exists: assignment fails
        run_jobs()
    finally:
        app.config.pop("AUTOMATION_RETRY_BACKOFF_SECONDS")
    [run] = runs_of(automation["id"])
    assert run.status == "failed"
    assert run.steps[0].attempts == 3
    assert "no active agent" in run.steps[0].error and "no active agent" in run.error


def test_retry_of_a_failed_run_completes_without_repeating_done_steps(api, run_jobs, app, org):
    app.config["AUTOMATION_RETRY_BACKOFF_SECONDS"] = 0
    try:
        automation = make_automation(
            api, actions=[step("create_task", title="Call", due_in_days=1), step("assign_lead", strategy="least_loaded", role="agent")]
        )
        lead_id = create_lead(api)
        run_jobs()
        [run] = runs_of(automation["id"])
        assert run.status == "failed"
        agent = make_user(org, role="agent")
        from webapp.automations.engine import retry_run

        retry_run(run)
        db.session.commit()
        run_jobs()
    finally:
        app.config.pop("AUTOMATION_RETRY_BACKOFF_SECONDS")
    [run] = runs_of(automation["id"])
    assert run.status == "completed"
    assert db.session.scalar(select(func.count()).select_from(Task).where(Task.lead_id == lead_id)) == 1
    assert db.session.get(Lead, lead_id).assigned_to_id == agent.id


def test_round_robin_assignment_takes_agents_in_turn(api, run_jobs, org):
    agents = [make_user(org, role="agent") for _ in range(2)]
    make_automation(api, actions=[step("assign_lead", strategy="round_robin", role="agent")])
    ids = [create_lead(api) for _ in range(4)]
    run_jobs()
    assigned = [db.session.get(Lead, i).assigned_to_id for i in ids]
    assert sorted(assigned) == sorted([agents[0].id, agents[1].id] * 2)


def test_least_loaded_assignment_picks_the_agent_with_fewest_open_leads(api, run_jobs, org):
    busy, idle = make_user(org, role="agent"), make_user(org, role="agent")
    make_lead(org, assigned_to_id=busy.id)
    make_lead(org, assigned_to_id=idle.id, status="converted")  # closed leads do not count
    make_automation(api, actions=[step("assign_lead", strategy="least_loaded", role="agent")])
    lead_id = create_lead(api)
    run_jobs()
    assert db.session.get(Lead, lead_id).assigned_to_id == idle.id


def test_notification_goes_to_the_assignee(api, run_jobs, org):
    agent = make_user(org, role="agent")
    make_automation(api, actions=[step("send_notification", user_id="assignee", message="New lead: {{ full_name }}")])
    create_lead(api, last_name="Ray", assigned_to_id=agent.id)
    run_jobs()
    [note] = db.session.scalars(select(Notification)).all()
    assert note.user_id == agent.id and note.message == "New lead: Lee Ray"


def test_a_step_executed_twice_has_its_effect_once(api, run_jobs, org):
    automation = make_automation(api, actions=[step("create_task", title="Once", due_in_days=1)])
    lead_id = create_lead(api)
    run_jobs()
    [run] = runs_of(automation["id"])
    from webapp.automations.engine import execute_run

    db.session.execute(AutomationRunStep.__table__.update().values(status="pending"))
    run.status = "pending"
    db.session.commit()
    execute_run(run.id)
    assert db.session.scalar(select(func.count()).select_from(Task).where(Task.lead_id == lead_id)) == 1


def test_trigger_endpoint_starts_runs_for_chosen_leads(api, run_jobs, org):
    automation = make_automation(api, trigger_type="manual", actions=[step("add_tag", tag="manual")])
    first, second = create_lead(api), create_lead(api)
    response = api.post(f"/api/v1/automations/{automation['id']}/trigger", json={"lead_ids": [first, second]})
    assert response.status_code == 202
    assert [r["lead_id"] for r in response.json["runs"]] == [first, second]
    run_jobs()
    detail = api.get(f"/api/v1/automations/runs/{response.json['runs'][0]['id']}").json
    assert detail["status"] == "completed" and detail["steps"][0]["status"] == "completed"
    listed = api.get(f"/api/v1/automations/{automation['id']}/runs").json
    assert listed["total"] == 2 and listed["items"][0]["id"] > listed["items"][1]["id"]


def test_foreign_leads_cannot_be_triggered(api, org):
    automation = make_automation(api, trigger_type="manual", actions=[step("add_tag", tag="x")])
    other = make_lead(make_org("Other"))
    response = api.post(f"/api/v1/automations/{automation['id']}/trigger", json={"lead_id": other.id})
    assert response.status_code == 422 and response.json["errors"][0]["field"] == "lead_ids"


def test_bulk_import_burst_is_batched(api, run_jobs, org):
    make_automation(api, actions=[step("add_tag", tag="welcome")])
    leads = [{"first_name": f"L{i}"} for i in range(250)]
    assert api.post("/api/v1/leads/bulk", json={"leads": leads}).status_code == 201
    from webapp.jobs import rq_queue

    assert rq_queue("default").count == 3  # 250 runs in jobs of 100, not 250 jobs
    run_jobs()
    assert db.session.scalar(select(func.count()).select_from(LeadEvent).where(LeadEvent.event_type == "tag_added")) == 250


def test_a_batch_commits_its_runs_together_and_one_broken_run_does_not_fail_it(api, org, app):
    """A job executes its runs in one transaction; the run whose action raises is taken out, the
    others are executed again without it, and it fails alone with its error."""
    from webapp.automations.engine import execute_runs

    agent_less = make_automation(api, name="assign", trigger_type="manual", actions=[step("assign_lead", strategy="round_robin")])
    tagging = make_automation(api, name="tag", trigger_type="manual", actions=[step("add_tag", tag="batched")])
    leads = [create_lead(api, email=f"b{n}@example.com") for n in range(4)]
    run_ids = []
    for lead_id in leads:
        run_ids += [r["id"] for r in api.post(f"/api/v1/automations/{tagging['id']}/trigger", json={"lead_id": lead_id}).json["runs"]]
    broken = api.post(f"/api/v1/automations/{agent_less['id']}/trigger", json={"lead_id": leads[1]}).json["runs"][0]["id"]
    app.config["AUTOMATION_RETRY_BACKOFF_SECONDS"] = 0
    try:
        outcome = execute_runs(sorted([*run_ids, broken]))  # no agent to assign to: that action raises
    finally:
        app.config.pop("AUTOMATION_RETRY_BACKOFF_SECONDS")

    assert outcome == {**dict.fromkeys(run_ids, "completed"), broken: "failed"}
    assert all(db.session.get(Lead, lead_id).tags == ["batched"] for lead_id in leads)
    [failed] = runs_of(agent_less["id"])
    assert "no active agent" in failed.error and [s.attempts for s in failed.steps] == [3]
