"""The seed's five use cases (reference/seed-phase-9.2.md, "Use Cases Implemented") end to end:
API → trigger → runs → real RQ jobs (SimpleWorker) → outbox → a local SMTP server (aiosmtpd)."""

from datetime import timedelta

from sqlalchemy import func, select, update

from tests.automations.helpers import make_automation, runs_of, step
from tests.factories import make_lead, make_user
from tests.segments.helpers import active_member_ids, create_segment
from webapp.extensions import db
from webapp.models import Lead, OutboxMessage, ScheduledTask, Task, utcnow
from webapp.scheduled_tasks.execution import process_due

HIGH_VALUE_AUTO = {
    "match_all": True,
    "rules": [
        {"field": "insurance_type", "operator": "equals", "value": "auto"},
        {"field": "value_estimate", "operator": "greater_than", "value": "1000"},
    ],
}


def create_lead(api, **fields) -> int:
    response = api.post("/api/v1/leads", json={"first_name": "Lee", "last_name": "Ray", "email": "lee@example.com", **fields})
    assert response.status_code == 201, response.json
    return response.json["id"]


def create_template(api, name: str, subject: str, heading: str, template_type: str = "marketing") -> dict:
    response = api.post(
        "/api/v1/automations/email-templates",
        json={
            "name": name,
            "subject": subject,
            "template_type": template_type,
            "is_active": True,
            "body_html": f"<html><body><h1>{heading}</h1><p>{{{{ company_name }}}} is here to help.</p></body></html>",
            "body_text": f"{heading}\n\n{{{{ company_name }}}} is here to help.",
        },
    )
    assert response.status_code == 201, response.json
    return response.json


def run_history(api, automation_id: int) -> list[dict]:
    """The runs as the API shows them, oldest first."""
    listed = api.get(f"/api/v1/automations/{automation_id}/runs").json
    return sorted(listed["items"], key=lambda r: r["id"])


def mail_to(smtp, address: str) -> list:
    return [m for m in smtp.messages if address in m["To"]]


def assert_marketing_mail(mail, *, to: str, subject: str, text: str) -> None:
    assert mail["To"] == to
    assert mail["Subject"] == subject
    assert text in mail.get_body(("html",)).get_content()
    assert text in mail.get_body(("plain",)).get_content()
    assert mail["List-Unsubscribe"].startswith("<") and "/u/" in mail["List-Unsubscribe"]
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def tasks_of(lead_id: int) -> list[Task]:
    db.session.expire_all()
    return db.session.scalars(select(Task).where(Task.lead_id == lead_id).order_by(Task.id)).all()


def test_lead_qualification_qualifies_high_value_auto_leads_and_gives_them_to_the_least_loaded_agent(api, run_jobs, smtp, org):
    busy, idle = make_user(org, role="agent", name="Bo Busy"), make_user(org, role="agent", name="Ida Idle")
    make_lead(org, assigned_to_id=busy.id, insurance_type="home", value_estimate=100)  # busy has one open lead
    automation = make_automation(
        api,
        name="Lead Qualification",
        conditions=HIGH_VALUE_AUTO,
        actions=[
            step("update_lead_status", status="qualified"),
            step("assign_lead", strategy="least_loaded", role="agent"),
            step("add_tag", tag="qualified-auto"),
        ],
    )

    qualified = create_lead(api, insurance_type="auto", value_estimate="2500")
    too_small = create_lead(api, insurance_type="auto", value_estimate="1000")  # not greater than 1000
    other_type = create_lead(api, insurance_type="home", value_estimate="9000")
    run_jobs()

    [run] = run_history(api, automation["id"])
    assert run["lead_id"] == qualified and run["status"] == "completed" and run["trigger_type"] == "lead_created"
    assert [(s["action_type"], s["status"], s["attempts"]) for s in run["steps"]] == [
        ("update_lead_status", "completed", 1),
        ("assign_lead", "completed", 1),
        ("add_tag", "completed", 1),
    ]
    assert run["steps"][0]["output"] == {"old": "new", "new": "qualified"}
    assert run["steps"][1]["output"] == {"old": None, "assigned_to_id": idle.id}
    assert run["steps"][2]["output"] == {"tag": "qualified-auto"}
    db.session.expire_all()
    lead = db.session.get(Lead, qualified)
    assert (lead.status, lead.assigned_to_id, lead.tags) == ("qualified", idle.id, ["qualified-auto"])
    for untouched in (too_small, other_type):
        lead = db.session.get(Lead, untouched)
        assert (lead.status, lead.assigned_to_id, lead.tags) == ("new", None, [])
    assert smtp.envelopes == []  # this automation sends nothing

    # the next qualified lead goes to whoever has fewer open leads now: both have one, the lower id wins
    second = create_lead(api, insurance_type="auto", value_estimate="5000")
    run_jobs()
    assert db.session.get(Lead, second).assigned_to_id == min(busy.id, idle.id)


def test_nurture_sends_the_first_email_now_and_the_second_after_its_delay(api, run_jobs, smtp, org):
    welcome = create_template(api, "Nurture 1", "Welcome, {{ first_name }}", "Hi {{ first_name | default('there') }}!")
    tips = create_template(
        api, "Nurture 2", "{{ first_name }}, 3 ways to save on {{ insurance_type }} insurance", "More for you, {{ first_name }}"
    )
    automation = make_automation(
        api,
        name="Auto Nurture",
        conditions={"match_all": True, "rules": [{"field": "insurance_type", "operator": "equals", "value": "auto"}]},
        actions=[
            step("send_email", template_id=welcome["id"]),
            step("add_tag", tag="nurtured"),
            step("send_email", template_id=tips["id"], delay_minutes=3 * 24 * 60),
        ],
    )

    maria = create_lead(api, first_name="Maria", last_name="Lopez", email="maria@example.com", insurance_type="auto")
    create_lead(api, first_name="Hugo", email="hugo@example.com", insurance_type="home")  # not this audience
    run_jobs()

    [mail] = smtp.messages
    assert_marketing_mail(mail, to="Maria Lopez <maria@example.com>", subject="Welcome, Maria", text="Hi Maria!")
    [run] = run_history(api, automation["id"])
    assert run["status"] == "waiting"
    assert [s["status"] for s in run["steps"]] == ["completed", "completed", "waiting"]
    assert run["steps"][0]["output"]["status"] == "queued" and run["steps"][0]["output"]["subject"] == "Welcome, Maria"
    assert run["steps"][2]["due_at"] is not None
    assert db.session.get(Lead, maria).tags == ["nurtured"]

    assert process_due(org.id, now=utcnow() + timedelta(days=2))["processed"] == 0  # not yet
    run_jobs()
    assert len(smtp.envelopes) == 1

    assert process_due(org.id, now=utcnow() + timedelta(days=3, minutes=1))["completed"] == 1
    run_jobs()

    first, second = smtp.messages
    assert_marketing_mail(
        second, to="Maria Lopez <maria@example.com>", subject="Maria, 3 ways to save on auto insurance", text="More for you, Maria"
    )
    assert first["Message-ID"] != second["Message-ID"]
    [run] = run_history(api, automation["id"])
    assert run["status"] == "completed" and [s["status"] for s in run["steps"]] == ["completed"] * 3
    assert run["steps"][2]["output"]["to"] == "maria@example.com"
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "sent")) == 2

    process_due(org.id, now=utcnow() + timedelta(days=30))  # nothing left to fire
    run_jobs()
    assert len(smtp.envelopes) == 2


def test_priority_assignment_on_entering_the_high_value_segment(api, run_jobs, smtp, org):
    senior = make_user(org, role="agent", name="Sam Senior")
    segment = create_segment(api)  # the seed's "High-Value Auto Leads": auto, value > 1000, status new
    automation = make_automation(
        api,
        name="Priority Assignment",
        trigger_type="segment_entered",
        trigger_configuration={"segment_id": segment["id"]},
        actions=[step("update_lead_priority", priority="high"), step("assign_lead", user_id=senior.id)],
    )

    entering = create_lead(api, insurance_type="auto", value_estimate="1800")
    later = create_lead(api, insurance_type="auto", value_estimate="600")
    run_jobs()
    assert active_member_ids(segment["id"]) == {entering}

    assert api.patch(f"/api/v1/leads/{later}", json={"value_estimate": "4000"}).status_code == 200  # enters now
    run_jobs()

    assert active_member_ids(segment["id"]) == {entering, later}
    runs = run_history(api, automation["id"])
    assert [(r["lead_id"], r["trigger_type"], r["status"]) for r in runs] == [
        (entering, "segment_entered", "completed"),
        (later, "segment_entered", "completed"),
    ]
    for run in runs:
        assert run["steps"][0]["output"] == {"old": "medium", "new": "high"}
        assert run["steps"][1]["output"] == {"old": None, "assigned_to_id": senior.id}
        lead = db.session.get(Lead, run["lead_id"])
        assert (lead.priority, lead.assigned_to_id) == ("high", senior.id)
    assert db.session.get(Lead, entering).status == "new"


def test_follow_up_for_leads_still_new_after_24_hours(api, run_jobs, smtp, org, admin):
    agent = make_user(org, role="agent", name="Ana Agent")
    follow_up = create_template(api, "Still interested?", "{{ first_name }}, still looking for a quote?", "Hello again, {{ first_name }}")
    segment = create_segment(
        api,
        name="New for more than 24 hours",
        slug="stale-new-leads",
        rules=[
            {"field": "status", "operator": "equals", "value": "new"},
            {"field": "created_at", "operator": "less_than", "value": "24 hours ago"},
        ],
    )
    automation = make_automation(
        api,
        name="Follow-up",
        trigger_type="segment_entered",
        trigger_configuration={"segment_id": segment["id"]},
        actions=[
            step("send_email", template_id=follow_up["id"]),
            step("create_task", task_type="call", title="Call: no contact after 24 h", due_in_days=0),
        ],
    )

    stale = create_lead(api, first_name="Omar", email="omar@example.com", assigned_to_id=agent.id)
    contacted = create_lead(api, first_name="Cleo", email="cleo@example.com", assigned_to_id=agent.id)
    fresh = create_lead(api, first_name="Finn", email="finn@example.com")
    api.patch(f"/api/v1/leads/{contacted}", json={"status": "contacted"})
    db.session.execute(update(Lead).where(Lead.id.in_([stale, contacted])).values(created_at=utcnow() - timedelta(hours=25)))
    db.session.commit()
    run_jobs()
    assert active_member_ids(segment["id"]) == set() and smtp.envelopes == []  # nobody re-evaluated yet

    # a segment with a relative date is kept true by the recurring refresh_dynamic_segments maintenance task
    [refresh] = db.session.scalars(select(ScheduledTask).where(ScheduledTask.task_type == "system_maintenance")).all()
    assert refresh.payload == {"operation": "refresh_dynamic_segments"} and refresh.recurrence == "every 15 minutes"
    assert process_due(org.id) == {"processed": 1, "completed": 1, "failed": 0, "retry_scheduled": 0}
    run_jobs()

    assert active_member_ids(segment["id"]) == {stale}
    [mail] = smtp.messages
    assert_marketing_mail(mail, to="Omar Ray <omar@example.com>", subject="Omar, still looking for a quote?", text="Hello again, Omar")
    [task] = tasks_of(stale)
    assert (task.task_type, task.title, task.assignee_id, task.due_at.date()) == (
        "call",
        "Call: no contact after 24 h",
        agent.id,
        utcnow().date(),
    )
    assert tasks_of(contacted) == [] and tasks_of(fresh) == []
    [run] = run_history(api, automation["id"])
    assert run["lead_id"] == stale and run["status"] == "completed"
    assert [s["status"] for s in run["steps"]] == ["completed", "completed"]
    assert run["steps"][1]["output"]["task_id"] == task.id and run["steps"][1]["output"]["assignee_id"] == agent.id

    # the next occurrence: the lead is still a member, so it does not "enter" (nor get emailed) a second time
    assert process_due(org.id, now=utcnow() + timedelta(minutes=16))["completed"] == 1
    run_jobs()
    assert active_member_ids(segment["id"]) == {stale}
    assert len(run_history(api, automation["id"])) == 1 and len(smtp.envelopes) == 1 and len(tasks_of(stale)) == 1


def test_cross_sell_when_an_auto_lead_converts(api, run_jobs, smtp, org):
    agent = make_user(org, role="agent", name="Cy Closer")
    cross_sell = create_template(
        api, "Home + Auto bundle", "{{ first_name }}, bundle your home with your new auto policy", "Welcome aboard, {{ first_name }}"
    )
    automation = make_automation(
        api,
        name="Cross-sell home to auto buyers",
        trigger_type="lead_status_changed",
        trigger_configuration={"to_status": "converted"},
        conditions={"match_all": True, "rules": [{"field": "insurance_type", "operator": "equals", "value": "auto"}]},
        actions=[
            step("send_email", template_id=cross_sell["id"]),
            step("create_task", task_type="follow_up", title="Offer the home bundle", due_in_days=7),
            step("add_tag", tag="cross-sell-home"),
        ],
    )
    buyer = create_lead(
        api, first_name="Rita", last_name="Moreno", email="rita@example.com", insurance_type="auto", assigned_to_id=agent.id
    )
    home_buyer = create_lead(api, first_name="Hal", email="hal@example.com", insurance_type="home")
    not_yet = create_lead(api, first_name="Nia", email="nia@example.com", insurance_type="auto")
    for lead_id, status in ((buyer, "converted"), (home_buyer, "converted"), (not_yet, "quoted")):
        assert api.patch(f"/api/v1/leads/{lead_id}", json={"status": status}).status_code == 200
    run_jobs()

    [mail] = smtp.messages
    assert_marketing_mail(
        mail, to="Rita Moreno <rita@example.com>", subject="Rita, bundle your home with your new auto policy", text="Welcome aboard, Rita"
    )
    [task] = tasks_of(buyer)
    assert (task.task_type, task.title, task.assignee_id) == ("follow_up", "Offer the home bundle", agent.id)
    assert (task.due_at.date() - utcnow().date()).days == 7
    assert tasks_of(home_buyer) == [] and tasks_of(not_yet) == []
    assert db.session.get(Lead, buyer).tags == ["cross-sell-home"]
    [run] = run_history(api, automation["id"])
    assert run["lead_id"] == buyer and run["trigger_type"] == "lead_status_changed" and run["status"] == "completed"
    email_step, task_step, tag_step = run["steps"]
    assert email_step["status"] == "completed" and email_step["output"]["to"] == "rita@example.com"
    message = db.session.get(OutboxMessage, email_step["output"]["message_id"])
    assert message.status == "sent" and message.automation_run_id == run["id"]
    assert task_step["output"]["task_id"] == task.id and tag_step["output"] == {"tag": "cross-sell-home"}

    # converted → quoted → converted again: without re-entry the cross-sell is not repeated
    api.patch(f"/api/v1/leads/{buyer}", json={"status": "quoted"})
    api.patch(f"/api/v1/leads/{buyer}", json={"status": "converted"})
    run_jobs()
    assert len(runs_of(automation["id"])) == 1 and len(smtp.envelopes) == 1 and len(tasks_of(buyer)) == 1
