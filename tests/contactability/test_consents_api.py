"""Lead consents (SPEC §17): POST/GET /leads/{id}/consents, every validation rule, the history and the
current state per channel, and what the contactability check makes of them."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select

from tests.api.helpers import assert_problem, row_counts
from tests.factories import make_lead, make_org, make_user
from webapp.contactability.facts import BATCH, contactability_of_leads
from webapp.extensions import db
from webapp.leads.consents import record_consents
from webapp.models import LeadConsent, LeadEvent, utcnow

POLICY = "/api/v1/settings/contact-policy"
CERTIFICATE = "https://cert.trustedform.com/0123456789abcdef0123456789abcdef01234567"
GRANT = {
    "channel": "sms",
    "status": "granted",
    "method": "web_form",
    "captured_at": "2026-03-01T14:30:00Z",
    "source_url": "https://quotes.example.com/auto?utm=fb",
    "ip": "203.0.113.7",
    "disclosure_text": "By clicking Get my quote I agree to receive texts from Acme Insurance.",
    "certificate_url": CERTIFICATE,
    "lead_id_token": "6C1B8F34-0D4D-4C52-9E5C-1F7F4C1A2B3C",
}


def consents_url(lead) -> str:
    return f"/api/v1/leads/{lead.id}/consents"


def verdict(api, lead, channel: str) -> dict:
    return api.get(f"/api/v1/leads/{lead.id}/contactability?channel={channel}").get_json()


def test_a_recorded_consent_is_answered_with_its_evidence_and_an_event(api, org, admin):
    lead = make_lead(org)
    response = api.post(consents_url(lead), json=GRANT)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["lead_id"] == lead.id and body["created_by_id"] == admin.id
    assert {name: body[name] for name in GRANT if name != "captured_at"} == {k: v for k, v in GRANT.items() if k != "captured_at"}
    assert datetime.fromisoformat(body["captured_at"]) == datetime(2026, 3, 1, 14, 30, tzinfo=UTC)
    assert response.headers["Location"].endswith(consents_url(lead))
    event = db.session.scalar(select(LeadEvent).where(LeadEvent.lead_id == lead.id))
    assert (event.event_type, event.data) == ("consent_granted", {"consent_id": body["id"], "channel": "sms", "method": "web_form"})


def test_captured_at_defaults_to_now_and_method_to_api(api, org):
    lead = make_lead(org)
    before = utcnow()
    body = api.post(consents_url(lead), json={"channel": "email", "status": "granted"}).get_json()
    assert body["method"] == "api"
    assert before - timedelta(seconds=1) <= datetime.fromisoformat(body["captured_at"]) <= utcnow()


def test_the_history_is_newest_first_with_the_current_state_per_channel(api, org):
    lead = make_lead(org)
    api.post(consents_url(lead), json={**GRANT, "captured_at": "2026-01-01T10:00:00Z"})
    api.post(consents_url(lead), json={"channel": "sms", "status": "revoked", "method": "phone", "captured_at": "2026-02-01T10:00:00Z"})
    api.post(consents_url(lead), json={"channel": "email", "status": "granted", "captured_at": "2025-12-01T10:00:00+02:00"})
    # Recorded last, captured earliest: the history is by captured_at, not by when it was recorded.
    api.post(consents_url(lead), json={"channel": "sms", "status": "granted", "captured_at": "2025-06-01T10:00:00Z"})
    body = api.get(consents_url(lead)).get_json()
    assert [(item["channel"], item["status"]) for item in body["items"]] == [
        ("sms", "revoked"),
        ("sms", "granted"),
        ("email", "granted"),
        ("sms", "granted"),
    ]
    assert body["current"]["sms"]["status"] == "revoked" and body["current"]["sms"]["method"] == "phone"
    assert body["current"]["email"]["status"] == "granted"
    assert body["current"]["phone"] is None


def test_moments_of_the_same_instant_are_ordered_by_id(api, org):
    lead = make_lead(org)
    moment = "2026-02-01T10:00:00Z"
    api.post(consents_url(lead), json={"channel": "phone", "status": "granted", "captured_at": moment})
    api.post(consents_url(lead), json={"channel": "phone", "status": "revoked", "captured_at": moment})
    assert api.get(consents_url(lead)).get_json()["current"]["phone"]["status"] == "revoked"
    assert [r["code"] for r in verdict(api, lead, "phone")["reasons"]] == ["consent_revoked"]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"channel": "fax"}, "channel", "Input should be 'email', 'sms' or 'phone'"),
        ({"channel": None}, "channel", None),
        ({"status": "maybe"}, "status", "Input should be 'granted' or 'revoked'"),
        ({"method": "carrier_pigeon"}, "method", None),
        ({"captured_at": "2999-01-01T00:00:00Z"}, "captured_at", "must not be in the future"),
        ({"captured_at": "1999-12-31T23:00:00Z"}, "captured_at", "must be in 2000 or later"),
        ({"captured_at": 1_700_000_000}, "captured_at", "must be a date and time in ISO 8601, like 2025-05-01T09:00:00Z"),
        ({"captured_at": "yesterday"}, "captured_at", None),
        ({"source_url": "ftp://files.example.com/form"}, "source_url", None),
        ({"source_url": "javascript:alert(1)"}, "source_url", None),
        ({"certificate_url": "cert.trustedform.com/abc"}, "certificate_url", None),
        ({"certificate_url": "https://" + "a" * 2000}, "certificate_url", "must be at most 2000 characters"),
        ({"ip": "300.1.2.3"}, "ip", "must be an IPv4 or IPv6 address, like 203.0.113.7"),
        ({"ip": "fe80::1%eth0"}, "ip", "must be an IPv4 or IPv6 address, like 203.0.113.7"),
        ({"disclosure_text": "x" * 5001}, "disclosure_text", "must be at most 5000 characters"),
        ({"lead_id_token": "t" * 201}, "lead_id_token", "must be at most 200 characters"),
        ({"colour": "blue"}, "colour", "unknown field"),
    ],
)
def test_each_rule_is_a_422_naming_its_field_and_changes_nothing(api, org, change, field, message):
    lead = make_lead(org)
    before = row_counts()
    body = assert_problem(api.post(consents_url(lead), json={**GRANT, **change}), 422, field)
    if message is not None:
        assert {"field": field, "message": message} in body["errors"]
    assert row_counts() == before


def test_channel_and_status_are_required(api, org):
    body = assert_problem(api.post(consents_url(make_lead(org)), json={"method": "paper"}), 422)
    assert {e["field"] for e in body["errors"]} == {"channel", "status"}


def test_a_little_clock_skew_is_accepted_and_values_are_tidied(api, org):
    lead = make_lead(org)
    soon = (utcnow() + timedelta(minutes=2)).isoformat()
    body = api.post(consents_url(lead), json={**GRANT, "captured_at": soon, "ip": "2001:DB8::1", "source_url": "  "}).get_json()
    assert (body["ip"], body["source_url"]) == ("2001:db8::1", None)


def test_a_revocation_blocks_the_channel_even_when_the_policy_does_not_require_consent(api, org):
    lead = make_lead(org, phone="+15125550142")
    api.post(consents_url(lead), json={"channel": "sms", "status": "revoked", "method": "phone"})
    body = verdict(api, lead, "sms")
    assert (body["allowed"], [r["code"] for r in body["reasons"]]) == (False, ["consent_revoked"])
    assert verdict(api, lead, "phone")["allowed"]


def test_a_granted_consent_allows_a_channel_whose_consent_is_required(api, org):
    api.put(POLICY, json={"require_consent": {"phone": True, "sms": True}})
    lead = make_lead(org, phone="+15125550142")
    assert [r["code"] for r in verdict(api, lead, "phone")["reasons"]] == ["no_consent"]
    api.post(consents_url(lead), json={"channel": "phone", "status": "granted", "method": "paper"})
    assert verdict(api, lead, "phone")["allowed"]
    assert [r["code"] for r in verdict(api, lead, "sms")["reasons"]] == ["no_consent"]  # per channel
    api.post(consents_url(lead), json={"channel": "phone", "status": "revoked"})
    assert [r["code"] for r in verdict(api, lead, "phone")["reasons"]] == ["consent_revoked"]
    api.post(consents_url(lead), json={"channel": "phone", "status": "granted"})  # given again
    assert verdict(api, lead, "phone")["allowed"]


def test_a_revocation_captured_before_the_latest_grant_does_not_count(api, org):
    api.put(POLICY, json={"require_consent": {"email": True}})
    lead = make_lead(org)
    api.post(consents_url(lead), json={"channel": "email", "status": "granted", "captured_at": "2026-02-01T00:00:00Z"})
    api.post(consents_url(lead), json={"channel": "email", "status": "revoked", "captured_at": "2026-01-01T00:00:00Z"})
    assert verdict(api, lead, "email")["allowed"]


def test_another_organizations_lead_is_not_found_on_both_routes(api, org):
    other = make_lead(make_org("Other Agency"))
    before = row_counts()
    assert_problem(api.post(consents_url(other), json=GRANT), 404)
    assert_problem(api.get(consents_url(other)), 404)
    assert row_counts() == before


@pytest.mark.parametrize(("role", "may_record"), [("admin", True), ("marketer", True), ("agent", True), ("viewer", False)])
def test_who_may_record_and_read_consents(api_as, org, role, may_record):
    lead = make_lead(org)
    client = api_as(make_user(org, role=role))
    response = client.post(consents_url(lead), json=GRANT)
    assert response.status_code == (201 if may_record else 403)
    assert client.get(consents_url(lead)).status_code == 200
    assert db.session.scalar(select(func.count()).select_from(LeadConsent)) == (1 if may_record else 0)


def test_deleting_the_lead_deletes_its_consents(api, org):
    lead = make_lead(org)
    api.post(consents_url(lead), json=GRANT)
    assert api.delete(f"/api/v1/leads/{lead.id}").status_code == 204
    assert db.session.scalar(select(func.count()).select_from(LeadConsent)) == 0


def test_the_check_reads_the_consents_of_a_batch_of_leads_in_one_query(api, org):
    api.put(POLICY, json={"require_consent": {"sms": True, "phone": True}})
    leads = [make_lead(org) for _ in range(BATCH + 5)]
    record_consents(org.id, [(lead.id, [{"channel": "sms", "status": "granted"}]) for lead in leads[::2]])
    record_consents(org.id, [(leads[2].id, [{"channel": "sms", "status": "revoked"}])])
    db.session.commit()
    queries = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if "lead_consents" in statement:
            queries.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        verdicts = contactability_of_leads(org.id, leads, ("sms", "phone"), utcnow())
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len(queries) == 2  # one per batch of BATCH leads, whatever the channels
    assert verdicts[(leads[0].id, "sms")]["allowed"]
    assert [r["code"] for r in verdicts[(leads[1].id, "sms")]["reasons"]] == ["no_consent"]
    assert [r["code"] for r in verdicts[(leads[2].id, "sms")]["reasons"]] == ["consent_revoked"]
    assert [r["code"] for r in verdicts[(leads[0].id, "phone")]["reasons"]] == ["no_consent"]
