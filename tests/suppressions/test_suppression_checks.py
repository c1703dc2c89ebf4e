"""What a suppression blocks (SPEC §17): the contactability check's codes for phone, domain and
unsubscribe suppressions, and marketing versus transactional email to an unsubscribed address."""

from sqlalchemy import select

from tests.email.helpers import make_template
from tests.factories import make_lead, make_org
from webapp.contactability.facts import contactability_of_leads
from webapp.email_templates.delivery import queue_email, send_outbox_messages
from webapp.email_templates.unsubscribe import unsubscribe_token
from webapp.engagement.suppression import suppress_address
from webapp.extensions import db
from webapp.models import Lead, OutboxMessage, Suppression, utcnow


def suppress(org, kind, value, reason):
    db.session.add(Suppression(organization_id=org.id, kind=kind, value=value, reason=reason, source="test"))
    db.session.commit()


def codes(org, lead, channel):
    verdict = contactability_of_leads(org.id, [lead], [channel], utcnow())[(lead.id, channel)]
    return [reason["code"] for reason in verdict["reasons"]]


def test_a_phone_suppression_blocks_phone_and_sms_for_the_number_in_e164(org):
    lead = make_lead(org, phone="(512) 555-0100", email="jane@example.com")
    suppress(org, "phone", "+15125550100", "dnc")
    assert codes(org, lead, "phone") == ["suppressed"]
    assert codes(org, lead, "sms") == ["suppressed"]
    assert codes(org, lead, "email") == []
    verdict = contactability_of_leads(org.id, [lead], ["phone"], utcnow())[(lead.id, "phone")]
    assert "+15125550100" in verdict["reasons"][0]["message"] and "do-not-call" in verdict["reasons"][0]["message"]


def test_a_lead_phone_that_cannot_be_read_matches_no_suppression(org):
    junk = make_lead(org, phone="call me maybe")
    other = make_lead(org, phone="512-555-0199")
    suppress(org, "phone", "+15125550100", "litigator")
    assert codes(org, junk, "phone") == [] and codes(org, other, "sms") == []


def test_another_organizations_suppression_blocks_nothing(org):
    lead = make_lead(org, phone="512-555-0100", email="jane@example.com")
    other = make_org("Other Agency")
    suppress(other, "phone", "+15125550100", "dnc")
    suppress(other, "domain", "example.com", "manual")
    assert codes(org, lead, "phone") == [] and codes(org, lead, "email") == []


def test_a_domain_suppression_blocks_every_address_at_it(org):
    jane, john = make_lead(org, email="Jane@Example.com"), make_lead(org, email="john@example.com.au")
    suppress(org, "domain", "example.com", "manual")
    assert codes(org, jane, "email") == ["suppressed"]
    assert codes(org, john, "email") == []
    assert codes(org, jane, "phone") == []


def test_a_bounced_domain_is_a_hard_bounce_and_the_strongest_reason_speaks(org):
    lead = make_lead(org, email="jane@example.com")
    suppress(org, "email", "jane@example.com", "unsubscribed")
    suppress(org, "domain", "example.com", "bounced")
    assert codes(org, lead, "email") == ["hard_bounced"]


def test_an_unsubscribed_address_counts_as_an_opt_out_once(org):
    lead = make_lead(org, email="jane@example.com")
    suppress(org, "email", "jane@example.com", "unsubscribed")
    assert codes(org, lead, "email") == ["opted_out"]
    opted_out = make_lead(org, email="jane@example.com", email_opt_out=True)
    assert codes(org, opted_out, "email") == ["opted_out"]  # not twice


def test_unsubscribing_puts_the_address_on_the_list_and_keeps_the_opt_out(client, org):
    lead = make_lead(org, email="Jane@Example.com")
    assert client.post(f"/u/{unsubscribe_token(lead)}").status_code == 200
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).email_opt_out is True
    [entry] = db.session.scalars(select(Suppression)).all()
    assert (entry.kind, entry.value, entry.reason, entry.source) == ("email", "jane@example.com", "unsubscribed", "unsubscribe link")


def test_a_later_bounce_of_an_unsubscribed_address_makes_it_a_bounce(org):
    suppress_address(org.id, "jane@example.com", "unsubscribed", None, source="unsubscribe link")
    suppress_address(org.id, "jane@example.com", "bounced", None)
    suppress_address(org.id, "jane@example.com", "unsubscribed", None)
    db.session.commit()
    [entry] = db.session.scalars(select(Suppression)).all()
    assert (entry.reason, entry.source) == ("bounced", "delivery event")


def queue(org, lead, template, key):
    return queue_email(organization_id=org.id, template_id=template.id, lead_id=lead.id, idempotency_key=key)


def test_an_unsubscribed_address_gets_transactional_mail_but_no_marketing(org):
    lead = make_lead(org, email="jane@example.com")  # not opted out: the address alone is on the list
    suppress(org, "email", "jane@example.com", "unsubscribed")
    marketing = make_template(org, name="Offer", template_type="marketing")
    transactional = make_template(org, name="Your policy", template_type="transactional", body_text="Your documents.")

    skipped = queue(org, lead, marketing, "m-1")
    assert skipped["status"] == "suppressed" and skipped["reason"] == "the address is suppressed: its owner unsubscribed"
    assert queue(org, lead, transactional, "t-1")["status"] != "suppressed"


def test_a_bounce_or_a_domain_suppression_stops_transactional_mail_too(org):
    lead = make_lead(org, email="jane@example.com")
    suppress(org, "domain", "example.com", "dnc")
    transactional = make_template(org, name="Your policy", template_type="transactional", body_text="Your documents.")
    result = queue(org, lead, transactional, "t-1")
    assert result["status"] == "suppressed" and "the domain example.com is suppressed" in result["reason"]


def test_the_send_job_skips_marketing_to_an_address_unsubscribed_since_it_was_queued(org, smtp):
    lead = make_lead(org, email="jane@example.com")
    marketing = make_template(org, name="Offer", template_type="marketing")
    transactional = make_template(org, name="Your policy", template_type="transactional", body_text="Your documents.")
    offer, documents = queue(org, lead, marketing, "m-1"), queue(org, lead, transactional, "t-1")
    db.session.commit()
    suppress(org, "email", "jane@example.com", "unsubscribed")
    outcome = send_outbox_messages([offer["message_id"], documents["message_id"]])
    assert outcome == {offer["message_id"]: "suppressed", documents["message_id"]: "sent"}
    db.session.expire_all()
    assert db.session.get(OutboxMessage, offer["message_id"]).status_reason == "the address is suppressed: its owner unsubscribed"
