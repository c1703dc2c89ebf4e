"""Lead consents (SPEC §17): validated here, recorded for many leads in set-based statements, read
back as a history and as the current state per channel.

A consent is recorded with a lead (the ``consents`` list of lead create, bulk create and the CSV
import's consent columns), on its own (``POST /leads/{id}/consents``, the lead page's form), or by
an unsubscribe (an email revocation). Rows are never edited: the latest row of a channel by
``captured_at`` (then id) is the lead's current state on it. Each row records a ``consent_granted``
or ``consent_revoked`` lead event. Services never commit: the caller owns the transaction.
"""

import ipaddress
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, Field, TypeAdapter, ValidationError
from sqlalchemy import func, select

from ..extensions import db
from ..human_errors import human_errors
from ..models import LeadConsent, LeadEvent, utcnow
from ..models.consents import (
    CONSENT_CHANNELS,
    CONSENT_METHODS,
    CONSENT_STATUSES,
    MAX_DISCLOSURE_LENGTH,
    MAX_TOKEN_LENGTH,
    MAX_URL_LENGTH,
)
from ..validation import WHITESPACE, DateTime, StrictModel, ValidationFailed, choice, documented_as, line, optional, parse, text
from .bulk import insert_with_ids
from .changes import EventRow, after_lead_changes

MAX_CONSENTS_PER_LEAD = 10  # in one lead's ``consents`` list
CLOCK_SKEW = timedelta(minutes=5)  # a captured_at this far ahead of our clock is the sender's clock, not the future
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
# No \s: JSON Schema (ECMA) and Python differ on what it matches; the API document states this class.
NOT_TEXT = "\\x00"  # NUL, which no text field takes (``no_nul``)
URL_PATTERN = rf"^[Hh][Tt][Tt][Pp][Ss]?://[^{WHITESPACE}{NOT_TEXT}/?#@]+([/?#][^{WHITESPACE}{NOT_TEXT}]*)?$"

EVENT_TYPES = {"granted": "consent_granted", "revoked": "consent_revoked"}


def _moment(value: datetime | None) -> datetime | None:
    """An aware moment (a time without an offset is UTC), not in the future, not before 2000."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if value > utcnow() + CLOCK_SKEW:
        raise ValueError("must not be in the future")
    if value < EARLIEST:
        raise ValueError("must be in 2000 or later")
    return value.astimezone(UTC)


def _ip(value: str | None) -> str | None:
    """An IPv4 or IPv6 address, as written canonically (``2001:DB8::1`` → ``2001:db8::1``)."""
    if value is None:
        return None
    try:
        if "%" in value:  # a scoped IPv6 address names a local interface, not where a lead was
            raise ValueError
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError("must be an IPv4 or IPv6 address, like 203.0.113.7") from None


Url = text(MAX_URL_LENGTH, pattern=URL_PATTERN)
IpAddress = optional(
    Annotated[str, Field(max_length=45), AfterValidator(_ip), documented_as(anyOf=[{"format": "ipv4"}, {"format": "ipv6"}])]
)


class ConsentFields(StrictModel):
    """One consent or revocation of a lead on a channel, with the evidence of it. ``captured_at``
    (when the lead gave or withdrew it, ISO 8601; default now) may not be in the future; URLs are
    http(s)."""

    channel: choice(CONSENT_CHANNELS)
    status: choice(CONSENT_STATUSES)
    method: choice(CONSENT_METHODS) = "api"
    captured_at: Annotated[DateTime, AfterValidator(_moment)] = None
    source_url: Url = None
    ip: IpAddress = None
    disclosure_text: text(MAX_DISCLOSURE_LENGTH) = None
    certificate_url: Url = None  # e.g. a TrustedForm certificate
    lead_id_token: line(MAX_TOKEN_LENGTH) = None  # e.g. a Jornaya LeadiD


# A lead's consents as lead create takes them.
Consents = Annotated[list[ConsentFields], Field(max_length=MAX_CONSENTS_PER_LEAD)]
_CONSENT_LIST = TypeAdapter(Consents)


def validate_consent(data) -> dict:
    """The clean values of one consent body; raises ValidationFailed with field paths."""
    if not isinstance(data, dict):
        raise ValidationFailed([{"field": "body", "message": "must be an object"}])
    return parse(ConsentFields, data).model_dump()


def record_consents(organization_id: int, consents_of_leads, actor_id: int | None = None, now: datetime | None = None) -> list[EventRow]:
    """Record the consents of many leads: ``[(lead id, [consent values])]`` (clean: ``ConsentFields``
    dumps, or the dicts of a ``consents`` list of lead values). One insert for the consents and one for
    their lead events, whatever the number of leads; returns the events, for the caller's
    ``after_lead_changes``."""
    now = now or utcnow()
    rows = [
        _consent_record(organization_id, lead_id, consent, actor_id, now)
        for lead_id, consents in consents_of_leads
        for consent in consents or ()
    ]
    if not rows:
        return []
    consent_ids = insert_with_ids(LeadConsent.__table__, rows)
    event_rows = [
        {
            "organization_id": organization_id,
            "lead_id": row["lead_id"],
            "event_type": EVENT_TYPES[row["status"]],
            "data": {"consent_id": consent_id, "channel": row["channel"], "method": row["method"]},
            "actor_id": actor_id,
            "created_at": now,
        }
        for consent_id, row in zip(consent_ids, rows, strict=True)
    ]
    event_ids = insert_with_ids(LeadEvent.__table__, event_rows)
    return [EventRow(id=event_id, **row) for event_id, row in zip(event_ids, event_rows, strict=True)]


def _consent_record(organization_id: int, lead_id: int, consent: dict, actor_id: int | None, now: datetime) -> dict:
    """The column values of a new consent row: every column present (the insert needs the same keys)."""
    return {
        "organization_id": organization_id,
        "lead_id": lead_id,
        "channel": consent["channel"],
        "status": consent["status"],
        "method": consent.get("method") or "api",
        "captured_at": consent.get("captured_at") or now,
        "source_url": consent.get("source_url"),
        "ip": consent.get("ip"),
        "disclosure_text": consent.get("disclosure_text"),
        "certificate_url": consent.get("certificate_url"),
        "lead_id_token": consent.get("lead_id_token"),
        "created_by_id": actor_id,
        "created_at": now,
    }


def record_lead_consent(lead, values: dict, actor_id: int | None = None) -> LeadConsent:
    """Record one validated consent of a lead (``validate_consent``), its event through the lead-change
    hooks; returns the new row."""
    events = record_consents(lead.organization_id, [(lead.id, [values])], actor_id)
    after_lead_changes(lead.organization_id, [lead.id], events)
    return db.session.get(LeadConsent, events[0].data["consent_id"])


def revoke_email_consent(lead, source_url: str | None = None) -> None:
    """An unsubscribe withdraws the lead's email consent: a revocation row (method ``web_form``)."""
    revocation = {"channel": "email", "status": "revoked", "method": "web_form", "source_url": source_url}
    after_lead_changes(lead.organization_id, [lead.id], record_consents(lead.organization_id, [(lead.id, [revocation])]))


def consent_history(lead) -> list[LeadConsent]:
    """The lead's consents, newest first (by ``captured_at``, then id)."""
    statement = (
        select(LeadConsent)
        .where(LeadConsent.organization_id == lead.organization_id, LeadConsent.lead_id == lead.id)
        .order_by(LeadConsent.captured_at.desc(), LeadConsent.id.desc())
    )
    return list(db.session.scalars(statement))


def current_by_channel(history: list[LeadConsent]) -> dict[str, LeadConsent | None]:
    """The latest row of each channel in a history (newest first), or None."""
    current = dict.fromkeys(CONSENT_CHANNELS)
    for consent in history:
        current[consent.channel] = current[consent.channel] or consent
    return current


def current_consents(organization_id: int, lead_ids, channels=CONSENT_CHANNELS) -> dict[tuple[int, str], str]:
    """``{(lead id, channel): "granted" | "revoked"}``: the status of each lead's latest consent row on
    each channel, in one query (channels without any row are absent)."""
    lead_ids = list(lead_ids)
    if not lead_ids:
        return {}
    latest_first = (LeadConsent.captured_at.desc(), LeadConsent.id.desc())
    ranked = (
        select(
            LeadConsent.lead_id,
            LeadConsent.channel,
            LeadConsent.status,
            func.row_number().over(partition_by=(LeadConsent.lead_id, LeadConsent.channel), order_by=latest_first).label("place"),
        )
        .where(LeadConsent.organization_id == organization_id, LeadConsent.lead_id.in_(lead_ids), LeadConsent.channel.in_(channels))
        .subquery()
    )
    rows = db.session.execute(select(ranked.c.lead_id, ranked.c.channel, ranked.c.status).where(ranked.c.place == 1))
    return {(lead_id, channel): status for lead_id, channel, status in rows}


# --- the CSV import's consent columns ----------------------------------------------------------------

# Columns a lead import may map (``leads.importer``): a yes per channel grants that channel's consent
# (method ``import``); the evidence columns go to every consent granted by the row.
IMPORT_COLUMNS = {"consent_email": "email", "consent_sms": "sms", "consent_phone": "phone"}
EVIDENCE_COLUMNS = {"certificate_url": "certificate_url", "leadid_token": "lead_id_token"}
YES = frozenset(("yes", "y", "true", "1", "granted"))
NO = frozenset(("", "no", "n", "false", "0"))


def consents_from_columns(data: dict) -> dict:
    """A row of the import (``{field: cell}``) with its consent columns turned into the ``consents`` of
    lead values; raises ValidationFailed naming the column (``consent_sms: enter yes or no``)."""
    data = dict(data)
    answers = {channel: (data.pop(column, None) or "").strip().lower() for column, channel in IMPORT_COLUMNS.items()}
    evidence = {name: data.pop(column, None) for column, name in EVIDENCE_COLUMNS.items()}
    errors = [
        {"field": column, "message": "enter yes or no"}
        for column, channel in IMPORT_COLUMNS.items()
        if answers[channel] not in YES and answers[channel] not in NO
    ]
    if errors:
        raise ValidationFailed(errors)
    consents = [
        {"channel": channel, "status": "granted", "method": "import", **{k: v for k, v in evidence.items() if v}}
        for channel, answer in answers.items()
        if answer in YES
    ]
    if consents:
        try:
            _CONSENT_LIST.validate_python(consents)
        except ValidationError as exc:
            column_of = {name: column for column, name in EVIDENCE_COLUMNS.items()}
            found = {}
            for error in human_errors(exc):
                column = column_of.get(error["field"].rsplit(".", 1)[-1], error["field"])
                found.setdefault(column, error["message"])  # once, not once per channel
            raise ValidationFailed([{"field": column, "message": message} for column, message in found.items()]) from None
        data["consents"] = consents
    return data
