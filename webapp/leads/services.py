"""Creating and changing leads: every change records its lead events in the same transaction.

Services validate, change rows and add events; they never commit: the caller (a view, a job)
owns the transaction.
"""

import functools
import re
from datetime import datetime
from decimal import Decimal

from pydantic import ValidationError
from sqlalchemy import delete, false, func, or_, select

from ..extensions import db
from ..human_errors import human_errors
from ..models import Campaign, Lead, LeadEvent, LeadTag, User, utcnow
from ..models.leads import MAX_TAG_LENGTH, PRIORITIES, STATUSES
from ..tenancy import ids_in_org
from ..validation import ValidationFailed, field_path, is_row_id, parse, presence_errors
from .bulk import insert_rows, insert_with_ids
from .changes import EventRow, after_lead_changes, new_event
from .consents import record_consents
from .schemas import BulkLeads, LeadFields

# Field → the event a change of it records; every other field records lead_updated.
FIELD_EVENTS = {
    "status": "lead_status_changed",
    "priority": "lead_priority_changed",
    "assigned_to_id": "lead_assigned",
    "value_estimate": "lead_value_changed",
}


def validate_lead(data, organization_id: int, *, partial: bool = False) -> dict:
    """Check a lead body; returns the clean values (only those given when ``partial``)."""
    if not isinstance(data, dict):
        raise ValidationFailed([{"field": "body", "message": "must be an object"}])
    fields = parse(LeadFields, data)
    return _checked_values(fields.model_dump(exclude_unset=partial), organization_id, partial)


def validate_lead_row(data: dict, organization_id: int) -> dict:
    """``validate_lead`` for a row of a file (the CSV import): the same rules, and messages that tell
    the person fixing the file what to enter (``human_errors``). A file's rows: ``LeadRows``."""
    return LeadRows(organization_id).check(data)


class LeadRows:
    """``validate_lead_row`` for the rows of one file: the campaign and assignee ids that the rows
    name are looked up once each, not once per row.

    (Each row is checked whole: keeping each distinct cell's answer for the file was measured slower,
    since names, addresses and phones differ from row to row and pydantic's cost is mostly per call.)
    """

    def __init__(self, organization_id: int):
        self.organization_id = organization_id
        self._in_org = functools.cache(_in_org)

    def check(self, data: dict) -> dict:
        """The clean values of one row; raises ValidationFailed with messages for people."""
        try:
            fields = LeadFields.model_validate(data)
        except ValidationError as exc:
            raise ValidationFailed(human_errors(exc)) from None
        return _checked_values(fields.model_dump(), self.organization_id, False, in_org=self._in_org)


def validate_leads(data, organization_id: int) -> list[dict]:
    """Check a bulk body ``{"leads": [...]}``; returns every lead's clean values, or raises with
    the errors of all of them (``leads[7].email``)."""
    body = parse(BulkLeads, data)
    rows, errors = [], []
    for index, fields in enumerate(body.leads):
        try:
            rows.append(_checked_values(fields.model_dump(), organization_id, False, f"leads[{index}]"))
        except ValidationFailed as exc:
            errors.extend(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    return rows


def _checked_values(values: dict, organization_id: int, partial: bool, prefix: str = "", in_org=None) -> dict:
    """The checks a field type cannot make: required fields kept, a way to tell who the lead is, ids
    of the organization (``in_org(model, id, organization_id)``: ``LeadRows`` remembers its answers)."""
    in_org = in_org or _in_org
    errors = presence_errors(LeadFields, values, partial=partial, prefix=prefix)
    if not partial:
        errors += contact_errors(values, prefix=prefix)
    for name in LeadFields.never_null:
        if not partial and name in values and values[name] is None:
            del values[name]  # null on create: the default
    if values.get("campaign_id") is not None and not in_org(Campaign, values["campaign_id"], organization_id):
        errors.append({"field": field_path(("campaign_id",), prefix), "message": "no such campaign"})
    if values.get("assigned_to_id") is not None and not in_org(User, values["assigned_to_id"], organization_id):
        errors.append({"field": field_path(("assigned_to_id",), prefix), "message": "no such user"})
    if errors:
        raise ValidationFailed(errors)
    return values


def _in_org(model, row_id: int, organization_id: int) -> bool:
    return bool(ids_in_org(model, [row_id], organization_id))


# A lead needs at least one of these (SPEC §14): a row without any is nobody anyone can reach.
CONTACT_FIELDS = ("first_name", "last_name", "email", "phone")
NO_CONTACT = "a lead needs at least one of first_name, last_name, email or phone"


def contact_errors(values: dict, lead: Lead | None = None, prefix: str = "") -> list[dict]:
    """Errors naming the four contact fields when a new lead (or ``lead`` once ``values`` are
    applied) would have none of them; nothing when ``values`` leave them unchanged."""
    if lead is not None and not any(name in values for name in CONTACT_FIELDS):
        return []
    if any(values[name] if name in values else getattr(lead, name, None) for name in CONTACT_FIELDS):
        return []
    return [{"field": field_path((name,), prefix), "message": NO_CONTACT} for name in CONTACT_FIELDS]


def create_leads(organization_id: int, rows: list[dict], actor_id: int | None = None) -> list[int]:
    """Insert validated leads, their tags and ``lead_created`` events in set-based statements."""
    if not rows:
        return []
    now = utcnow()
    ids = insert_with_ids(Lead.__table__, [_lead_record(organization_id, row, now) for row in rows])
    insert_rows(
        LeadTag.__table__, [{"lead_id": lead_id, "tag": tag} for lead_id, row in zip(ids, rows, strict=True) for tag in row.get("tags", [])]
    )
    event_rows = [
        {
            "organization_id": organization_id,
            "lead_id": lead_id,
            "event_type": "lead_created",
            "data": _created_data(row),
            "actor_id": actor_id,
            "created_at": now,
        }
        for lead_id, row in zip(ids, rows, strict=True)
    ]
    event_ids = insert_with_ids(LeadEvent.__table__, event_rows)
    events = [EventRow(id=event_id, **row) for event_id, row in zip(event_ids, event_rows, strict=True)]
    events += record_consents(organization_id, zip(ids, (row.get("consents") for row in rows), strict=True), actor_id, now)
    after_lead_changes(organization_id, ids, events)
    return ids


def create_lead(organization_id: int, values: dict, actor_id: int | None = None) -> Lead:
    """One lead with its tags and ``lead_created`` event, loaded for the caller (no second query)."""
    lead = Lead(**_lead_record(organization_id, values, utcnow()))
    lead.tag_rows = [LeadTag(tag=tag) for tag in values.get("tags", [])]
    db.session.add(lead)
    db.session.flush()
    event = new_event(organization_id, lead.id, "lead_created", _created_data(values), actor_id)
    consent_events = record_consents(organization_id, [(lead.id, values.get("consents"))], actor_id)
    after_lead_changes(organization_id, [lead.id], [event, *consent_events])
    return lead


NOT_COLUMNS = ("tags", "consents")  # rows of their own tables


def _lead_record(organization_id: int, values: dict, now) -> dict:
    """The column values of a new lead: every column present (executemany needs the same keys)."""
    record = {name: None for name in LeadFields.model_fields if name not in NOT_COLUMNS}
    record.update({k: v for k, v in values.items() if k not in NOT_COLUMNS})
    for name, default in (("status", "new"), ("priority", "medium"), ("email_opt_out", False)):
        if record[name] is None:
            record[name] = default
    record.update(organization_id=organization_id, created_at=now, updated_at=now)
    return record


def _created_data(values: dict) -> dict:
    return {"source": values.get("source")}


def update_lead(lead: Lead, values: dict, actor_id: int | None = None) -> list[LeadEvent]:
    """Apply validated changes to a lead and record one event per kind of change; a change that would
    leave the lead without a name, an email and a phone is refused."""
    errors = contact_errors(values, lead)
    if errors:
        raise ValidationFailed(errors)
    events = []
    updated = {}
    for name, new in values.items():
        if name == "tags":
            events += _set_tags(lead, new, actor_id)
            continue
        old = getattr(lead, name)
        if _same(old, new):
            continue
        setattr(lead, name, new)
        change = {"field": name, "old": _plain(old), "new": _plain(new)}
        if name in FIELD_EVENTS:
            events.append(new_event(lead.organization_id, lead.id, FIELD_EVENTS[name], change, actor_id))
        else:
            updated[name] = {"old": _plain(old), "new": _plain(new)}
    if updated:
        events.append(new_event(lead.organization_id, lead.id, "lead_updated", {"changes": updated}, actor_id))
    if events:
        lead.updated_at = utcnow()
        after_lead_changes(lead.organization_id, [lead.id], events)
    return events


def _set_tags(lead: Lead, tags: list[str], actor_id) -> list[LeadEvent]:
    current = set(lead.tags)
    wanted = set(tags)
    events = []
    for tag in sorted(wanted - current):
        lead.tag_rows.append(LeadTag(tag=tag))
        events.append(new_event(lead.organization_id, lead.id, "tag_added", {"tag": tag}, actor_id))
    for row in [r for r in lead.tag_rows if r.tag in current - wanted]:
        lead.tag_rows.remove(row)
        events.append(new_event(lead.organization_id, lead.id, "tag_removed", {"tag": row.tag}, actor_id))
    return events


def delete_lead(lead: Lead) -> None:
    db.session.delete(lead)


BULK_OPERATIONS = {"add_tag": "tag", "remove_tag": "tag", "set_status": "status", "set_priority": "priority"}


def apply_bulk_change(organization_id: int, lead_ids: list[int], operation: str, value: str, actor_id: int | None = None) -> int:
    """Add/remove a tag or set status/priority on many leads; returns how many changed."""
    if operation not in BULK_OPERATIONS:
        raise ValidationFailed([{"field": "operation", "message": f"unknown operation '{operation}'"}])
    value = (value or "").strip().lower()
    allowed = {"set_status": STATUSES, "set_priority": PRIORITIES}.get(operation)
    if not value or (value not in allowed if allowed else len(value) > MAX_TAG_LENGTH):
        raise ValidationFailed([{"field": BULK_OPERATIONS[operation], "message": f"invalid value '{value}'"}])
    changed = 0
    for start in range(0, len(lead_ids), 500):
        chunk = lead_ids[start : start + 500]
        leads = db.session.scalars(select(Lead).where(Lead.organization_id == organization_id, Lead.id.in_(chunk))).all()
        for lead in leads:
            tags = set(lead.tags)
            if operation == "add_tag":
                changes = {"tags": sorted(tags | {value})}
            elif operation == "remove_tag":
                changes = {"tags": sorted(tags - {value})}
            else:
                changes = {BULK_OPERATIONS[operation]: value}
            if update_lead(lead, changes, actor_id):
                changed += 1
    return changed


def _same(old, new) -> bool:
    if isinstance(old, Decimal) or isinstance(new, Decimal):
        return (Decimal(old) if old is not None else None) == (Decimal(new) if new is not None else None)
    return old == new


def _plain(value):
    if isinstance(value, Decimal):
        return float(value)
    return value


LIST_FILTERS = ("status", "priority", "source", "insurance_type", "state")


def lead_list_query(organization_id: int, filters: dict):
    """The leads of an organization matching list filters (exact fields, ``tag``, free text ``q``)."""
    query = select(Lead).where(Lead.organization_id == organization_id)
    if any("\x00" in str(value) for value in filters.values()):
        return query.where(false())  # no stored text contains NUL (and PostgreSQL refuses it in a query)
    for name in LIST_FILTERS:
        if filters.get(name):
            value = filters[name].upper() if name == "state" else filters[name]
            query = query.where(getattr(Lead, name) == value)
    if filters.get("tag"):
        query = query.where(
            select(LeadTag.lead_id).where(LeadTag.lead_id == Lead.id, LeadTag.tag == filters["tag"].strip().lower()).exists()
        )
    if filters.get("assigned_to_id"):
        assignee = str(filters["assigned_to_id"])
        assignee_id = int(assignee) if assignee.isdigit() else None
        query = query.where(Lead.assigned_to_id == assignee_id if is_row_id(assignee_id) else false())
    if filters.get("q"):
        query = query.where(search_clause(filters["q"]))
    return query


PHONE_PUNCTUATION = " -().+/"
PHONE_LIKE = re.compile(r"[\d\s().+/-]+")


def search_clause(q: str):
    """Free-text search: the full name ("Priya Johnson"), email, phone or city contains the text,
    case-insensitively and literally (``%`` is no wildcard); a phone number matches whatever its
    punctuation ("512-555-0142" finds "+1 (512) 555 0142")."""
    needle = " ".join(q.split())
    full_name = func.coalesce(Lead.first_name, "") + " " + func.coalesce(Lead.last_name, "")
    columns = (full_name, Lead.email, Lead.phone, Lead.city)
    clauses = [column.icontains(needle, autoescape=True) for column in columns]
    digits = re.sub(r"\D", "", needle)
    if len(digits) >= 3 and PHONE_LIKE.fullmatch(needle):
        phone_digits = Lead.phone
        for character in PHONE_PUNCTUATION:
            phone_digits = func.replace(phone_digits, character, "")
        clauses.append(phone_digits.contains(digits))
    return or_(*clauses)


def purge_lead_events(organization_id: int, cutoff: datetime) -> int:
    """Delete the organization's lead events recorded before ``cutoff`` (maintenance; not committed)."""
    statement = delete(LeadEvent).where(LeadEvent.organization_id == organization_id, LeadEvent.created_at < cutoff)
    return db.session.execute(statement).rowcount
