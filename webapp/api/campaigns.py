"""Campaigns: CRUD."""

from datetime import datetime

from flask import g, jsonify, url_for

from ..audit import audit
from ..campaigns import services
from ..campaigns.services import CampaignFields, save_campaign, validate_campaign
from ..extensions import db
from ..models import Campaign
from ..tenancy import get_or_404, scoped
from . import bp
from .auth import CONFIGURE, READ, api_auth
from .common import PAGE_QUERY, Out, created, dump, json_body, no_content, page_envelope, paginate
from .docs import documented


class CampaignOut(Out):
    id: int
    organization_id: int
    name: str
    description: str | None
    status: str
    channel: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    budget: float | None
    created_at: datetime
    updated_at: datetime


@bp.get("/campaigns")
@api_auth(*READ)
@documented("List campaigns", response=page_envelope(CampaignOut), query=PAGE_QUERY, tag="campaigns")
def list_campaigns():
    return jsonify(paginate(scoped(Campaign).order_by(Campaign.id), CampaignOut))


@bp.post("/campaigns")
@api_auth(*CONFIGURE)
@documented("Create a campaign", body=CampaignFields, response=CampaignOut, status=201, tag="campaigns")
def create_campaign():
    campaign = Campaign(organization_id=g.organization_id)
    save_campaign(campaign, validate_campaign(json_body(), partial=False))
    db.session.flush()
    audit("create", campaign, {"name": campaign.name})
    response = created(dump(CampaignOut, campaign), url_for("api.get_campaign", campaign_id=campaign.id))
    db.session.commit()
    return response


@bp.get("/campaigns/<int:campaign_id>")
@api_auth(*READ)
@documented("Get a campaign", response=CampaignOut, tag="campaigns")
def get_campaign(campaign_id):
    return jsonify(dump(CampaignOut, get_or_404(Campaign, campaign_id)))


@bp.put("/campaigns/<int:campaign_id>")
@api_auth(*CONFIGURE)
@documented("Change the given fields of a campaign", body=CampaignFields, response=CampaignOut, tag="campaigns")
def update_campaign(campaign_id):
    campaign = get_or_404(Campaign, campaign_id)
    changes = save_campaign(campaign, validate_campaign(json_body(), partial=True))
    audit("update", campaign, changes)
    db.session.flush()
    body = dump(CampaignOut, campaign)
    db.session.commit()
    return jsonify(body)


@bp.delete("/campaigns/<int:campaign_id>")
@api_auth(*CONFIGURE)
@documented("Delete a campaign", status=204, tag="campaigns")
def delete_campaign(campaign_id):
    campaign = get_or_404(Campaign, campaign_id)
    audit("delete", campaign, {"name": campaign.name})
    services.delete_campaign(campaign)
    db.session.commit()
    return no_content()
