"""The suppression list (SPEC §17): what a value of each kind must look like, adding, removing and
listing entries. The API and the page call these; the CSV import (``importer``) checks its rows
with the same ``normalise_value``.
"""

import re
from typing import Annotated, Literal

from email_validator import EmailNotValidError
from email_validator.syntax import validate_email_domain_name
from pydantic import ConfigDict, Field
from sqlalchemy import and_, false, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..audit import audit
from ..contactability.phones import e164_or_none
from ..extensions import db
from ..leads.schemas import DELIVERABLE, normalized_email
from ..models import Suppression, utcnow
from ..models.suppressions import SUPPRESSION_KINDS, SUPPRESSION_REASONS
from ..validation import WHITESPACE, StrictModel, ValidationFailed, line, one_of_kinds, parse

MAX_VALUE = 320
# What a phone number or a domain may be written with. The document states these; the numbering
# plan and the rules of domain names, which it cannot state, are checked by ``normalise_value``.
PHONE_TEXT = r"\+?[ (]*[0-9][0-9 ().-]*"
DOMAIN_TEXT = rf"[^{WHITESPACE}@\x00]+\.[^{WHITESPACE}@\x00]+"
_PHONE = re.compile(PHONE_TEXT)
_DOMAIN = re.compile(DOMAIN_TEXT)
EXAMPLES = {"email": "jane@example.com", "phone": "+1 512 555 0100", "domain": "example.com"}


def _padded(pattern: str) -> str:
    """A pattern of the whole value, with the blank around it that is trimmed before it is read."""
    return f"^[{WHITESPACE}]*{pattern}[{WHITESPACE}]*$"


_KINDS = [
    {
        "title": "EmailSuppression",
        "properties": {
            "kind": {"type": "string", "const": "email"},
            "value": {"type": "string", "format": "email", **DELIVERABLE.json_schema_extra},
        },
        "required": ["kind", "value", "reason"],
    },
    {
        "title": "PhoneSuppression",
        "properties": {
            "kind": {"type": "string", "const": "phone"},
            "value": {"type": "string", "pattern": _padded(PHONE_TEXT), "description": "A phone number: US without a country code"},
        },
        "required": ["kind", "value", "reason"],
    },
    {
        "title": "DomainSuppression",
        "properties": {"kind": {"type": "string", "const": "domain"}, "value": {"type": "string", "pattern": _padded(DOMAIN_TEXT)}},
        "required": ["kind", "value", "reason"],
    },
]


class SuppressionFields(StrictModel):
    """An entry of the suppression list. ``value``: an email address, a phone number (without a
    country code it is read as a US number; stored in E.164) or a domain, which suppresses every
    address at it. Emails and domains are stored lower-cased."""

    model_config = ConfigDict(json_schema_extra=one_of_kinds(_KINDS))

    kind: Literal[SUPPRESSION_KINDS]
    value: Annotated[str, Field(max_length=MAX_VALUE)]
    reason: Literal[SUPPRESSION_REASONS]
    source: line(100) = Field(default=None, description='Where it comes from, e.g. "CRM sync"; default: "api"')


def normalise_value(kind: str, value: str) -> tuple[str | None, str | None]:
    """``(stored value, None)``, or ``(None, why not)``: emails and domains lower-cased, phones in E.164."""
    value = (value or "").strip()
    if not value:
        return None, "is required"
    if "\x00" in value:
        return None, "must not contain NUL characters"
    if len(value) > MAX_VALUE:
        return None, f"must be at most {MAX_VALUE} characters"
    if kind == "phone":
        number = e164_or_none(value) if _PHONE.fullmatch(value) else None
        if number is None:
            return None, f"is not a phone number that can be read, e.g. {EXAMPLES['phone']}"
        return number, None
    if kind == "email":
        try:
            return normalized_email(value).lower(), None
        except EmailNotValidError as exc:
            return None, f"is not a valid email address: {str(exc)[:1].lower()}{str(exc)[1:]}"
    if kind == "domain":
        problem = f"is not a domain name, e.g. {EXAMPLES['domain']}"
        if not _DOMAIN.fullmatch(value):
            return None, problem
        try:
            return validate_email_domain_name(value, test_environment=False, globally_deliverable=True)["domain"].lower(), None
        except EmailNotValidError as exc:
            why = str(exc).replace("the part after the @-sign", "the domain")
            return None, f"{problem} ({why[:1].lower()}{why[1:].rstrip('.')})"
    return None, f"has no kind to be read as ({', '.join(SUPPRESSION_KINDS)})"


def check_suppression(data) -> dict:
    """The checked values of a new entry (``kind``, ``value`` normalised, ``reason``, ``source``);
    raises ValidationFailed with ``{field, message}``."""
    fields = parse(SuppressionFields, data)
    value, problem = normalise_value(fields.kind, fields.value)
    if problem:
        raise ValidationFailed([{"field": "value", "message": problem}])
    return {"kind": fields.kind, "value": value, "reason": fields.reason, "source": fields.source}


def add_suppression(organization_id: int, values: dict, source: str) -> tuple[Suppression, bool]:
    """Put the checked ``values`` on the list (audited; the caller commits). Returns the entry and
    whether it is new: a value already on the list keeps its entry, reason and source."""
    row = {
        "organization_id": organization_id,
        "kind": values["kind"],
        "value": values["value"],
        "reason": values["reason"],
        "source": (values.get("source") or source)[:100],
    }
    now = utcnow()
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(Suppression).values(**row, created_at=now, updated_at=now).on_conflict_do_nothing()
    is_new = db.session.execute(statement.returning(Suppression.id)).scalar() is not None
    entry = db.session.scalar(
        select(Suppression).where(
            Suppression.organization_id == organization_id, Suppression.kind == row["kind"], Suppression.value == row["value"]
        )
    )
    if is_new:
        audit("create", entry, {"kind": entry.kind, "value": entry.value, "reason": entry.reason, "source": entry.source})
    return entry, is_new


def remove_suppression(entry: Suppression) -> None:
    """Take the entry off the list (audited; the caller commits)."""
    audit("delete", entry, {"kind": entry.kind, "value": entry.value, "reason": entry.reason})
    db.session.delete(entry)


def suppression_list_query(organization_id: int, filters):
    """The organization's entries matching ``q`` (a part of the value; a phone number is also looked
    up in E.164), ``kind`` and ``reason``, newest first."""
    query = select(Suppression).where(Suppression.organization_id == organization_id)
    if filters.get("kind"):
        query = query.where(Suppression.kind == filters["kind"])
    if filters.get("reason"):
        query = query.where(Suppression.reason == filters["reason"])
    needle = " ".join((filters.get("q") or "").split()).lower()
    if "\x00" in needle:
        return query.where(false())  # no stored value holds a NUL (and PostgreSQL refuses it in a query)
    if needle:
        escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        found = Suppression.value.like(f"%{escaped}%", escape="\\")
        number = e164_or_none(needle) if _PHONE.fullmatch(needle) else None
        query = query.where(or_(found, and_(Suppression.kind == "phone", Suppression.value == number)) if number else found)
    return query.order_by(Suppression.id.desc())
