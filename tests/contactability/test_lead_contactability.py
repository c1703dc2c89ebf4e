"""GET /leads/{id}/contactability (SPEC §17) on real rows: sent emails and completed calls count
against the caps, the suppression list blocks email; a lead's time zone in the API; tenancy."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select

from tests.api.helpers import assert_problem
from tests.factories import make_lead, make_org, make_user
from webapp.contactability.facts import contactability_of_leads
from webapp.engagement.suppression import suppress_address
from webapp.extensions import db
from webapp.models import Lead, OutboxMessage, Task, utcnow

POLICY = "/api/v1/settings/contact-policy"


def url(lead, channel="email"):
    return f"/api/v1/leads/{lead.id}/contactability?channel={channel}"


def sent_email(lead, hours_ago: float, status: str = "delivered") -> None:
    moment = utcnow() - timedelta(hours=hours_ago)
    key = f"test-{lead.id}-{hours_ago}-{status}"
    db.session.add(OutboxMessage(organization_id=lead.organization_id, lead_id=lead.id, idempotency_key=key, status=status, sent_at=moment))
    db.session.commit()


def completed_call(lead, hours_ago: float) -> None:
    moment = utcnow() - timedelta(hours=hours_ago)
    call = Task(organization_id=lead.organization_id, lead_id=lead.id, task_type="call", title="Call", status="done", completed_at=moment)
    db.session.add(call)
    db.session.commit()


def test_a_lead_with_nothing_against_it_is_allowed(api, org):
    response = api.get(url(make_lead(org)))
    assert response.status_code == 200
    assert response.get_json() == {"channel": "email", "allowed": True, "next_allowed_at": None, "reasons": []}


def test_the_suppression_list_blocks_email(api, org):
    bounced, complained = make_lead(org, email="gone@example.com"), make_lead(org, email="Angry@Example.com")
    suppress_address(org.id, "gone@example.com", "bounced", None)
    suppress_address(org.id, "angry@example.com", "complained", None)
    db.session.commit()
    assert [r["code"] for r in api.get(url(bounced)).get_json()["reasons"]] == ["hard_bounced"]
    assert [r["code"] for r in api.get(url(complained)).get_json()["reasons"]] == ["suppressed"]
    assert api.get(url(bounced, "phone")).get_json()["allowed"]


def test_an_opted_out_lead_and_required_consent_block(api, org):
    api.put(POLICY, json={"require_consent": {"phone": True}})
    body = api.get(url(make_lead(org, email_opt_out=True))).get_json()
    assert (body["allowed"], [r["code"] for r in body["reasons"]]) == (False, ["opted_out"])
    assert [r["code"] for r in api.get(url(make_lead(org), "phone")).get_json()["reasons"]] == ["no_consent"]


def test_sent_emails_count_against_the_email_cap_and_queued_ones_do_not(api, org):
    api.put(POLICY, json={"frequency_caps": [{"channel": "email", "max": 2, "per_days": 1}]})
    lead = make_lead(org)
    sent_email(lead, 30)  # outside the window
    sent_email(lead, 5)
    db.session.add(OutboxMessage(organization_id=org.id, lead_id=lead.id, idempotency_key="queued", status="queued"))
    db.session.commit()
    assert api.get(url(lead)).get_json()["allowed"]
    sent_email(lead, 2, status="opened")
    body = api.get(url(lead)).get_json()
    assert [r["code"] for r in body["reasons"]] == ["frequency_cap"]
    assert body["next_allowed_at"] is not None
    other = make_lead(org)  # another lead's emails do not count
    assert api.get(url(other)).get_json()["allowed"]


def test_completed_calls_count_against_the_phone_cap(api, org):
    api.put(POLICY, json={"frequency_caps": [{"channel": "phone", "max": 1, "per_days": 7}]})
    lead = make_lead(org)
    completed_call(lead, 24)
    assert [r["code"] for r in api.get(url(lead, "phone")).get_json()["reasons"]] == ["frequency_cap"]
    assert api.get(url(lead, "email")).get_json()["allowed"]


def test_quiet_hours_follow_the_leads_zone(api, org):
    local_hour = utcnow().astimezone(ZoneInfo("Asia/Tokyo")).hour
    start, end = f"{local_hour:02d}:00", f"{(local_hour + 2) % 24:02d}:00"  # from this very hour, in Tokyo
    api.put(POLICY, json={"quiet_hours": {"start": start, "end": end}})
    in_tokyo = make_lead(org, timezone="Asia/Tokyo")
    in_hawaii = make_lead(org, state="HI")  # 19 hours behind Tokyo
    assert [r["code"] for r in api.get(url(in_tokyo, "sms")).get_json()["reasons"]] == ["quiet_hours"]
    assert api.get(url(in_hawaii, "sms")).get_json()["allowed"]


def test_another_channel_is_a_422(api, org):
    lead = make_lead(org)
    assert_problem(api.get(url(lead, "fax")), 422, "channel")
    assert_problem(api.get(f"/api/v1/leads/{lead.id}/contactability"), 422, "channel")


def test_another_organizations_lead_is_not_found(api, org):
    theirs = make_lead(make_org("Other Brokers"))
    assert_problem(api.get(url(theirs)), 404)


@pytest.mark.parametrize("role", ["marketer", "agent", "viewer"])
def test_every_role_may_ask(org, api_as, role):
    assert api_as(make_user(org, role=role)).get(url(make_lead(org))).status_code == 200


def test_the_loader_reads_a_batch_of_leads_in_a_few_queries(app, org):
    leads = [make_lead(org, email=f"batch{n}@example.com") for n in range(100)]
    org.contact_policy = {"frequency_caps": [{"channel": "email", "max": 1, "per_days": 7}, {"channel": "phone", "max": 1, "per_days": 7}]}
    db.session.commit()
    sent_email(leads[0], 1)
    leads = db.session.scalars(select(Lead).where(Lead.organization_id == org.id).order_by(Lead.id)).all()  # as a batch holds them
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        verdicts = contactability_of_leads(org.id, leads, ("email", "sms", "phone"), utcnow())
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert len(statements) <= 4  # the policy, the suppression list, emails, calls
    assert not verdicts[(leads[0].id, "email")]["allowed"]
    assert sum(verdict["allowed"] for verdict in verdicts.values()) == 299


def test_a_lead_may_be_given_a_time_zone(api):
    response = api.post("/api/v1/leads", json={"first_name": "Ana", "timezone": "America/Phoenix"})
    assert response.status_code == 201
    assert response.get_json()["timezone"] == "America/Phoenix"
    lead_id = response.get_json()["id"]
    assert api.patch(f"/api/v1/leads/{lead_id}", json={"timezone": ""}).get_json()["timezone"] is None
    assert_problem(api.patch(f"/api/v1/leads/{lead_id}", json={"timezone": "Mountain Time"}), 422, "timezone")
    assert_problem(api.post("/api/v1/leads/bulk", json={"leads": [{"first_name": "B", "timezone": "EST5"}]}), 422, "leads[0].timezone")
