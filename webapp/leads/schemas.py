"""The fields of a lead as input: trimmed, typed and checked in this one place (SPEC §4, §12)."""

from typing import Annotated

import email_validator
from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, field_validator

from ..models.leads import INSURANCE_TYPES, PRIORITIES, SOURCES, STATUSES, US_STATES
from ..validation import (
    Money,
    RowId,
    StrictModel,
    Tags,
    any_case_of,
    blank_to_none,
    choice,
    documented_as,
    line,
    optional,
    requires_one_of,
    text,
)

MAX_BULK = 1000


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


# A lead's address must be able to receive mail: a domain with a dot, not a special-use one (.test).
SPECIAL_USE = any_case_of(email_validator.SPECIAL_USE_DOMAIN_NAMES).removeprefix("^").removesuffix("$")
DELIVERABLE = documented_as(format="email", pattern=rf"@(?!([^@]*\.)?{SPECIAL_USE}$)[^@]*\.[^@]+$")
Email = Annotated[Annotated[str, DELIVERABLE] | None, BeforeValidator(blank_to_none), AfterValidator(_check_email)]
# Any case is accepted and stored upper-case.
STATE_CODE = documented_as(pattern=any_case_of(sorted(US_STATES)), description="A US state code, e.g. TX (any case; stored upper-case)")
State = Annotated[
    Annotated[str, STATE_CODE] | None,
    BeforeValidator(blank_to_none),
    AfterValidator(_check_state),
]


class LeadFields(StrictModel):
    """A lead's writable fields. A new lead needs at least one of first_name, last_name, email and
    phone (a change may not remove the last of them). On update only the fields given are changed."""

    never_null = ("status", "priority", "email_opt_out")
    # The document states the rule (``leads.services.contact_errors`` enforces it): one class per field
    # for generated clients.
    model_config = ConfigDict(json_schema_extra=requires_one_of("first_name", "last_name", "email", "phone", non_blank=True))

    first_name: line(100) = None
    last_name: line(100) = None
    email: Email = None
    phone: text(40) = None
    status: optional(choice(STATUSES)) = None
    priority: optional(choice(PRIORITIES)) = None
    source: optional(choice(SOURCES)) = None
    insurance_type: optional(choice(INSURANCE_TYPES)) = None
    state: State = None
    city: line(100) = None
    value_estimate: Money = None
    tags: Tags = []
    campaign_id: RowId | None = None
    assigned_to_id: RowId | None = None
    email_opt_out: bool = False


class BulkLeads(StrictModel):
    """Up to ``MAX_BULK`` leads, created all or none."""

    leads: Annotated[list[LeadFields], Field(max_length=MAX_BULK)]

    @field_validator("leads", mode="before")
    @classmethod
    def _at_most_max_bulk(cls, leads):
        if isinstance(leads, list) and len(leads) > MAX_BULK:  # before validating a thousand leads in vain
            raise ValueError(f"at most {MAX_BULK} leads per request")
        return leads
