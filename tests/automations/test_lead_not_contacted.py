"""Speed to lead (SPEC §17): ``lead_not_contacted`` fires once for a lead that, ``within_minutes`` after
its creation, has had no contact: no completed call or email task, no status change away from new, no
sent email. A periodic job finds the due leads, one query per automation."""

from datetime import timedelta

import pytest
from sqlalchemy import event

from tests.automations.helpers import make_automation, runs_of, step
from tests.conftest import login_browser
from tests.factories import make_lead, make_org
from webapp.automations.not_contacted import start_not_contacted_runs
from webapp.extensions import db
from webapp.features import wiring
from webapp.models import LeadEvent, OutboxMessage, Task, utcnow


def not_contacted_automation(api, within_minutes=15, **fields):
    return make_automation(
        api,
        trigger_type="lead_not_contacted",
        trigger_configuration={"within_minutes": within_minutes},
        actions=[step("add_tag", tag="not-contacted")],
        **fields,
    )


def lead_created_ago(org, minutes: int, **fields):
    return make_lead(org, created_at=utcnow() - timedelta(minutes=minutes), **fields)


def call_done(lead, task_type="call"):
    return Task(organization_id=lead.organization_id, lead_id=lead.id, task_type=task_type, title="t", status="done", completed_at=utcnow())


def status_changed(lead):
    data = {"field": "status", "old": "new", "new": "contacted"}
    return LeadEvent(organization_id=lead.organization_id, lead_id=lead.id, event_type="lead_status_changed", data=data)


def email_sent(lead, status="sent"):
    return OutboxMessage(
        organization_id=lead.organization_id,
        idempotency_key=f"sent-{lead.id}-{status}",
        lead_id=lead.id,
        recipient="lead",
        to_address=lead.email,
        subject="Hello",
        status=status,
        sent_at=utcnow() if status == "sent" else None,
    )


def test_it_fires_once_for_a_lead_not_contacted_in_time(api, org):
    automation = not_contacted_automation(api, within_minutes=15)
    overdue = lead_created_ago(org, 20)
    lead_created_ago(org, 10)  # not due yet

    assert start_not_contacted_runs() == 1
    assert start_not_contacted_runs() == 0  # a second tick: nothing new

    [run] = runs_of(automation["id"])
    assert run.lead_id == overdue.id and run.trigger_type == "lead_not_contacted"
    assert start_not_contacted_runs(now=utcnow() + timedelta(minutes=10)) == 1  # the other lead's turn


def test_a_lead_with_a_re_entry_automation_still_fires_once(api, org):
    automation = not_contacted_automation(api, allow_reentry=True)
    lead_created_ago(org, 20)

    start_not_contacted_runs()
    runs_of(automation["id"])[0].status = "completed"
    db.session.commit()
    assert start_not_contacted_runs() == 0
    assert len(runs_of(automation["id"])) == 1


@pytest.mark.parametrize(
    "contact",
    [call_done, lambda lead: call_done(lead, "email"), status_changed, email_sent],
    ids=["a completed call", "a completed email task", "a status change away from new", "a sent email"],
)
def test_it_does_not_fire_for_a_lead_contacted_in_time(api, org, contact):
    automation = not_contacted_automation(api)
    lead = lead_created_ago(org, 20)
    db.session.add(contact(lead))
    db.session.commit()

    assert start_not_contacted_runs() == 0
    assert runs_of(automation["id"]) == []


@pytest.mark.parametrize(
    "not_a_contact",
    [lambda lead: call_done(lead, "follow_up"), lambda lead: email_sent(lead, "held")],
    ids=["a completed follow-up task", "an email never sent"],
)
def test_what_is_not_a_contact_does_not_stop_it(api, org, not_a_contact):
    automation = not_contacted_automation(api)
    lead = lead_created_ago(org, 20)
    db.session.add(not_a_contact(lead))
    db.session.commit()

    assert start_not_contacted_runs() == 1
    assert len(runs_of(automation["id"])) == 1


def test_leads_older_than_the_lookback_and_other_organizations_leads_are_left_alone(api, org):
    automation = not_contacted_automation(api)
    lead_created_ago(org, 3 * 24 * 60)
    lead_created_ago(make_org("Other"), 20)

    assert start_not_contacted_runs() == 0
    assert runs_of(automation["id"]) == []


def test_one_query_per_automation_finds_the_due_leads_whatever_their_number(api, org):
    not_contacted_automation(api)
    for n in range(3):
        lead_created_ago(org, 20 + n)
    seen = []
    listener = lambda conn, cursor, statement, *rest: seen.append(statement)  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        few = start_not_contacted_runs()
        statements_for_few = len([s for s in seen if "FROM tasks" in s])  # the due leads' query: no contact, no task among them
        for n in range(30):
            lead_created_ago(org, 20 + n)
        seen.clear()
        many = start_not_contacted_runs()
        statements_for_many = len([s for s in seen if "FROM tasks" in s])  # the due leads' query: no contact, no task among them
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert (few, many) == (3, 30)
    assert statements_for_few == statements_for_many == 1


def test_the_periodic_job_is_declared_with_the_others(app):
    assert start_not_contacted_runs in [periodic.function for periodic in wiring(app).sweepers]


@pytest.mark.parametrize("within", [0, 10_081, "15", 1.5, True, None])
def test_within_minutes_is_a_whole_number_of_minutes_up_to_a_week(api, within):
    response = api.post(
        "/api/v1/automations",
        json={"name": "Late", "trigger_type": "lead_not_contacted", "trigger_configuration": {"within_minutes": within}},
    )
    assert response.status_code == 422
    assert "trigger_configuration.within_minutes" in [error["field"] for error in response.json["errors"]]


def test_within_minutes_is_accepted_at_its_bounds_and_documented(api, client):
    for within in (1, 10_080):
        assert not_contacted_automation(api, within_minutes=within, name=f"Within {within}")["trigger_configuration"] == {
            "within_minutes": within
        }
    document = client.get("/api/v1/openapi.json").get_json()
    trigger = document["components"]["schemas"]["LeadNotContactedTrigger"]
    within = trigger["properties"]["trigger_configuration"]["properties"]["within_minutes"]
    assert (within["minimum"], within["maximum"], within["type"]) == (1, 10_080, "integer")


def test_the_trigger_is_offered_in_the_editor_with_its_field(api, org, admin, client):
    login_browser(client, admin.email)
    automation = make_automation(api, name="Speed", trigger_type="manual")

    fields = client.get("/automations/trigger-fields?trigger_type=lead_not_contacted").get_data(as_text=True)
    assert 'name="cfg_within_minutes"' in fields
    page = client.get(f"/automations/{automation['id']}").get_data(as_text=True)
    assert "A new lead is not contacted in time" in page

    saved = client.post(f"/automations/{automation['id']}/trigger", data={"trigger_type": "lead_not_contacted", "cfg_within_minutes": "30"})
    assert saved.status_code == 200
    assert api.get(f"/api/v1/automations/{automation['id']}").json["trigger_configuration"] == {"within_minutes": 30}
    refused = client.post(
        f"/automations/{automation['id']}/trigger", data={"trigger_type": "lead_not_contacted", "cfg_within_minutes": "0"}
    )
    assert refused.status_code == 422 and "from 1 to 10080" in refused.get_data(as_text=True)
