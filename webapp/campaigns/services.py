"""Campaign input checks and changes, shared by the API and the pages."""
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator

from ..extensions import db
from ..models import Campaign
from ..validation import StrictModel, ValidationFailed, parse


def _empty_to_none(value):
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value.strip() or None
    return value


class CampaignFields(StrictModel):
    # Constraints sit on the inner type: applied to None (an emptied field) they would raise a TypeError.
    name: Annotated[Annotated[str, Field(min_length=1, max_length=200)] | None, BeforeValidator(_empty_to_none)] = None
    description: Annotated[Annotated[str, Field(max_length=5000)] | None, BeforeValidator(_empty_to_none)] = None
    status: Literal["draft", "active", "paused", "completed"] = "draft"
    channel: Annotated[Annotated[str, Field(max_length=100)] | None, BeforeValidator(_empty_to_none)] = None
    starts_at: Annotated[datetime | None, BeforeValidator(_empty_to_none)] = None
    ends_at: Annotated[datetime | None, BeforeValidator(_empty_to_none)] = None
    budget: Annotated[Annotated[Decimal, Field(ge=0, le=Decimal("999999999999"), decimal_places=2)] | None,
                      BeforeValidator(_empty_to_none)] = None

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
    if not partial and not values.get("name"):
        raise ValidationFailed([{"field": "name", "message": "is required"}])
    if partial and "name" in values and not values["name"]:
        raise ValidationFailed([{"field": "name", "message": "may not be empty"}])
    if partial and values.get("status", "x") is None:
        raise ValidationFailed([{"field": "status", "message": "may not be empty"}])
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
