"""Delivery to a real local SMTP server (aiosmtpd) through real RQ jobs: headers, multipart structure,
rendered variables, a working unsubscribe link, suppression, idempotency, retries and failures."""

import logging
import re
from datetime import timedelta
from urllib.parse import urlparse

import pytest
from sqlalchemy import func, select

from tests.email.conftest import free_port
from tests.email.helpers import make_template
from tests.factories import make_lead, make_user
from webapp.email_templates.delivery import (
    DeliveryError,
    message_id_header,
    queue_email,
    requeue_stalled_messages,
    send_outbox_message,
)
from webapp.extensions import db
from webapp.jobs.loops import run_sweepers
from webapp.models import Lead, LeadEvent, OutboxMessage, utcnow

QUOTE_HTML = """<html><head><style>.cta { color: #ffffff; background: #4f46e5; }</style></head><body>
<h1>Hi {{ first_name | default("there") }},</h1>
<p>Your {{ insurance_type }} quote in {{ city }} is ready.</p>
<p><a class="cta" href="https://example.com/quote">See my quote</a></p>
<p>{{ agent_name }} &middot; {{ company_name }}</p>
<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>
</body></html>"""


def queue(lead, template, key="run-step:1", **options) -> dict:
    """As an automation step does: inside a transaction, which the caller then commits."""
    result = queue_email(organization_id=lead.organization_id, template_id=template.id, lead_id=lead.id, idempotency_key=key, **options)
    db.session.commit()
    return result


def outbox() -> list[OutboxMessage]:
    db.session.expire_all()
    return db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()


@pytest.fixture
def quote(org):
    return make_template(
        org, name="Quote ready", subject="{{ first_name }}, your {{ insurance_type }} quote", body_html=QUOTE_HTML, body_text=""
    )


@pytest.fixture
def maria(org, admin):
    return make_lead(
        org, first_name="Maria", last_name="Lopez", email="maria@example.com", city="Austin", insurance_type="home", assigned_to_id=admin.id
    )


def test_a_marketing_email_arrives_with_headers_parts_and_the_leads_variables(smtp, run_jobs, org, quote, maria):
    result = queue(maria, quote, key="run-step:41")
    assert result["status"] == "queued" and result["to"] == "maria@example.com"
    assert result["subject"] == "Maria, your home quote"

    run_jobs()

    [envelope] = smtp.envelopes
    assert envelope.mail_from == "hello@acme.example.com" and envelope.rcpt_tos == ["maria@example.com"]
    [mail] = smtp.messages
    assert mail["Subject"] == "Maria, your home quote"
    assert mail["From"] == "Acme Insurance <hello@acme.example.com>"
    assert mail["To"] == "Maria Lopez <maria@example.com>"
    assert mail["Message-ID"] == message_id_header("run-step:41")
    assert mail["Date"]
    assert mail.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in mail.iter_parts()] == ["text/plain", "text/html"]
    html = mail.get_body(("html",)).get_content()
    text = mail.get_body(("plain",)).get_content()
    assert "<h1>Hi Maria,</h1>" in html and "home quote in Austin" in html and "Ada Admin" in html
    assert 'style="color: #ffffff' in html  # the <style> rules are inlined for mail clients
    assert "Hi Maria," in text and "See my quote (https://example.com/quote)" in text
    unsubscribe = re.search(r'href="([^"]+/u/[^"]+)"', html).group(1)
    assert mail["List-Unsubscribe"] == f"<{unsubscribe}>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"\r\nList-Unsubscribe: <{unsubscribe}>\r\n".encode() in envelope.content  # one line a mail client reads as a URL
    assert unsubscribe.startswith("https://leadflow.example.com/u/")

    [message] = outbox()
    assert message.status == "sent" and message.attempts == 1 and message.sent_at is not None
    assert message.smtp_response == "250 2.0.0 Ok: queued as M1"
    assert message.template_version == quote.version and message.lead_id == maria.id
    event = db.session.scalar(select(LeadEvent).where(LeadEvent.event_type == "email_sent"))
    assert event.lead_id == maria.id
    assert event.data == {"subject": "Maria, your home quote", "template_id": quote.id, "message_id": message.id, "to": "maria@example.com"}


def test_the_unsubscribe_link_in_the_received_email_opts_the_lead_out(smtp, run_jobs, client, org, quote, maria):
    queue(maria, quote)
    run_jobs()
    [mail] = smtp.messages
    path = urlparse(mail["List-Unsubscribe"].strip("<>")).path

    page = client.get(path)
    assert page.status_code == 200 and b"Unsubscribe?" in page.data and b"m***@example.com" in page.data
    assert db.session.get(Lead, maria.id).email_opt_out is False  # GET changes nothing (link scanners)

    one_click = client.post(path, data={"List-Unsubscribe": "One-Click"})

    assert one_click.status_code == 200 and b"You are unsubscribed" in one_click.data
    db.session.expire_all()
    assert db.session.get(Lead, maria.id).email_opt_out is True
    event = db.session.scalar(select(LeadEvent).where(LeadEvent.event_type == "email_opt_out"))
    assert event.lead_id == maria.id and event.data["via"] == "one_click"

    queue(maria, quote, key="run-step:2")  # the next marketing email is suppressed
    run_jobs()
    assert len(smtp.envelopes) == 1
    assert outbox()[-1].status == "suppressed"


def test_an_opted_out_lead_is_never_sent_marketing_email_and_the_skip_is_logged(smtp, run_jobs, org, quote, caplog):
    lead = make_lead(org, email="gone@example.com", email_opt_out=True)
    caplog.set_level(logging.INFO, logger="webapp.email_templates.delivery")

    result = queue(lead, quote)
    run_jobs()

    assert result["status"] == "suppressed" and result["skipped"] is True
    assert result["reason"] == "the lead opted out of marketing email"
    assert smtp.envelopes == []
    assert "suppressed: the lead opted out of marketing email" in caplog.text
    [message] = outbox()
    assert message.status == "suppressed" and message.status_reason == result["reason"]


def test_a_lead_who_opts_out_after_queueing_is_suppressed_at_send_time(smtp, run_jobs, org, quote, maria):
    queue(maria, quote)
    maria.email_opt_out = True
    db.session.commit()

    run_jobs()

    assert smtp.envelopes == []
    assert outbox()[0].status == "suppressed"


def test_transactional_email_still_reaches_an_opted_out_lead_without_list_unsubscribe(smtp, run_jobs, org):
    template = make_template(
        org, name="Documents received", template_type="transactional", body_text="We received your documents, {{ first_name }}."
    )
    lead = make_lead(org, first_name="Ivy", email="ivy@example.com", email_opt_out=True)

    queue(lead, template)
    run_jobs()

    [mail] = smtp.messages
    assert mail["List-Unsubscribe"] is None
    assert "We received your documents, Ivy." in mail.get_body(("plain",)).get_content()


def test_a_lead_without_an_address_is_suppressed(smtp, run_jobs, org, quote):
    result = queue(make_lead(org, email=None), quote)
    assert result["status"] == "suppressed" and result["reason"] == "the lead has no email address"


def test_queueing_and_sending_are_idempotent_by_the_callers_key(smtp, run_jobs, org, quote, maria):
    first = queue(maria, quote, key="run-step:7")
    again = queue(maria, quote, key="run-step:7")

    assert again == {**first, "duplicate": True}
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1

    run_jobs()
    message_id = first["message_id"]
    assert send_outbox_message(message_id) == "sent"  # a retried job finds the message sent
    assert send_outbox_message(message_id) == "sent"
    run_jobs()

    assert len(smtp.envelopes) == 1
    assert queue(maria, quote, key="run-step:7")["duplicate"] is True
    assert len(smtp.envelopes) == 1


def test_smtp_down_is_retried_then_failed_with_the_error_kept(app, smtp, mail_config, run_jobs, org, quote, maria):
    mail_config(MAIL_PORT=free_port())  # nothing listens there

    queue(maria, quote)
    run_jobs()

    [message] = outbox()
    assert message.status == "failed" and message.attempts == 3
    assert "ConnectionRefusedError" in message.last_error
    assert message.sent_at is None and smtp.envelopes == []
    assert not db.session.scalar(select(LeadEvent.id).where(LeadEvent.event_type == "email_sent"))
    assert send_outbox_message(message.id) == "failed"  # a failed message is never sent by a stray job


def test_a_retry_waits_for_its_backoff_and_the_sweeper_queues_it(smtp_server, smtp, mail_config, run_jobs, org, quote, maria):
    down_port = free_port()
    mail_config(MAIL_PORT=down_port, MAIL_RETRY_BACKOFF_SECONDS=60)

    queue(maria, quote)
    run_jobs()

    [message] = outbox()
    assert message.status == "queued" and message.attempts == 1 and "ConnectionRefusedError" in message.last_error
    assert message.next_attempt_at > utcnow() + timedelta(seconds=50)
    assert send_outbox_message(message.id) == "waiting"  # not before its time
    assert requeue_stalled_messages() == 0

    mail_config(MAIL_PORT=smtp_server.port)  # the server is back
    message.next_attempt_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert run_sweepers() == 1
    run_jobs()

    [message] = outbox()
    assert message.status == "sent" and message.attempts == 2
    assert len(smtp.envelopes) == 1


def test_a_temporary_refusal_is_retried_and_a_permanent_one_fails_at_once(smtp, run_jobs, org, quote, maria):
    smtp.refuse = "451 4.3.0 try again later"
    queue(maria, quote, key="a")
    send_outbox_message(outbox()[0].id)
    assert outbox()[0].status == "failed" and outbox()[0].attempts == 3  # backoff 0 in tests: retried in place
    assert "451 4.3.0 try again later" in outbox()[0].last_error

    smtp.refuse = "550 5.1.1 no such user"
    queue(maria, quote, key="b")
    run_jobs()
    permanent = outbox()[1]
    assert permanent.status == "failed" and permanent.attempts == 1
    assert "550 5.1.1 no such user" in permanent.last_error
    assert smtp.envelopes == []


def test_without_a_mail_server_messages_are_held_and_not_queued(app, mail_config, run_jobs, org, quote, maria):
    mail_config(MAIL_SERVER=None)

    result = queue(maria, quote)
    run_jobs()

    assert result["status"] == "held"
    [message] = outbox()
    assert message.status == "held" and "MAIL_SERVER" in message.status_reason
    assert message.body_html and "Maria" in message.body_html  # rendered and kept, visible in the outbox


def test_the_sweeper_requeues_messages_whose_job_was_lost(smtp, mail_config, run_jobs, app, org, quote, maria):
    from redis import Redis

    mail_config(STALLED_AFTER_SECONDS=60)
    lost = queue(maria, quote, key="lost")["message_id"]
    Redis.from_url(app.config["REDIS_URL"]).delete("rq:queue:low")  # Redis lost the job
    crashed = queue(maria, quote, key="crashed")["message_id"]
    run_jobs()  # sends "crashed"; then pretend a worker died in the middle of sending it again
    message = db.session.get(OutboxMessage, crashed)
    assert message.status == "sent"
    message.status, message.lease_expires_at = "sending", utcnow() - timedelta(seconds=1)
    fresh = db.session.get(OutboxMessage, lost)
    assert fresh.status == "queued"
    db.session.commit()

    assert requeue_stalled_messages() == 1  # the lease ran out; "lost" is not stalled yet
    db.session.execute(OutboxMessage.__table__.update().where(OutboxMessage.id == lost).values(updated_at=utcnow() - timedelta(minutes=5)))
    db.session.commit()
    assert requeue_stalled_messages() == 1
    run_jobs()

    statuses = {m.idempotency_key: m.status for m in outbox()}
    assert statuses == {"lost": "sent", "crashed": "sent"}
    # "crashed" went out twice (the worker died after the server took it): same Message-ID both times
    assert sorted(m["Message-ID"] for m in smtp.messages) == sorted(
        [message_id_header("lost"), message_id_header("crashed"), message_id_header("crashed")]
    )


def test_to_the_assignee_and_with_sample_data(smtp, run_jobs, org, admin, quote, maria):
    notification = make_template(
        org,
        name="New lead",
        template_type="notification",
        subject="New lead: {{ full_name }}",
        body_text="Call {{ full_name }} at {{ phone }}.",
    )
    queue(maria, notification, key="to-agent", to="assignee")
    queue(maria, quote, key="sample", personalize=False)
    run_jobs()

    to_agent, sample = smtp.messages
    assert to_agent["To"] == f"Ada Admin <{admin.email}>" and to_agent["Subject"] == "New lead: Maria Lopez"
    assert to_agent["List-Unsubscribe"] is None
    assert sample["To"] == "Maria Lopez <maria@example.com>"
    assert "Hi Jamie," in sample.get_body(("html",)).get_content()  # sample data …
    assert "/u/preview" not in sample["List-Unsubscribe"]  # … but a real unsubscribe link for the lead


def test_an_override_subject_is_rendered_too(smtp, run_jobs, org, quote, maria):
    result = queue(maria, quote, subject_override="Welcome to Our Insurance Services, {{ first_name }}")
    assert result["subject"] == "Welcome to Our Insurance Services, Maria"


def test_queue_email_refuses_other_organizations_objects_and_broken_templates(org, quote, maria):
    from tests.factories import make_org

    other = make_org("Other Brokers")
    with pytest.raises(DeliveryError):
        queue_email(organization_id=other.id, template_id=quote.id, lead_id=maria.id, idempotency_key="x")
    broken = make_template(org, name="Broken", body_text="{{ 'A' * 10**9 }}")
    with pytest.raises(DeliveryError) as error:
        queue_email(organization_id=org.id, template_id=broken.id, lead_id=maria.id, idempotency_key="y")
    assert error.value.permanent and "larger than" in str(error.value)
    db.session.rollback()
    assert outbox() == []


def test_an_inactive_template_is_not_sent(smtp, run_jobs, org, quote, maria):
    quote.is_active = False
    db.session.commit()
    result = queue(maria, quote)
    assert result["status"] == "suppressed" and result["reason"] == "the template is not active"


def test_a_test_send_goes_to_the_user_not_the_lead(smtp, run_jobs, client, org, quote, maria):
    from tests.conftest import login_browser

    user = make_user(org, email="mia@acme.example.com", role="marketer", name="Mia Marketer")
    login_browser(client, user.email)
    form = {
        "subject": quote.subject,
        "body_html": quote.body_html,
        "body_text": "",
        "template_type": "marketing",
        "name": quote.name,
        "lead_id": str(maria.id),
    }

    response = client.post(f"/email-templates/{quote.id}/test", data=form, headers={"HX-Request": "true"})
    run_jobs()

    assert response.status_code == 200 and b"on its way to mia@acme.example.com" in response.data
    [mail] = smtp.messages
    assert mail["To"] == "Mia Marketer <mia@acme.example.com>" and mail["Subject"] == "[Test] Maria, your home quote"
    assert mail["List-Unsubscribe"] is None and "/u/preview" in mail.get_body(("html",)).get_content()
    [message] = outbox()
    assert message.is_test and message.template_version == quote.version
    assert not db.session.scalar(select(LeadEvent.id).where(LeadEvent.event_type == "email_sent"))


def test_a_held_message_is_sent_from_the_outbox_once_a_server_is_configured(smtp, mail_config, run_jobs, client, org, admin, quote, maria):
    from tests.conftest import login_browser

    mail_config(MAIL_SERVER=None)
    held = queue(maria, quote)["message_id"]
    login_browser(client, admin.email)
    assert b"Send now" not in client.get(f"/outbox/{held}").data  # nowhere to send it yet

    mail_config(MAIL_SERVER="127.0.0.1")
    assert b"Send now" in client.get(f"/outbox/{held}").data
    assert client.post(f"/outbox/{held}/send").status_code == 302
    run_jobs()
    assert client.post(f"/outbox/{held}/send").status_code == 302  # a second click: not held any more, nothing sent

    run_jobs()
    assert outbox()[0].status == "sent" and len(smtp.envelopes) == 1
