"""The fields of a lead as input: trimmed, typed and checked in this one place (SPEC §4, §12)."""
from decimal import Decimal
from typing import Annotated, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BeforeValidator, Field

from ..auth.access import MAX_ID
from ..models.leads import US_STATES
from ..validation import StrictModel


def _empty_to_none(value):
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _storable(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _check_email(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        reason = str(exc)
        raise ValueError(f"not a valid email address: {reason[:1].lower()}{reason[1:]}") from None


def _check_state(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.upper()
    if value not in US_STATES:
        raise ValueError("must be a US two-letter state code, e.g. TX")
    return value


def _clean_tags(value):
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    return value


def _normalise_tags(tags: list[str]) -> list[str]:
    cleaned = sorted({t.strip().lower() for t in tags if t and t.strip()})
    for tag in cleaned:
        if len(tag) > 50:
            raise ValueError(f"tag '{tag[:20]}…' is longer than 50 characters")
        _storable(tag)
    return cleaned


def text(max_length: int):
    """Trimmed text of at most ``max_length`` characters; empty is None (the bound applies to text only)."""
    return Annotated[Annotated[str, Field(max_length=max_length)] | None, BeforeValidator(_empty_to_none),
                     AfterValidator(_storable)]


# Constraints sit on the inner type: applied to None (an emptied field) they would raise a TypeError.
Money = Annotated[Annotated[Decimal, Field(ge=0, le=Decimal("999999999999"), decimal_places=2)] | None,
                  BeforeValidator(_empty_to_none)]
RowId = Annotated[int, Field(ge=1, le=MAX_ID)]
Email = Annotated[str | None, BeforeValidator(_empty_to_none), AfterValidator(_check_email)]
State = Annotated[str | None, BeforeValidator(_empty_to_none), AfterValidator(_check_state)]
Tags = Annotated[list[str], BeforeValidator(_clean_tags), AfterValidator(_normalise_tags)]

Status = Literal["new", "contacted", "qualified", "quoted", "converted", "lost"]
Priority = Literal["low", "medium", "high", "urgent"]
Source = Literal["website", "referral", "facebook", "google_ads", "email", "phone", "partner", "event", "other"]
InsuranceType = Literal["auto", "home", "life", "health", "business", "renters", "umbrella", "other"]


class LeadFields(StrictModel):
    """A lead's writable fields. On update only the fields given are changed."""

    first_name: text(100) = None
    last_name: text(100) = None
    email: Email = None
    phone: text(40) = None
    status: Annotated[Status | None, BeforeValidator(_empty_to_none)] = None
    priority: Annotated[Priority | None, BeforeValidator(_empty_to_none)] = None
    source: Annotated[Source | None, BeforeValidator(_empty_to_none)] = None
    insurance_type: Annotated[InsuranceType | None, BeforeValidator(_empty_to_none)] = None
    state: State = None
    city: text(100) = None
    value_estimate: Money = None
    tags: Tags = []
    campaign_id: RowId | None = None
    assigned_to_id: RowId | None = None
    email_opt_out: bool = False
