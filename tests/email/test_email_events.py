"""Delivery events (SPEC §16): POST /api/v1/email-events signed with the organization's webhook secret.
Signed events move the outbox row and the lead's timeline; unsigned or mis-signed ones are 401 and
change nothing; hard bounces and complaints suppress the address; another organization's messages
are unknown, never changed; every validation rule answers 422 naming the field. The secret is read
and rotated by admins only, per organization."""

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.automations.helpers import make_automation, runs_of, step
from tests.conftest import login_browser
from tests.email.helpers import lead_events, make_template, reloaded, send_now
from tests.factories import make_lead, make_org, make_user
from webapp.email_templates.delivery import queue_email
from webapp.extensions import db
from webapp.models import AuditLog, EmailTemplate, LeadEvent, Organization, OutboxMessage, Suppression, utcnow

URL = "/api/v1/email-events"


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_events(client, body, secret: str | None, signature: str | None = None):
    """Post ``body`` (JSON-encoded unless bytes), signed with ``secret`` unless a signature is given."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {}
    if signature is not None or secret is not None:
        headers["X-Leadflow-Signature"] = signature if signature is not None else sign(raw, secret)
    return client.post(URL, data=raw, headers=headers, content_type="application/json")


def secret_of(org) -> str:
    return db.session.get(Organization, org.id).webhook_secret


def sent_email(org, run_jobs, *, email: str = "maria@example.com", key: str = "run-step:1") -> OutboxMessage:
    """A marketing email sent to a new lead of ``org`` through the local SMTP server."""
    template = db.session.scalar(select(EmailTemplate).where(EmailTemplate.organization_id == org.id)) or make_template(org)
    return send_now(make_lead(org, email=email), template, run_jobs, key)


def snapshot(message: OutboxMessage) -> tuple:
    row = reloaded(message)
    events = db.session.scalars(select(LeadEvent.event_type).where(LeadEvent.event_type != "email_sent")).all()
    return row.status, row.status_reason, row.delivered_at, events, db.session.scalars(select(Suppression.value)).all()


@pytest.fixture
def message(smtp, run_jobs, org):
    return sent_email(org, run_jobs)


def test_a_signed_delivery_report_marks_the_message_delivered_with_a_lead_event(client, org, message):
    body = [{"message_id": message.id, "event": "delivered", "timestamp": "2025-05-01T09:00:00Z"}]

    response = post_events(client, body, secret_of(org))

    assert response.status_code == 200 and response.json == {"accepted": 1, "unknown": 0}
    row = reloaded(message)
    assert row.status == "delivered" and row.delivered_at.isoformat() == "2025-05-01T09:00:00+00:00"
    [event] = lead_events("email_delivered")
    assert event.lead_id == message.lead_id
    assert event.data == {"message_id": message.id, "template_id": message.template_id, "occurred_at": "2025-05-01T09:00:00+00:00"}


def test_the_events_may_come_as_a_list_or_as_an_object_with_events(client, org, message):
    assert post_events(client, {"events": [{"message_id": message.id, "event": "deferred"}]}, secret_of(org)).json["accepted"] == 1
    assert reloaded(message).status == "deferred"

    assert post_events(client, [{"message_id": message.id, "event": "delivered"}], secret_of(org)).json["accepted"] == 1
    assert reloaded(message).status == "delivered"
    assert lead_events("email_delivered") and not lead_events("email_deferred")  # a deferral is a status only


def test_unsigned_or_mis_signed_events_are_401_and_change_nothing(client, org, message):
    body = json.dumps([{"message_id": message.id, "event": "bounced", "bounce_type": "hard"}]).encode()
    other_body = json.dumps([{"message_id": message.id, "event": "delivered"}]).encode()
    before = snapshot(message)

    for signature in (
        None,  # no header
        "",
        sign(body, "a-secret-that-is-not-the-organizations-own"),
        sign(other_body, secret_of(org)),  # the signature of another body
        sign(body, secret_of(org)).replace("sha256=", "sha1="),
        sign(body, secret_of(org))[:-2],
        sign(body, secret_of(org)).removeprefix("sha256="),
    ):
        headers = {} if signature is None else {"X-Leadflow-Signature": signature}
        response = client.post(URL, data=body, headers=headers, content_type="application/json")
        assert response.status_code == 401 and response.mimetype == "application/problem+json", signature

    assert snapshot(message) == before


def test_a_rotated_secret_no_longer_signs(client, api, org, message):
    old = secret_of(org)

    new = api.post("/api/v1/settings/webhook-secret/rotate").json["secret"]

    body = [{"message_id": message.id, "event": "delivered"}]
    assert new != old and len(new) >= 32
    assert post_events(client, body, old).status_code == 401
    assert post_events(client, body, new).status_code == 200


def test_a_hard_bounce_suppresses_the_address_and_the_next_automation_step_says_why(smtp, run_jobs, client, api, org, message):
    lead_email = message.to_address
    body = [{"message_id": message.id, "event": "bounced", "bounce_type": "hard", "detail": "550 5.1.1 no such user"}]

    assert post_events(client, body, secret_of(org)).json == {"accepted": 1, "unknown": 0}

    row = reloaded(message)
    assert row.status == "bounced" and row.status_reason == "hard bounce: 550 5.1.1 no such user"
    [event] = lead_events("email_bounced")
    assert event.data["bounce_type"] == "hard" and event.data["detail"] == "550 5.1.1 no such user"
    [suppressed] = db.session.scalars(select(Suppression)).all()
    assert (suppressed.organization_id, suppressed.kind, suppressed.value, suppressed.reason) == (org.id, "email", lead_email, "bounced")
    assert suppressed.message_id == message.id

    template = make_template(org, name="Follow-up", template_type="transactional", body_text="Your documents, {{ first_name }}.")
    automation = make_automation(api, trigger_type="manual", actions=[step("send_email", template_id=template.id)])
    assert api.post(f"/api/v1/automations/{automation['id']}/trigger", json={"lead_id": message.lead_id}).status_code == 202
    run_jobs()

    [run] = runs_of(automation["id"])  # the contactability check blocks even a transactional email to a bounced address
    assert run.steps[0].status == "skipped" and [r["code"] for r in run.steps[0].output["reasons"]] == ["hard_bounced"]
    assert "hard-bounced" in run.steps[0].output["reason"]
    assert db.session.scalar(select(OutboxMessage).order_by(OutboxMessage.id.desc())).id == message.id  # no email queued
    assert len(smtp.envelopes) == 1  # only the first email was ever sent


def test_the_suppression_ignores_the_case_of_the_address(smtp, run_jobs, client, org, message):
    post_events(client, [{"message_id": message.id, "event": "complained"}], secret_of(org))
    lead = make_lead(org, email="Maria@Example.COM")

    result = queue_email(organization_id=org.id, template_id=message.template_id, lead_id=lead.id, idempotency_key="again")

    assert result["status"] == "suppressed"
    assert result["reason"] == f"the address is suppressed: its owner reported an email as spam (message {message.id})"


def test_a_complaint_suppresses_the_address(client, org, message):
    response = post_events(client, [{"message_id": message.id, "event": "complained", "detail": "abuse report"}], secret_of(org))

    assert response.json == {"accepted": 1, "unknown": 0}
    row = reloaded(message)
    assert row.status == "complained" and row.status_reason == "spam complaint: abuse report"
    assert [event.data["detail"] for event in lead_events("email_complained")] == ["abuse report"]
    assert db.session.scalars(select(Suppression.reason)).all() == ["complained"]


def test_a_soft_bounce_marks_the_message_without_suppressing_the_address(client, org, message):
    post_events(client, [{"message_id": message.id, "event": "bounced", "bounce_type": "soft"}], secret_of(org))

    assert reloaded(message).status == "bounced" and reloaded(message).status_reason == "soft bounce"
    assert lead_events("email_bounced")[0].data["bounce_type"] == "soft"
    assert db.session.scalars(select(Suppression)).all() == []


def test_a_late_delivery_report_keeps_an_opened_message_opened(client, org, message):
    message.open_count, message.opened_at, message.status = 1, utcnow(), "opened"
    db.session.commit()

    post_events(client, [{"message_id": message.id, "event": "delivered"}], secret_of(org))

    row = reloaded(message)
    assert row.status == "opened" and row.delivered_at is not None


def test_a_repeated_report_changes_nothing_the_second_time(client, org, message):
    body = [{"message_id": message.id, "event": "delivered"}, {"message_id": message.id, "event": "bounced", "bounce_type": "hard"}]

    post_events(client, body, secret_of(org))
    first = snapshot(message)
    again = post_events(client, body, secret_of(org))

    assert again.json == {"accepted": 2, "unknown": 0}
    assert snapshot(message) == first
    assert len(lead_events("email_delivered")) == 1 and len(lead_events("email_bounced")) == 1


def test_unknown_message_ids_are_ignored_and_counted(client, org, message):
    body = [{"message_id": message.id, "event": "delivered"}, {"message_id": 987654, "event": "delivered"}]

    assert post_events(client, body, secret_of(org)).json == {"accepted": 1, "unknown": 1}


def test_another_organizations_message_is_unknown_and_never_changed(smtp, run_jobs, client, org, message):
    other = make_org("Beta Brokers")
    theirs = sent_email(other, run_jobs, email="bob@example.com", key="run-step:2")
    before = snapshot(theirs)
    mixed = [{"message_id": message.id, "event": "delivered"}, {"message_id": theirs.id, "event": "bounced", "bounce_type": "hard"}]

    response = post_events(client, mixed, secret_of(org))

    assert response.status_code == 200 and response.json == {"accepted": 1, "unknown": 1}
    assert reloaded(theirs).status == "sent" and reloaded(message).status == "delivered"
    assert db.session.scalars(select(Suppression)).all() == []
    assert lead_events("email_bounced") == []
    only_theirs = post_events(client, [{"message_id": theirs.id, "event": "complained"}], secret_of(org))
    assert only_theirs.status_code == 401  # as for an id that does not exist: nothing tells the two apart
    assert post_events(client, [{"message_id": 987654, "event": "complained"}], secret_of(org)).status_code == 401
    assert reloaded(theirs).status == "sent" and snapshot(theirs)[0] == before[0]
    assert post_events(client, [{"message_id": theirs.id, "event": "delivered"}], secret_of(other)).json == {"accepted": 1, "unknown": 0}


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ([], "events", "at least 1 item"),
        ({"events": []}, "events", "at least 1 item"),
        ({}, "events", "Field required"),
        ("delivered", "body", "must be a list of events, or an object"),
        (5, "body", "must be a list of events, or an object"),
        ({"events": [{"event": "delivered"}]}, "events[0].message_id", "Field required"),
        ([{"message_id": "1", "event": "delivered"}], "events[0].message_id", "valid integer"),
        ([{"message_id": 0, "event": "delivered"}], "events[0].message_id", "greater than or equal to 1"),
        ([{"message_id": 2**31, "event": "delivered"}], "events[0].message_id", "less than or equal to"),
        ([{"message_id": 1}], "events[0].event", "Field required"),
        ([{"message_id": 1, "event": "opened"}], "events[0].event", "'delivered', 'bounced', 'complained' or 'deferred'"),
        ([{"message_id": 1, "event": "bounced"}], "events[0].bounce_type", "is required for a bounce"),
        ([{"message_id": 1, "event": "bounced", "bounce_type": "medium"}], "events[0].bounce_type", "'hard' or 'soft'"),
        ([{"message_id": 1, "event": "delivered", "bounce_type": "hard"}], "events[0].bounce_type", "goes only with a bounce"),
        ([{"message_id": 1, "event": "delivered", "timestamp": 1714550400}], "events[0].timestamp", "ISO 8601"),
        ([{"message_id": 1, "event": "delivered", "timestamp": "yesterday"}], "events[0].timestamp", "datetime"),
        ([{"message_id": 1, "event": "delivered", "detail": "x" * 1001}], "events[0].detail", "at most 1000"),
        ([{"message_id": 1, "event": "delivered", "detail": "a\x00b"}], "[0].detail", "NUL"),
        ([{"message_id": 1, "event": "delivered", "reason": "x"}], "events[0].reason", "unknown field"),
        ({"events": [{"message_id": 1, "event": "delivered"}], "extra": 1}, "extra", "unknown field"),
    ],
)
def test_each_validation_rule_is_a_422_naming_the_field(client, org, message, body, field, words):
    before = snapshot(message)

    response = post_events(client, body, secret_of(org))

    assert response.status_code == 422, response.json
    assert response.mimetype == "application/problem+json"
    assert any(error["field"] == field and words in error["message"] for error in response.json["errors"]), response.json["errors"]
    assert snapshot(message) == before


def test_more_than_a_thousand_events_are_a_422_naming_events(client, org, message):
    body = [{"message_id": message.id, "event": "delivered"}] * 1001

    response = post_events(client, body, secret_of(org))

    assert response.status_code == 422 and response.json["errors"][0]["field"] == "events"
    assert reloaded(message).status == "sent"


def test_a_body_that_is_not_json_is_a_400(client, org, message):
    raw = b"[{not json"

    response = post_events(client, raw, secret_of(org))

    assert response.status_code == 400 and response.mimetype == "application/problem+json"


def test_the_webhook_secret_is_the_admins_own_organizations(app, api, api_as, org):
    first = api.get("/api/v1/settings/webhook-secret")
    assert first.status_code == 200 and first.json == {"secret": secret_of(org)} and len(first.json["secret"]) >= 32
    assert api.get("/api/v1/settings/webhook-secret").json == first.json  # stable until rotated

    other = make_org("Beta Brokers")
    other_admin = api_as(make_user(other, role="admin"))
    theirs = other_admin.get("/api/v1/settings/webhook-secret").json["secret"]
    assert theirs == secret_of(other) and theirs != first.json["secret"]
    other_admin.post("/api/v1/settings/webhook-secret/rotate")
    assert api.get("/api/v1/settings/webhook-secret").json == first.json  # another organization's rotation changes nothing here


@pytest.mark.parametrize("role", ["marketer", "agent", "viewer"])
def test_only_admins_read_or_rotate_the_webhook_secret(api_as, org, role):
    before = secret_of(org)
    user = api_as(make_user(org, role=role))

    assert user.get("/api/v1/settings/webhook-secret").status_code == 403
    assert user.post("/api/v1/settings/webhook-secret/rotate").status_code == 403
    assert secret_of(org) == before


def test_the_webhook_secret_needs_a_bearer_token(client, org):
    assert client.get("/api/v1/settings/webhook-secret").status_code == 401
    assert client.post("/api/v1/settings/webhook-secret/rotate").status_code == 401


def test_rotation_is_in_the_audit_log_without_the_secret(api, org):
    secret = api.post("/api/v1/settings/webhook-secret/rotate").json["secret"]

    [entry] = db.session.scalars(select(AuditLog).where(AuditLog.action == "update")).all()
    assert entry.organization_id == org.id and entry.changes == {"webhook_secret": "rotated"}
    assert secret not in json.dumps(entry.changes)


def test_the_admin_page_shows_and_rotates_the_secret(client, org, admin):
    login_browser(client, admin.email)
    before = secret_of(org)

    page = client.get("/admin/email-delivery/").get_data(as_text=True)
    assert before in page and "/api/v1/email-events" in page and "X-Leadflow-Signature" in page

    rotated = client.post("/admin/email-delivery/rotate", follow_redirects=True)
    assert rotated.status_code == 200 and secret_of(org) != before and secret_of(org) in rotated.get_data(as_text=True)


def test_the_admin_page_is_for_admins_only(client, org):
    marketer = make_user(org, role="marketer")
    login_browser(client, marketer.email)
    before = secret_of(org)

    assert client.get("/admin/email-delivery/").status_code == 403
    assert client.post("/admin/email-delivery/rotate").status_code == 403
    assert secret_of(org) == before


def test_new_organizations_get_distinct_random_secrets(app_ctx):
    first, second = make_org("One"), make_org("Two")

    assert len(first.webhook_secret) >= 32 and len(second.webhook_secret) >= 32
    assert first.webhook_secret != second.webhook_secret


def test_an_event_reported_before_the_send_was_recorded_leaves_the_status_to_the_sender(client, org, message):
    message.status, message.sent_at = "sending", None
    db.session.commit()

    body = [{"message_id": message.id, "event": "delivered", "timestamp": (utcnow() - timedelta(seconds=1)).isoformat()}]
    post_events(client, body, secret_of(org))

    assert reloaded(message).status == "sending" and len(lead_events("email_delivered")) == 1


def test_a_message_queued_before_its_address_was_suppressed_is_not_sent(smtp, smtp_server, run_jobs, client, org, message):
    waiting = queue_email(organization_id=org.id, template_id=message.template_id, lead_id=message.lead_id, idempotency_key="queued-before")
    assert waiting["status"] == "queued"
    post_events(client, [{"message_id": message.id, "event": "bounced", "bounce_type": "hard"}], secret_of(org))  # then the bounce
    received = len(smtp_server.handler.envelopes)

    run_jobs()

    row = db.session.get(OutboxMessage, waiting["message_id"], populate_existing=True)
    assert row.status == "suppressed" and row.status_reason == f"the address is suppressed: it hard-bounced (message {message.id})"
    assert len(smtp_server.handler.envelopes) == received
