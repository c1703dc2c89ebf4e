"""What became of sent email (SPEC §16): per template, per campaign and per automation step, each
message counted once under each thing that happened to it, through the public tracking and
unsubscribe URLs and the signed delivery events, as they happen in production."""

from datetime import timedelta

import pytest

from tests.email.helpers import make_template, send_now
from tests.email.test_email_events import post_events, secret_of
from tests.email.test_tracking import LINKS_HTML
from tests.factories import make_campaign, make_lead, make_org
from webapp.email_templates.unsubscribe import unsubscribe_token
from webapp.engagement import tokens
from webapp.extensions import db
from webapp.models import utcnow


@pytest.fixture
def newsletter(org):
    return make_template(org, name="Newsletter", subject="News", body_html=LINKS_HTML, body_text="")


def sent(lead, template, run_jobs, key):
    message = send_now(lead, template, run_jobs, key)
    message.sent_at = utcnow() - timedelta(minutes=5)  # read by a person, later (not a scanner)
    db.session.commit()
    return message


def test_a_templates_stats_count_each_message_once_under_each_thing_that_happened_to_it(smtp, run_jobs, client, api, org, newsletter):
    campaign = make_campaign(org, name="Spring")
    leads = [make_lead(org, email=f"reader{n}@example.com", campaign_id=campaign.id if n < 2 else None) for n in range(4)]
    opened, clicked, bounced, unsubscribed = (sent(lead, newsletter, run_jobs, f"run-step:{n}") for n, lead in enumerate(leads))
    other = make_template(org, name="Other", subject="Other", body_html="<p>Other</p>", body_text="")
    sent(make_lead(org, email="elsewhere@example.com"), other, run_jobs, "run-step:other")

    assert client.get(f"/t/o/{tokens.open_token(opened.id)}").status_code == 200
    assert client.get(f"/t/o/{tokens.open_token(opened.id)}").status_code == 200  # twice: opened once
    assert client.get(f"/t/c/{tokens.click_token(clicked.id, 0)}").status_code == 302
    post_events(client, [{"message_id": bounced.id, "event": "bounced", "bounce_type": "hard"}], secret_of(org))
    assert client.post(f"/u/{unsubscribe_token(leads[3])}").status_code == 200

    stats = api.get(f"/api/v1/automations/email-templates/{newsletter.id}/stats")

    assert stats.status_code == 200
    counts = {name: stats.json[name] for name in ("sent", "delivered", "opened", "clicked", "bounced", "complained", "unsubscribed")}
    assert counts == {"sent": 4, "delivered": 2, "opened": 2, "clicked": 1, "bounced": 1, "complained": 0, "unsubscribed": 1}
    rates = {"delivered": 0.5, "opened": 0.5, "clicked": 0.25, "bounced": 0.25, "complained": 0.0, "unsubscribed": 0.25}
    assert stats.json["rates"] == rates
    today = (utcnow() - timedelta(minutes=5)).date().isoformat()  # the day they were sent, in UTC
    assert [day for day in stats.json["daily"] if day["sent"]] == [{"date": today, "sent": 4, "opened": 2, "clicked": 1}]
    assert len(stats.json["daily"]) == 30

    by_campaign = api.get(f"/api/v1/campaigns/{campaign.id}/stats").json  # the first two leads only
    assert (by_campaign["sent"], by_campaign["opened"], by_campaign["clicked"], by_campaign["bounced"]) == (2, 2, 1, 0)


def test_another_organizations_template_and_campaign_are_not_found(api, org):
    other = make_org("Other Insurance")
    template, campaign = make_template(other, name="Theirs"), make_campaign(other, name="Theirs")

    assert api.get(f"/api/v1/automations/email-templates/{template.id}/stats").status_code == 404
    assert api.get(f"/api/v1/campaigns/{campaign.id}/stats").status_code == 404


def test_an_automation_steps_emails_count_a_click_as_an_open_and_a_delivery(smtp, run_jobs, client, api, org, newsletter):
    from tests.automations.helpers import make_automation, step

    automation = make_automation(api, name="Newsletter", actions=[step("send_email", template_id=newsletter.id)])
    api.post("/api/v1/leads", json={"first_name": "Ada", "email": "ada@example.com"})
    run_jobs()
    message = db.session.scalars(db.select(db.Model.metadata.tables["outbox_messages"].c.id)).one()
    db.session.execute(db.text("UPDATE outbox_messages SET sent_at = sent_at - interval '5 minutes'"))
    db.session.commit()
    assert client.get(f"/t/c/{tokens.click_token(message, 1)}").status_code == 302

    [emails] = [action["emails"] for action in api.get(f"/api/v1/automations/{automation['id']}/stats").json["actions"]]

    assert emails == {"sent": 1, "delivered": 1, "opened": 1, "clicked": 1, "bounced": 0, "complained": 0, "unsubscribed": 0}


def test_the_template_and_campaign_pages_show_the_results_with_a_chart(smtp, run_jobs, client, org, admin, newsletter):
    from tests.conftest import login_browser

    campaign = make_campaign(org, name="Spring")
    opened = sent(make_lead(org, email="reader@example.com", campaign_id=campaign.id), newsletter, run_jobs, "run-step:1")
    client.get(f"/t/o/{tokens.open_token(opened.id)}")
    login_browser(client, admin.email)

    for path in (f"/email-templates/{newsletter.id}", f"/campaigns/{campaign.id}"):
        page = client.get(path).get_data(as_text=True)
        assert "Email results" in page and 'class="bar-chart"' in page, path
        assert "Opened</dt>" in page and "100.0%" in page, path

    quiet = make_template(org, name="Quiet", subject="Quiet", body_html="<p>Quiet</p>", body_text="")
    assert "No email of this template has been sent yet." in client.get(f"/email-templates/{quiet.id}").get_data(as_text=True)


def test_a_messages_outbox_page_shows_its_timeline_with_scanners_marked(smtp, run_jobs, client, org, admin, newsletter):
    from tests.conftest import login_browser

    message = send_now(make_lead(org, email="reader@example.com"), newsletter, run_jobs, "run-step:1")
    client.get(f"/t/o/{tokens.open_token(message.id)}")  # at once: a scanner
    message.sent_at = utcnow() - timedelta(minutes=5)
    db.session.commit()
    client.get(f"/t/c/{tokens.click_token(message.id, 1)}")
    login_browser(client, admin.email)

    page = client.get(f"/outbox/{message.id}").get_data(as_text=True)
    timeline = page.split('id="message-timeline"')[1].split("</ol>")[0]
    labels = [label for label in ("Queued", "Sent", "Opened", "Clicked") if f"<strong>{label}</strong>" in timeline]
    assert labels == ["Queued", "Sent", "Opened", "Clicked"]
    assert timeline.count("suspected bot</span>") == 1 and "https://example.com/agents/ada" in timeline
