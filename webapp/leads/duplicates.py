"""Duplicates on arrival (SPEC §17): a lead that arrives again is merged into the lead already there, or refused.

The organization's contact policy says whether to look (``dedupe``; null: every arriving lead is new),
on what (the email lower-cased, the phone in E.164; a phone that could not be read matches nothing) and
how far back (leads created in the last ``window_days``). A lead matches when any of those keys is equal.

Arrivals come in batches (one lead is a batch of one): one query finds the existing leads that match any
row of the batch, and rows are then taken in order, as if they had arrived one after the other. A row
matching an existing lead is a duplicate of it (of the oldest, when several match); a row matching only
an earlier row of the batch is a duplicate of that row's lead (the first occurrence wins). ``merge``
updates the lead with the duplicate's non-empty values through ``update_lead`` (events, segments and
triggers as for any change) and records ``lead_duplicate_received``; ``reject`` refuses the row.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import String, any_, bindparam, func, or_, select
from sqlalchemy.dialects.postgresql import ARRAY

from ..contactability.policy import Dedupe, organization_policy
from ..extensions import db
from ..models import Lead, utcnow
from .changes import after_lead_changes, changes_collected, new_event
from .consents import record_consents
from .schemas import LeadFields
from .services import FIELD_EVENTS, create_lead, create_leads, update_lead

DUPLICATE_HEADER = "Leadflow-Duplicate-Of"
# What a duplicate may change on the lead; the consents it brings are recorded for the lead (history, not fields).
MERGED_FIELDS = tuple(name for name in LeadFields.model_fields if name not in getattr(LeadFields, "create_only", ()))
IN_LIST_CHUNK = 10_000  # keys per query where the database takes no array parameter (SQLite)


@dataclass(frozen=True)
class Duplicate:
    """What a row of a batch duplicates: an existing lead (``lead_id``) or an earlier row (``row``), and
    the keys it shares with it (``("email",)``)."""

    lead_id: int | None
    row: int | None
    matched_on: tuple[str, ...]

    def describe(self, row_name) -> str:
        """``"a duplicate of lead 17 (same email)"``; ``row_name(index)`` names an earlier row."""
        target = f"lead {self.lead_id}" if self.lead_id is not None else row_name(self.row)
        return f"a duplicate of {target} (same {' and '.join(self.matched_on)})"


@dataclass
class Arrivals:
    """What becomes of each row of a batch: ``duplicates`` (row index → Duplicate) under ``action``
    (``merge`` or ``reject``); every other row is a new lead. ``leads``: the matched existing leads."""

    action: str | None = None
    duplicates: dict[int, Duplicate] = field(default_factory=dict)
    leads: dict[int, Lead] = field(default_factory=dict)

    def new_rows(self, count: int) -> list[int]:
        return [index for index in range(count) if index not in self.duplicates]


class DuplicatesRejected(Exception):
    """Rows refused as duplicates (the policy's action is ``reject``): ``{row index: Duplicate}``."""

    def __init__(self, duplicates: dict[int, Duplicate]):
        super().__init__(f"{len(duplicates)} duplicate lead(s) rejected")
        self.duplicates = duplicates


def sort_arrivals(organization_id: int, rows: list[dict], dedupe: Dedupe | None = None) -> Arrivals:
    """Which rows (validated lead values) duplicate an existing lead of the organization or an earlier
    row; ``dedupe`` defaults to the organization's policy (None: nothing is a duplicate)."""
    if dedupe is None:
        dedupe = organization_policy(organization_id).dedupe
    if dedupe is None or not rows:
        return Arrivals()
    keys_of = [match_keys(row, dedupe.match_on) for row in rows]
    leads = existing_matches(organization_id, keys_of, dedupe)
    owner = {}  # key → (existing lead id, None) or (None, first row index)
    for lead in sorted(leads, key=lambda lead: lead.id):  # the oldest lead owns a key that several share
        for key in match_keys({"email": lead.email, "phone": lead.phone}, dedupe.match_on):
            owner.setdefault(key, (lead.id, None))
    arrivals = Arrivals(action=dedupe.action, leads={lead.id: lead for lead in leads})
    for index, keys in enumerate(keys_of):
        owners = [owner[key] for key in keys if key in owner]
        if not owners:
            for key in keys:
                owner[key] = (None, index)
            continue
        lead_id, row = min(owners, key=lambda found: (found[0] is None, found[0] or 0, found[1] or 0))
        matched_on = tuple(kind for kind, value in keys if owner.get((kind, value)) == (lead_id, row))
        arrivals.duplicates[index] = Duplicate(lead_id, row, matched_on)
        if dedupe.action == "merge":  # the merged lead now has this row's email and phone too
            for key in keys:
                owner.setdefault(key, (lead_id, row))
    return arrivals


def match_keys(values: dict, match_on) -> list[tuple[str, str]]:
    """The keys a lead is matched on: ``("email", lower-cased address)``, ``("phone", E.164)``."""
    keys = []
    if "email" in match_on and values.get("email"):
        keys.append(("email", values["email"].lower()))
    if "phone" in match_on and (values.get("phone") or "").startswith("+"):  # E.164; a phone kept as given matches nothing
        keys.append(("phone", values["phone"]))
    return keys


def existing_matches(organization_id: int, keys_of: list[list[tuple[str, str]]], dedupe: Dedupe) -> list[Lead]:
    """The organization's leads created within the window that share a key with any row: one indexed
    query (``ix_leads_org_email_lower``, ``ix_leads_org_phone``) per batch."""
    emails = sorted({value for keys in keys_of for kind, value in keys if kind == "email"})
    phones = sorted({value for keys in keys_of for kind, value in keys if kind == "phone"})
    if not emails and not phones:
        return []
    cutoff = utcnow() - timedelta(days=dedupe.window_days)
    found = {}
    for email_chunk, phone_chunk in _chunks(emails, phones):
        clauses = []
        if email_chunk:
            clauses.append(_one_of(func.lower(Lead.email), email_chunk))
        if phone_chunk:
            clauses.append(_one_of(Lead.phone, phone_chunk))
        query = select(Lead).where(Lead.organization_id == organization_id, Lead.created_at >= cutoff, or_(*clauses))
        found.update((lead.id, lead) for lead in db.session.scalars(query))
    return list(found.values())


def _chunks(emails: list[str], phones: list[str]):
    """The keys in one piece (PostgreSQL takes each list as one array parameter), or in pieces of
    ``IN_LIST_CHUNK`` where each value is a parameter of its own."""
    if db.engine.dialect.name == "postgresql":
        yield emails, phones
        return
    for start in range(0, max(len(emails), len(phones)), IN_LIST_CHUNK):
        yield emails[start : start + IN_LIST_CHUNK], phones[start : start + IN_LIST_CHUNK]


def _one_of(column, values: list[str]):
    if db.engine.dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(String)))
    return column.in_(values)


def receive_lead(organization_id: int, values: dict, actor_id: int | None = None) -> tuple[Lead, int | None]:
    """A lead arriving (API, form): created, or merged into the lead it duplicates; returns the lead and
    the id it duplicates (None: created). Raises DuplicatesRejected when the policy refuses duplicates."""
    arrivals = sort_arrivals(organization_id, [values])
    duplicate = arrivals.duplicates.get(0)
    if duplicate is None:
        return create_lead(organization_id, values, actor_id), None
    if arrivals.action == "reject":
        raise DuplicatesRejected(arrivals.duplicates)
    lead = arrivals.leads[duplicate.lead_id]
    with changes_collected():
        merge_duplicate(lead, values, duplicate, actor_id)
        _record_brought_consents(organization_id, [(lead.id, values)], actor_id)
    return lead, lead.id


@dataclass
class Received:
    """What became of a batch: the ids of the leads created, in the order of their rows, and the rows
    merged into a lead (``{row index: lead id}``)."""

    ids: list[int]
    merged: dict[int, int]


def receive_leads(organization_id: int, rows: list[dict], actor_id: int | None = None, arrivals: Arrivals | None = None) -> Received:
    """A batch arriving (bulk API, CSV import): the new rows created set-based (``create_leads``), the
    duplicates merged in order. ``arrivals``: the batch already sorted (``sort_arrivals``); raises
    DuplicatesRejected when the policy refuses duplicates and there are some."""
    if arrivals is None:
        arrivals = sort_arrivals(organization_id, rows)
    if not arrivals.duplicates:
        return Received(create_leads(organization_id, rows, actor_id), {})
    if arrivals.action == "reject":
        raise DuplicatesRejected(arrivals.duplicates)
    # A duplicate of an earlier row is folded into that row before it is created; its event follows.
    new = arrivals.new_rows(len(rows))
    created_rows = {index: dict(rows[index]) for index in new}
    folded = {}  # row index → the fields its values changed in the row it was folded into
    for index, duplicate in sorted(arrivals.duplicates.items()):
        if duplicate.lead_id is None:
            target = created_rows[duplicate.row]  # always a new row: a duplicate's keys lead to its first occurrence
            changes = merge_values(target, rows[index])
            folded[index] = sorted(name for name, value in changes.items() if _differs(target.get(name), value))
            target.update(changes)
    with changes_collected():
        ids = create_leads(organization_id, [created_rows[index] for index in new], actor_id)
        lead_of_row = dict(zip(new, ids, strict=True))
        merged = {}
        for index, duplicate in sorted(arrivals.duplicates.items()):
            if duplicate.lead_id is None:
                lead_id = lead_of_row[duplicate.row]
                _record_duplicate(organization_id, lead_id, rows[index], duplicate, folded[index], actor_id)
            else:
                lead_id = duplicate.lead_id
                merge_duplicate(arrivals.leads[lead_id], rows[index], duplicate, actor_id)
            merged[index] = lead_id
        _record_brought_consents(organization_id, [(lead_id, rows[index]) for index, lead_id in merged.items()], actor_id)
    return Received(ids, merged)


def merge_values(current: dict | Lead, values: dict) -> dict:
    """The duplicate's non-empty values that go onto the lead: blank fields, ``false`` (an opt-out is
    never undone by a duplicate), an empty tag list and the same email in another case change nothing;
    tags are added to the lead's."""
    changes = {}
    for name in MERGED_FIELDS:
        value = values.get(name)
        if value is None or value is False or value == "" or value == []:
            continue
        current_value = getattr(current, name) if isinstance(current, Lead) else current.get(name)
        if name == "tags":
            value = sorted(set(current_value or ()) | set(value))
        elif name == "email" and (current_value or "").lower() == value.lower():
            continue  # the address the lead was found by, in another case
        changes[name] = value
    return changes


def _differs(old, new) -> bool:
    if isinstance(old, list) and isinstance(new, list):  # tags: a set
        return set(old) != set(new)
    return old != new


def merge_duplicate(lead: Lead, values: dict, duplicate: Duplicate, actor_id: int | None = None) -> None:
    """Update ``lead`` with the duplicate's non-empty values (``update_lead``: one event per change) and
    record ``lead_duplicate_received`` with the fields that changed."""
    events = update_lead(lead, merge_values(lead, values), actor_id)
    changed = set()
    for event in events:
        if event.event_type == "lead_updated":
            changed.update(event.data["changes"])
        elif event.event_type in ("tag_added", "tag_removed"):
            changed.add("tags")
        elif event.event_type in FIELD_EVENTS.values():
            changed.add(event.data["field"])
    _record_duplicate(lead.organization_id, lead.id, values, duplicate, sorted(changed), actor_id)


def _record_brought_consents(organization_id: int, values_of_leads: list[tuple[int, dict]], actor_id) -> None:
    """The consents that duplicates brought (a ``consents`` list), recorded for the leads they merged into."""
    pairs = [(lead_id, values.get("consents")) for lead_id, values in values_of_leads if values.get("consents")]
    if pairs:
        after_lead_changes(organization_id, [lead_id for lead_id, _ in pairs], record_consents(organization_id, pairs, actor_id))


def _record_duplicate(organization_id: int, lead_id: int, values: dict, duplicate: Duplicate, changed: list[str], actor_id) -> None:
    data = {"changed": changed, "matched_on": list(duplicate.matched_on), "source": values.get("source")}
    event = new_event(organization_id, lead_id, "lead_duplicate_received", data, actor_id)
    after_lead_changes(organization_id, [lead_id], [event])
