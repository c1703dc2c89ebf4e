"""An organization's contact policy (SPEC §17): quiet hours, frequency caps, required consent, what a
blocked step does, the default time zone and duplicate handling. Stored as JSON on the organization
(``organizations.contact_policy``, null: every default); validated here, in one place."""

from datetime import time
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, StrictBool, StrictInt, ValidationError

from ..extensions import db
from ..models import Organization
from ..validation import StrictModel, TimeZoneName, ValidationFailed, documented_as, parse
from .timezones import DEFAULT_TIMEZONE

CHANNELS = ("email", "sms", "phone")
MAX_CAPS = 20
MAX_CAP = 10_000
MAX_DEDUPE_DAYS = 3650
CLOCK_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


def _clock(value):
    """ "HH:MM" on a 24-hour clock, exactly (the document's pattern)."""
    if isinstance(value, str) and not _is_clock(value):
        raise ValueError('must be a time of day as "HH:MM", e.g. "21:00"')
    return value


def _is_clock(value: str) -> bool:
    return (
        len(value) == 5 and value[2] == ":" and value[:2].isdigit() and value[3:].isdigit() and int(value[:2]) < 24 and int(value[3:]) < 60
    )


Clock = Annotated[str, BeforeValidator(_clock), documented_as(pattern=CLOCK_PATTERN)]


def _distinct(values: list) -> list:
    if len(set(values)) != len(values):
        raise ValueError("names each field once")
    return values


class QuietHours(StrictModel):
    """No contact from ``start`` to ``end``, in the lead's local time (over midnight when start > end;
    equal times: no quiet hours)."""

    start: Clock
    end: Clock

    def bounds(self) -> tuple[time, time]:
        return time.fromisoformat(self.start), time.fromisoformat(self.end)


class FrequencyCap(StrictModel):
    """At most ``max`` contacts on ``channel`` in any ``per_days`` days (a sliding window)."""

    channel: Literal[CHANNELS]
    max: Annotated[StrictInt, Field(ge=1, le=MAX_CAP)]
    per_days: Annotated[StrictInt, Field(ge=1, le=365)]


class RequireConsent(StrictModel):
    email: StrictBool = False
    sms: StrictBool = False
    phone: StrictBool = False


class Dedupe(StrictModel):
    """What to do with a lead that arrives again (acted on by ``leads.duplicates``)."""

    match_on: Annotated[
        list[Literal["email", "phone"]],
        Field(min_length=1, max_length=2, json_schema_extra={"uniqueItems": True}),
        AfterValidator(_distinct),
    ]
    window_days: Annotated[StrictInt, Field(ge=1, le=MAX_DEDUPE_DAYS)]
    action: Literal["merge", "reject"]


class ContactPolicy(StrictModel):
    """The whole policy; a field not given keeps its default (PUT changes only the fields given)."""

    quiet_hours: QuietHours | None = None
    frequency_caps: Annotated[list[FrequencyCap], Field(max_length=MAX_CAPS)] = []
    require_consent: RequireConsent = Field(default_factory=RequireConsent)
    when_blocked: Literal["defer", "skip"] = "defer"
    default_timezone: TimeZoneName = DEFAULT_TIMEZONE
    dedupe: Dedupe | None = None

    def caps_for(self, channel: str) -> list[FrequencyCap]:
        return [cap for cap in self.frequency_caps if cap.channel == channel]


def contact_policy(organization: Organization) -> ContactPolicy:
    """The organization's policy, defaults filled in. A stored field that is no longer valid (a time
    zone the zone database has since dropped) reads as its default rather than failing every check."""
    stored = organization.contact_policy or {}
    try:
        return ContactPolicy.model_validate(stored)
    except ValidationError:
        return ContactPolicy.model_validate({name: value for name, value in stored.items() if _valid_field(name, value)})


def _valid_field(name: str, value) -> bool:
    try:
        ContactPolicy.model_validate({name: value})
    except ValidationError:
        return False
    return True


def organization_policy(organization_id: int) -> ContactPolicy:
    return contact_policy(db.session.get(Organization, organization_id))


def update_contact_policy(organization: Organization, changes) -> tuple[ContactPolicy, dict]:
    """Validate ``changes`` (some of the policy's fields) over the current policy and store the result;
    returns it and what changed (``{field: {"old", "new"}}``) for the audit log. The caller commits."""
    if not isinstance(changes, dict):
        raise ValidationFailed([{"field": "body", "message": "must be an object"}])
    parse(ContactPolicy, changes)  # each given field checked on its own, with its own field path
    current = contact_policy(organization).model_dump(mode="json")
    merged = parse(ContactPolicy, {**current, **changes})
    new = merged.model_dump(mode="json")
    diff = {name: {"old": current[name], "new": new[name]} for name in new if current[name] != new[name]}
    organization.contact_policy = new
    return merged, diff
