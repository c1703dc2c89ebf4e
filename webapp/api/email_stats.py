"""What became of sent email (SPEC §16), per template and per campaign (per automation step: the
automation's ``/stats``): counts, rates and a daily series, from ``engagement.stats``."""

from datetime import date
from typing import Annotated

from flask import jsonify
from pydantic import BaseModel, Field
from sqlalchemy import select

from ..engagement.stats import DAYS, email_stats
from ..models import Campaign, EmailTemplate, Lead, OutboxMessage, utcnow
from ..replica import reads_from_replica
from ..tenancy import get_or_404
from . import bp
from .auth import READ, api_auth
from .docs import documented
from .email_templates import TAG as TEMPLATES_TAG


class EmailCountsOut(BaseModel):
    """What became of the messages: each counts once under each thing that happened to it."""

    sent: Annotated[int, Field(description="Left our server (whatever happened next)")]
    delivered: Annotated[int, Field(description="A delivery report, an open or a click proves it arrived")]
    opened: Annotated[int, Field(description="Opened at least once (suspected bots aside)")]
    clicked: Annotated[int, Field(description="A link clicked at least once (suspected bots aside)")]
    bounced: int
    complained: int
    unsubscribed: Annotated[int, Field(description="The lead unsubscribed after this message, its last marketing email")]


class EmailRatesOut(BaseModel):
    """Each count as a share of the messages sent (0 when none were)."""

    delivered: float
    opened: float
    clicked: float
    bounced: float
    complained: float
    unsubscribed: float


class EmailDayOut(BaseModel):
    date: date
    sent: int
    opened: int
    clicked: int


class EmailStatsOut(EmailCountsOut):
    rates: EmailRatesOut
    daily: Annotated[list[EmailDayOut], Field(description=f"The last {DAYS} days, oldest first, by the day each message was sent")]


def _stats(*criteria) -> dict:
    return EmailStatsOut.model_validate(email_stats(*criteria, today=utcnow().date())).model_dump(mode="json")


@bp.get("/automations/email-templates/<int:template_id>/stats")
@api_auth(*READ)
@documented("What became of the template's emails: sent, delivered, opened, clicked and more", response=EmailStatsOut, tag=TEMPLATES_TAG)
@reads_from_replica
def template_stats(template_id):
    template = get_or_404(EmailTemplate, template_id)
    return jsonify(_stats(OutboxMessage.organization_id == template.organization_id, OutboxMessage.template_id == template.id))


@bp.get("/campaigns/<int:campaign_id>/stats")
@api_auth(*READ)
@documented("What became of the emails sent to the campaign's leads", response=EmailStatsOut, tag="campaigns")
@reads_from_replica
def campaign_stats(campaign_id):
    campaign = get_or_404(Campaign, campaign_id)
    leads = select(Lead.id).where(Lead.campaign_id == campaign.id)
    return jsonify(_stats(OutboxMessage.organization_id == campaign.organization_id, OutboxMessage.lead_id.in_(leads)))
