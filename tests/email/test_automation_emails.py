"""send_email steps of automations end to end: API → trigger → RQ worker → outbox → local SMTP server.
A retried step never sends a second email; an email the contactability check blocks is a skipped step with its reasons."""

from sqlalchemy import select

from tests.automations.helpers import make_automation, runs_of, step
from tests.email.helpers import WELCOME
from tests.factories import make_campaign
from webapp.automations.actions import StepContext, execute_action
from webapp.extensions import db
from webapp.models import OutboxMessage


def test_a_welcome_automation_emails_each_new_lead_once(smtp, run_jobs, api, client, org, admin):
    from tests.conftest import login_browser

    campaign = make_campaign(org, name="Spring Auto Push")
    template = api.post("/api/v1/automations/email-templates", json=WELCOME).json
    automation = make_automation(
        api,
        name="Welcome Email Automation",
        campaign_id=campaign.id,
        actions=[step("send_email", template_id=template["id"], subject="Welcome to Our Insurance Services", personalize=True)],
    )
    lead = api.post("/api/v1/leads", json={"first_name": "Lee", "email": "lee@example.com"}).json
    opted_out = api.post("/api/v1/leads", json={"first_name": "Ola", "email": "ola@example.com", "email_opt_out": True}).json

    run_jobs()

    runs = {run.lead_id: run for run in runs_of(automation["id"])}
    sent_step, skipped_step = runs[lead["id"]].steps[0], runs[opted_out["id"]].steps[0]
    assert sent_step.status == "completed"
    assert sent_step.output["status"] == "queued" and sent_step.output["to"] == "lee@example.com"
    assert sent_step.output["idempotency_key"] == f"run-step:{sent_step.id}"
    assert skipped_step.status == "skipped"
    assert "opted out" in skipped_step.output["reason"]  # the contactability check's (SPEC §17)
    assert [reason["code"] for reason in skipped_step.output["reasons"]] == ["opted_out"]
    [mail] = smtp.messages
    assert mail["To"] == "Lee <lee@example.com>" and mail["Subject"] == "Welcome to Our Insurance Services"
    assert "Welcome Lee!" in mail.get_body(("html",)).get_content()

    # the step's action runs again (a redelivered job, a retry after a crash before the step was marked
    # completed): its key finds the first message and nothing else happens
    run = runs[lead["id"]]
    output = execute_action("send_email", sent_step.configuration, StepContext(run=run, step=sent_step, lead=run.lead))
    db.session.commit()
    run_jobs()
    assert output["duplicate"] is True and output["message_id"] == sent_step.output["message_id"]
    assert len(smtp.envelopes) == 1
    assert db.session.scalar(select(OutboxMessage.status).where(OutboxMessage.lead_id == lead["id"])) == "sent"

    login_browser(client, admin.email)
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert 'id="campaign-emails"' in page and "Welcome to Our Insurance Services" in page
