"""What email adds to other pages: the lead page's and the campaign page's "Emails" panels, the
dashboard's chart of emails."""

from datetime import date

from flask import render_template
from markupsafe import Markup
from sqlalchemy import select

from ..dashboard.services import Chart, split_daily_chart
from ..extensions import db
from ..models import Automation, AutomationRun, Campaign, Lead, OutboxMessage
from ..models.email import SENT_STATUSES

SHOWN = 20


def lead_emails_panel(lead: Lead) -> str:
    messages = db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.organization_id == lead.organization_id, OutboxMessage.lead_id == lead.id)
        .order_by(OutboxMessage.id.desc())
        .limit(SHOWN)
    ).all()
    return Markup(
        render_template("outbox/_panel.html", messages=messages, panel_id="lead-emails", empty="No email has been sent to this lead.")
    )


def campaign_emails_panel(campaign: Campaign) -> str:
    """Emails of the runs of the campaign's automations."""
    messages = db.session.scalars(
        select(OutboxMessage)
        .join(AutomationRun, AutomationRun.id == OutboxMessage.automation_run_id)
        .join(Automation, Automation.id == AutomationRun.automation_id)
        .where(OutboxMessage.organization_id == campaign.organization_id, Automation.campaign_id == campaign.id)
        .order_by(OutboxMessage.id.desc())
        .limit(SHOWN)
    ).all()
    return Markup(
        render_template(
            "outbox/_panel.html", messages=messages, panel_id="campaign-emails", empty="The campaign's automations have sent no email yet."
        )
    )


def emails_chart(organization_id: int, today: date, days: int) -> Chart:
    """The dashboard's chart of emails per day by the day they were queued: sent, and not sent."""
    series = {"sent": OutboxMessage.status.in_(SENT_STATUSES), "not sent": None}  # sent: it left, whatever happened next
    data = split_daily_chart(OutboxMessage, series, organization_id, today, days)
    return Chart("emails", "Emails per day", "sent, or not (queued, failed, held)", data)
