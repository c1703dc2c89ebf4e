"""The fields of a lead as input: trimmed, typed and checked in this one place (SPEC §4, §12)."""

import functools
from typing import Annotated

import email_validator
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES, DOT_ATOM_TEXT, EMAIL_MAX_LENGTH
from email_validator.syntax import validate_email_domain_name
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, field_validator

from ..contactability.phones import normalise_phone
from ..models.leads import INSURANCE_TYPES, PRIORITIES, SOURCES, STATUSES, US_STATES
from ..validation import (
    Money,
    RowId,
    StrictModel,
    Tags,
    TimeZoneName,
    any_case_of,
    blank_to_none,
    choice,
    documented_as,
    line,
    optional,
    requires_one_of,
    text,
)
from .consents import Consents

MAX_BULK = 1000


def _check_email(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return normalized_email(value)
    except EmailNotValidError as exc:
        reason = str(exc)
        raise ValueError(f"not a valid email address: {reason[:1].lower()}{reason[1:]}") from None


def normalized_email(address: str) -> str:
    """``validate_email(address, check_deliverability=False).normalized``, each domain checked once.

    Most of that check's time is the domain's (IDNA), and a file of leads names few domains. A plain
    address (an ASCII dot-atom before the @-sign, not a mailbox name that email_validator lower-cases,
    a valid domain, within the length limits) gets email_validator's own answers for its parts, the
    domain's kept; any other, and every wrong one, goes through ``validate_email`` for its exact
    answer and words (a property test compares both on generated addresses).
    """
    local, _, domain_part = address.partition("@")
    if DOT_ATOM_TEXT.match(local) and local.lower() not in CASE_INSENSITIVE_MAILBOX_NAMES:
        forms = _domain_forms(domain_part)
        if forms and all(len(f"{local}@{form}".encode()) <= EMAIL_MAX_LENGTH for form in (domain_part, *forms)):
            return f"{local}@{forms[0]}"
    return validate_email(address, check_deliverability=False).normalized


@functools.lru_cache(maxsize=10_000)
def _domain_forms(domain_part: str) -> tuple[str, str] | None:
    """The normalized and ASCII forms of a valid domain name (not an IP address in brackets), or None."""
    if not domain_part or domain_part.startswith("["):
        return None
    try:
        checked = validate_email_domain_name(domain_part, test_environment=False, globally_deliverable=True)
    except EmailNotValidError:
        return None
    return checked["domain"], checked["ascii_domain"]


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
    create_only = ("consents",)  # recorded with the new lead; later ones: POST /leads/{id}/consents
    # The document states the rule (``leads.services.contact_errors`` enforces it): one class per field
    # for generated clients.
    model_config = ConfigDict(
        json_schema_extra=requires_one_of(
            "first_name", "last_name", "email", "phone", non_blank=True, on_one_line=("first_name", "last_name")
        )
    )

    first_name: line(100) = None
    last_name: line(100) = None
    email: Email = None
    phone: Annotated[text(40), AfterValidator(normalise_phone)] = None  # E.164 when it can be read, else as given (SPEC §17)
    status: optional(choice(STATUSES)) = None
    priority: optional(choice(PRIORITIES)) = None
    source: optional(choice(SOURCES)) = None
    insurance_type: optional(choice(INSURANCE_TYPES)) = None
    state: State = None
    city: line(100) = None
    timezone: optional(TimeZoneName) = None  # None: the state's zone, else the organization's (SPEC §17)
    value_estimate: Money = None
    tags: Tags = []
    campaign_id: RowId | None = None
    assigned_to_id: RowId | None = None
    email_opt_out: bool = False
    consents: Consents = []  # SPEC §17: recorded with the lead (leads.consents)


class BulkLeads(StrictModel):
    """Up to ``MAX_BULK`` leads, created all or none."""

    leads: Annotated[list[LeadFields], Field(max_length=MAX_BULK)]

    @field_validator("leads", mode="before")
    @classmethod
    def _at_most_max_bulk(cls, leads):
        if isinstance(leads, list) and len(leads) > MAX_BULK:  # before validating a thousand leads in vain
            raise ValueError(f"at most {MAX_BULK} leads per request")
        return leads
