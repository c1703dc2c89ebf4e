"""Engagement drives automations (SPEC §16 with §15): a journey waits until its email is opened, and
the email_opened / email_clicked triggers start automations, end to end through a real SMTP server,
the public tracking URLs and the workers' jobs."""

from datetime import timedelta

from sqlalchemy import update

from tests.automations.helpers import make_automation, runs_of, step, wait_step
from tests.email.helpers import make_template
from tests.email.test_tracking import LINKS_HTML
from webapp.engagement import tokens
from webapp.extensions import db
from webapp.models import Lead, OutboxMessage, utcnow


def read_later() -> None:
    """The emails were sent a few minutes ago: opens and clicks now are a person's, not a scanner's."""
    db.session.execute(update(OutboxMessage).values(sent_at=utcnow() - timedelta(minutes=5)))
    db.session.commit()


def tags_of(lead_id: int) -> list[str]:
    return db.session.get(Lead, lead_id, populate_existing=True).tags


def test_a_journey_waits_until_its_email_is_opened_then_follows_the_met_branch(smtp, run_jobs, client, api, org):
    newsletter = make_template(org, name="Newsletter", subject="News", body_html=LINKS_HTML, body_text="")
    automation = make_automation(
        api,
        name="Opened?",
        actions=[
            step("send_email", template_id=newsletter.id),
            wait_step("email_opened", {"met": [step("add_tag", tag="engaged")], "timed_out": [step("add_tag", tag="cold")]}),
        ],
    )
    lead_id = api.post("/api/v1/leads", json={"first_name": "Ada", "email": "ada@example.com"}).json["id"]
    run_jobs()
    [run] = runs_of(automation["id"])
    assert run.status == "waiting" and len(smtp.messages) == 1
    [message] = db.session.scalars(db.select(OutboxMessage)).all()
    read_later()

    assert client.get(f"/t/o/{tokens.open_token(message.id)}").status_code == 200
    run_jobs()

    db.session.expire_all()
    [run] = runs_of(automation["id"])
    assert run.status == "completed" and tags_of(lead_id) == ["engaged"]
    assert [(p["branch"]) for p in run.path] == [None, "met", None]


def test_the_email_clicked_trigger_starts_for_a_persons_click_on_its_template_only(smtp, run_jobs, client, api, org):
    newsletter = make_template(org, name="Newsletter", subject="News", body_html=LINKS_HTML, body_text="")
    other = make_template(org, name="Other", subject="Other", body_html=LINKS_HTML, body_text="")
    sender = make_automation(
        api, name="Send both", actions=[step("send_email", template_id=newsletter.id), step("send_email", template_id=other.id)]
    )
    clicked = make_automation(
        api,
        name="Clicked the newsletter",
        trigger_type="email_clicked",
        trigger_configuration={"template_id": newsletter.id, "automation_id": sender["id"]},
        actions=[step("add_tag", tag="clicked-newsletter")],
    )
    lead_id = api.post("/api/v1/leads", json={"first_name": "Ada", "email": "ada@example.com"}).json["id"]
    run_jobs()
    by_template = {m.template_id: m for m in db.session.scalars(db.select(OutboxMessage))}

    assert client.get(f"/t/c/{tokens.click_token(by_template[newsletter.id].id, 0)}").status_code == 302  # within 2 s: a scanner
    assert runs_of(clicked["id"]) == []
    read_later()
    assert client.get(f"/t/c/{tokens.click_token(by_template[other.id].id, 0)}").status_code == 302  # another template
    assert runs_of(clicked["id"]) == []
    assert client.get(f"/t/c/{tokens.click_token(by_template[newsletter.id].id, 0)}").status_code == 302  # (every link at once: a scanner)
    run_jobs()

    [run] = runs_of(clicked["id"])
    assert run.status == "completed" and tags_of(lead_id) == ["clicked-newsletter"]


def test_an_email_trigger_names_templates_and_automations_of_the_organization_only(api, org):
    from tests.factories import make_org

    theirs = make_template(make_org("Other Insurance"), name="Theirs")
    body = {"name": "Opened", "trigger_type": "email_opened", "actions": [step("add_tag", tag="x")]}

    for configuration, field in (({"template_id": theirs.id}, "template_id"), ({"automation_id": 999999}, "automation_id")):
        response = api.post("/api/v1/automations", json={**body, "trigger_configuration": configuration})
        assert response.status_code == 422
        assert {"field": f"trigger_configuration.{field}", "message": f"no such {field.split('_')[0]}"} in response.json["errors"]
    assert api.post("/api/v1/automations", json={**body, "trigger_configuration": {"segment_id": 1}}).status_code == 422
