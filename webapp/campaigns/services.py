"""Campaign input checks and changes, shared by the API and the pages."""

from datetime import datetime
from typing import Annotated

from pydantic import Field, model_validator
from sqlalchemy import func, select

from ..extensions import db
from ..models import Campaign, Lead
from ..models.leads import CAMPAIGN_STATUSES
from ..validation import DateTime, Money, StrictModel, ValidationFailed, choice, parse, presence_errors, text


class CampaignFields(StrictModel):
    required_on_create = ("name",)
    never_null = ("status",)

    name: text(200) = None
    description: text(5000) = None
    status: choice(CAMPAIGN_STATUSES) = "draft"
    channel: text(100) = None
    starts_at: DateTime = None
    ends_at: Annotated[DateTime, Field(description="Not before starts_at.")] = None
    budget: Money = None

    @model_validator(mode="after")
    def _ends_after_start(self):
        if self.starts_at and self.ends_at and _aware(self.ends_at) < _aware(self.starts_at):
            raise ValueError("ends_at must not be before starts_at")
        return self


def _aware(value: datetime) -> datetime:
    from datetime import timezone

    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def validate_campaign(data: dict, *, partial: bool) -> dict:
    values = parse(CampaignFields, data).model_dump(exclude_unset=partial)
    errors = presence_errors(CampaignFields, values, partial=partial)
    if errors:
        raise ValidationFailed(errors)
    return values


def save_campaign(campaign: Campaign, values: dict) -> dict:
    """Apply values; returns the changed fields as {field: [old, new]} for the audit log."""
    changes = {}
    for name, value in values.items():
        if getattr(campaign, name) != value:
            changes[name] = [str(getattr(campaign, name)), str(value)]
            setattr(campaign, name, value)
    if campaign.starts_at and campaign.ends_at and _aware(campaign.ends_at) < _aware(campaign.starts_at):
        raise ValidationFailed([{"field": "ends_at", "message": "ends_at must not be before starts_at"}])
    db.session.add(campaign)
    return changes


def delete_campaign(campaign: Campaign) -> None:
    """Delete a campaign; its leads stay, without a campaign (not committed)."""
    db.session.delete(campaign)


def campaigns_with_lead_counts(organization_id: int) -> list:
    """The organization's campaigns by name with how many leads each has: rows of ``(Campaign, count)``."""
    return db.session.execute(
        select(Campaign, func.count(Lead.id))
        .outerjoin(Lead, Lead.campaign_id == Campaign.id)
        .where(Campaign.organization_id == organization_id)
        .group_by(Campaign.id)
        .order_by(Campaign.name)
    ).all()


def lead_count(campaign: Campaign) -> int:
    """How many leads came through the campaign."""
    return db.session.scalar(
        select(func.count()).select_from(Lead).where(Lead.organization_id == campaign.organization_id, Lead.campaign_id == campaign.id)
    )


def campaign_options(organization_id: int) -> list[tuple[str, str]]:
    """The choices of a form's campaign picker: none, then the organization's campaigns by name."""
    campaigns = db.session.scalars(select(Campaign).where(Campaign.organization_id == organization_id).order_by(Campaign.name)).all()
    return [("", "—")] + [(str(c.id), c.name) for c in campaigns]
