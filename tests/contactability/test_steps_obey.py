"""Automation steps obey the contactability check (SPEC §17): an email to the lead and a call task are
deferred to when contact is allowed (the run waiting, resumed by a delayed_automation task) or
skipped, with the reasons in the step's output; transactional email is stopped only by suppression."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from tests.automations.helpers import make_automation, runs_of, step
from tests.automations.test_batched_engine import statements_of
from tests.conftest import login_browser
from tests.factories import make_lead
from webapp.automations import contact_gate
from webapp.automations.engine import execute_runs
from webapp.engagement.suppression import suppress_address
from webapp.extensions import db
from webapp.models import AutomationRun, OutboxMessage, ScheduledTask, Task, utcnow
from webapp.scheduled_tasks.execution import process_due

CHICAGO = ZoneInfo("America/Chicago")  # a Texas lead's zone (the factory's leads are in TX)


def quiet_now_in(zone: ZoneInfo) -> dict:
    """Quiet hours from an hour ago to an hour from now, in ``zone``'s local time."""
    local = utcnow().astimezone(zone)
    return {"start": f"{local - timedelta(hours=1):%H:%M}", "end": f"{local + timedelta(hours=1):%H:%M}"}


def set_policy(api, **policy):
    response = api.put("/api/v1/settings/contact-policy", json=policy)
    assert response.status_code == 200, response.json


def template(api, template_type="marketing") -> int:
    body = {"name": f"A {template_type} one", "subject": "Hello", "template_type": template_type, "body_html": "<p>Hi {{ first_name }}</p>"}
    response = api.post("/api/v1/automations/email-templates", json=body)
    assert response.status_code == 201, response.json
    return response.json["id"]


def start(api, automation: dict, lead) -> AutomationRun:
    assert api.post(f"/api/v1/automations/{automation['id']}/trigger", json={"lead_id": lead.id}).status_code == 202
    return runs_of(automation["id"])[-1]


def codes(output: dict) -> list[str]:
    return [reason["code"] for reason in output["reasons"]]


def manual(api, *actions) -> dict:
    return make_automation(api, trigger_type="manual", allow_reentry=True, actions=list(actions))


def test_an_email_in_quiet_hours_is_deferred_and_sent_when_they_end_through_the_scheduler(api, org, run_jobs, monkeypatch):
    set_policy(api, quiet_hours=quiet_now_in(CHICAGO), when_blocked="defer")
    automation = manual(api, step("send_email", template_id=template(api)))
    start(api, automation, make_lead(org, state="TX"))
    run_jobs()

    [run] = runs_of(automation["id"])
    [deferred] = run.steps
    assert (run.status, deferred.status) == ("waiting", "waiting")
    assert deferred.output["deferred"] is True and codes(deferred.output) == ["quiet_hours"]
    assert "America/Chicago" in deferred.output["reason"]
    next_allowed_at = datetime.fromisoformat(deferred.output["next_allowed_at"])
    assert next_allowed_at.astimezone(CHICAGO).strftime("%H:%M") == quiet_now_in(CHICAGO)["end"]
    [task] = db.session.scalars(select(ScheduledTask).where(ScheduledTask.task_type == "delayed_automation")).all()
    assert task.scheduled_for == next_allowed_at and task.payload == {"run_id": run.id, "step_id": deferred.id}
    assert db.session.scalars(select(OutboxMessage)).all() == []

    assert process_due(org.id)["processed"] == 0  # not due before the quiet hours end
    later = next_allowed_at + timedelta(seconds=1)
    assert process_due(org.id, now=later)["completed"] == 1
    monkeypatch.setattr(contact_gate, "utcnow", lambda: later)  # the step is checked again, at the end of the quiet hours
    run_jobs()

    [run] = runs_of(automation["id"])
    [sent] = run.steps
    assert (run.status, sent.status) == ("completed", "completed")
    assert sent.output["message_id"] and sent.output["deferred_before"]["reasons"][0]["code"] == "quiet_hours"
    assert len(db.session.scalars(select(OutboxMessage)).all()) == 1


def test_a_step_still_blocked_when_it_resumes_is_deferred_again(api, org, run_jobs):
    set_policy(api, quiet_hours=quiet_now_in(CHICAGO))
    automation = manual(api, step("send_email", template_id=template(api)))
    start(api, automation, make_lead(org, state="TX"))
    run_jobs()
    [run] = runs_of(automation["id"])
    assert process_due(org.id, now=datetime.fromisoformat(run.steps[0].output["next_allowed_at"]))["completed"] == 1
    run_jobs()  # the clock has not moved: still quiet

    [run] = runs_of(automation["id"])
    assert run.status == "waiting" and run.steps[0].output["deferrals"] == 2
    assert db.session.query(ScheduledTask).filter_by(task_type="delayed_automation", status="pending").count() == 1


def test_with_skip_the_blocked_step_is_skipped_with_its_reasons_and_the_run_goes_on(api, org, run_jobs):
    set_policy(api, quiet_hours=quiet_now_in(CHICAGO), when_blocked="skip")
    automation = manual(api, step("send_email", template_id=template(api)), step("add_tag", tag="after"))
    lead = make_lead(org, state="TX")
    start(api, automation, lead)
    run_jobs()

    [run] = runs_of(automation["id"])
    skipped, tagged = run.steps
    assert (run.status, skipped.status, tagged.status) == ("completed", "skipped", "completed")
    assert codes(skipped.output) == ["quiet_hours"] and skipped.output["when_blocked"] == "skip"
    assert db.session.scalars(select(OutboxMessage)).all() == []
    assert db.session.scalars(select(ScheduledTask)).all() == []


@pytest.mark.parametrize(("policy", "override", "status"), [("defer", "skip", "skipped"), ("skip", "defer", "waiting")])
def test_a_steps_when_blocked_overrides_the_policys(api, org, run_jobs, policy, override, status):
    set_policy(api, quiet_hours=quiet_now_in(CHICAGO), when_blocked=policy)
    automation = manual(api, step("send_email", template_id=template(api), when_blocked=override))
    start(api, automation, make_lead(org, state="TX"))
    run_jobs()

    [run] = runs_of(automation["id"])
    assert run.steps[0].status == status and run.steps[0].output["when_blocked"] == override


def test_a_block_that_does_not_pass_with_time_is_skipped_even_when_deferring(api, org, run_jobs):
    set_policy(api, when_blocked="defer")
    automation = manual(api, step("send_email", template_id=template(api)))
    start(api, automation, make_lead(org, email_opt_out=True))
    run_jobs()

    [run] = runs_of(automation["id"])
    assert run.status == "skipped" and run.steps[0].status == "skipped"
    assert codes(run.steps[0].output) == ["opted_out"] and run.steps[0].output["not_deferred"]
    assert db.session.scalars(select(ScheduledTask)).all() == []


def test_a_transactional_email_is_stopped_only_by_a_suppressed_or_bounced_address(api, org, run_jobs):
    set_policy(api, quiet_hours=quiet_now_in(CHICAGO), frequency_caps=[{"channel": "email", "max": 1, "per_days": 1}])
    automation = manual(api, step("send_email", template_id=template(api, "transactional")))
    opted_out_at_night = make_lead(org, email_opt_out=True)
    bounced = make_lead(org, email="gone@example.com")
    suppress_address(org.id, "gone@example.com", "bounced", None)
    db.session.commit()
    start(api, automation, opted_out_at_night)
    start(api, automation, bounced)
    run_jobs()

    steps = {run.lead_id: run.steps[0] for run in runs_of(automation["id"])}
    assert steps[opted_out_at_night.id].status == "completed" and steps[opted_out_at_night.id].output["message_id"]
    assert steps[bounced.id].status == "skipped" and codes(steps[bounced.id].output) == ["hard_bounced"]


def test_emails_to_the_assignee_are_not_contacts_of_the_lead(api, org, admin, run_jobs):
    set_policy(api, quiet_hours=quiet_now_in(CHICAGO))
    automation = manual(api, step("send_email", template_id=template(api), to="assignee"))
    start(api, automation, make_lead(org, email_opt_out=True, assigned_to_id=admin.id))
    run_jobs()

    [run] = runs_of(automation["id"])
    assert run.steps[0].status == "completed" and run.steps[0].output["to"] == admin.email


def test_a_call_task_waits_for_the_end_of_the_quiet_hours_in_the_leads_own_time_zone(api, org, run_jobs):
    honolulu = ZoneInfo("Pacific/Honolulu")
    set_policy(api, quiet_hours=quiet_now_in(honolulu))  # hours earlier than New York: night there is not night here
    automation = manual(
        api,
        step("create_task", task_type="call", title="Call {{ first_name }}"),
        step("create_task", task_type="follow_up", title="Note for {{ first_name }}"),
    )
    in_hawaii, in_new_york = make_lead(org, first_name="Kai", state="HI"), make_lead(org, first_name="Ny", state="NY")
    start(api, automation, in_hawaii)
    start(api, automation, in_new_york)
    run_jobs()

    runs = {run.lead_id: run for run in runs_of(automation["id"])}
    deferred = runs[in_hawaii.id].steps[0]
    assert runs[in_hawaii.id].status == "waiting" and deferred.output["blocked"] == "phone" and codes(deferred.output) == ["quiet_hours"]
    assert "Pacific/Honolulu" in deferred.output["reason"]
    next_allowed_at = datetime.fromisoformat(deferred.output["next_allowed_at"])
    assert next_allowed_at.astimezone(honolulu).strftime("%H:%M") == quiet_now_in(honolulu)["end"]
    assert runs[in_new_york.id].status == "completed"
    titles = sorted(db.session.scalars(select(Task.title)).all())
    assert titles == ["Call Ny", "Note for Ny"]  # nothing for Kai yet: the follow-up comes after the call


def test_the_run_history_says_why_a_step_was_deferred_or_skipped(api, org, admin, client, run_jobs):
    set_policy(api, quiet_hours=quiet_now_in(CHICAGO))
    automation = manual(api, step("send_email", template_id=template(api)))
    start(api, automation, make_lead(org, state="TX"))
    start(api, automation, make_lead(org, email_opt_out=True))
    run_jobs()

    login_browser(client, admin.email)
    page = client.get(f"/automations/{automation['id']}/runs").get_data(as_text=True)
    assert "deferred until" in page and "within the quiet hours" in page
    assert "skipped: " in page and "opted out" in page


def test_when_blocked_is_validated_and_offered_in_the_step_editor(api, org, admin, client):
    for action_type, configuration in (("send_email", {"template_id": template(api)}), ("create_task", {"title": "Call"})):
        bad = api.post(
            "/api/v1/automations",
            json={"name": "Bad", "trigger_type": "manual", "actions": [step(action_type, **configuration, when_blocked="later")]},
        )
        assert bad.status_code == 422
        assert "actions[0].configuration.when_blocked" in [error["field"] for error in bad.json["errors"]]
        good = make_automation(
            api, name=f"Good {action_type}", trigger_type="manual", actions=[step(action_type, **configuration, when_blocked="skip")]
        )
        assert good["actions"][0]["configuration"]["when_blocked"] == "skip"

    login_browser(client, admin.email)
    automation = make_automation(api, name="Editor", trigger_type="manual")
    for action_type in ("send_email", "create_task"):
        form = client.get(f"/automations/{automation['id']}/steps/new?action_type={action_type}").get_data(as_text=True)
        assert 'name="when_blocked"' in form and "Wait until contact is allowed" in form


def test_a_batch_reads_the_contact_facts_once_whatever_its_size(api, org):
    """The facts of all the batch's leads are read at its first check of each channel: no more reads
    for 40 runs than for 5."""
    caps = [{"channel": "email", "max": 5, "per_days": 7}, {"channel": "phone", "max": 3, "per_days": 1}]
    set_policy(api, frequency_caps=caps, quiet_hours={"start": "00:00", "end": "00:00"})
    automation = manual(api, step("send_email", template_id=template(api)), step("create_task", task_type="call", title="Call"))
    leads = [make_lead(org, email=f"batch{n}@example.com") for n in range(45)]
    response = api.post(f"/api/v1/automations/{automation['id']}/trigger", json={"lead_ids": [lead.id for lead in leads]})
    assert response.status_code == 202, response.json
    runs = sorted(run.id for run in runs_of(automation["id"]))

    few, many = statements_of(execute_runs, runs[:5]), statements_of(execute_runs, runs[5:])

    assert many["SELECT"] <= few["SELECT"], (few, many)  # the first batch also drew the ids of its new rows
    db.session.expire_all()
    assert {run.status for run in runs_of(automation["id"])} == {"completed"}
    assert db.session.query(Task).count() == db.session.query(OutboxMessage).count() == 45
