"""What the audit log page shows: an entry's changes field by field, and a link to its object."""

from dataclasses import dataclass

from flask import url_for
from sqlalchemy import select

from ..extensions import db
from ..models import AuditLog, Automation, Campaign, EmailTemplate, Lead, ScheduledTask, Segment, User

# Object types (the audit entry's ``object_type``) that have a page: model, endpoint, its id argument.
OBJECT_PAGES = {
    "Lead": (Lead, "leads.detail", "lead_id"),
    "Segment": (Segment, "segments.detail", "segment_id"),
    "Automation": (Automation, "automations.editor", "automation_id"),
    "EmailTemplate": (EmailTemplate, "email_templates.editor", "template_id"),
    "Campaign": (Campaign, "campaigns.detail", "campaign_id"),
    "ScheduledTask": (ScheduledTask, "scheduled_tasks.detail", "task_id"),
    "User": (User, "admin.users", None),
}
OBJECT_NAMES = {"EmailTemplate": "Email template", "ScheduledTask": "Scheduled task"}
# Keys whose value is a list of things, never an ``[old, new]`` pair.
LIST_SUFFIXES = ("_leads", "_ids", "fields", "tags")
MAX_TEXT = 120
MAX_ITEMS = 10


@dataclass(frozen=True)
class FieldChange:
    field: str
    new: str
    old: str | None = None  # None: the entry recorded only the value, not what it was before


@dataclass(frozen=True)
class AuditObject:
    kind: str  # "Lead", "Email template"
    label: str  # the object's name now, or "#12"
    url: str | None  # None when the object is gone (or has no page)


def describe_changes(changes: dict | None) -> list[FieldChange]:
    """An entry's ``changes`` as one line per field, whatever shape its writer used.

    Writers record ``{field: new}``, ``{field: [old, new]}``, ``{field: {"old", "new"}}`` and, for
    leads, the lead events: ``{"lead_status_changed": {"field", "old", "new"}}``,
    ``{"lead_updated": {"changes": {field: {"old", "new"}}}}``, ``{"tag_added": {"tag": "vip"}}``.
    """
    lines = []
    for key, value in (changes or {}).items():
        if isinstance(value, dict) and "field" in value and ("old" in value or "new" in value):
            lines.append(_change(value["field"], value.get("old"), value.get("new")))
        elif isinstance(value, dict) and set(value) == {"changes"} and isinstance(value["changes"], dict):
            lines += describe_changes(value["changes"])
        elif isinstance(value, dict) and value and set(value) <= {"old", "new"}:
            lines.append(_change(key, value.get("old"), value.get("new")))
        elif isinstance(value, dict) and value and set(value) <= {"from", "to"}:
            lines.append(_change(key, value.get("from"), value.get("to")))
        elif isinstance(value, list) and len(value) == 2 and not key.endswith(LIST_SUFFIXES):
            lines.append(_change(key, value[0], value[1]))
        else:
            lines.append(FieldChange(_label(key), _text(value)))
    return lines


def _change(field: str, old, new) -> FieldChange:
    return FieldChange(_label(field), _text(new), _text(old))


def _label(key: str) -> str:
    return str(key).replace("_", " ")


def _text(value) -> str:
    """A recorded value as a person reads it: ``—`` for nothing, yes/no, lists joined, long text cut."""
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        shown = ", ".join(_text(item) for item in value[:MAX_ITEMS])
        return shown + (f" and {len(value) - MAX_ITEMS} more" if len(value) > MAX_ITEMS else "")
    if isinstance(value, dict):
        if set(value) >= {"field", "operator"}:  # a segment rule
            return " ".join(str(value.get(k, "")) for k in ("field", "operator", "value")).strip()
        return _cut("; ".join(f"{_label(k)}: {_text(v)}" for k, v in value.items()))
    return _cut(str(value))


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def audit_objects(organization_id: int, entries: list[AuditLog]) -> dict[tuple[str, int], AuditObject]:
    """The objects the entries name, by ``(object_type, object_id)``: linked where they still exist.

    One query per object type on the page, scoped to the organization."""
    wanted: dict[str, set[int]] = {}
    for entry in entries:
        if entry.object_type and entry.object_id:
            wanted.setdefault(entry.object_type, set()).add(entry.object_id)
    objects = {}
    for object_type, ids in wanted.items():
        kind = OBJECT_NAMES.get(object_type, object_type)
        found = {}
        if object_type in OBJECT_PAGES:
            model, endpoint, argument = OBJECT_PAGES[object_type]
            rows = db.session.scalars(select(model).where(model.organization_id == organization_id, model.id.in_(ids)))
            found = {row.id: row for row in rows}
        for object_id in ids:
            row = found.get(object_id)
            if row is None:
                objects[(object_type, object_id)] = AuditObject(kind, f"#{object_id}", None)
                continue
            url = url_for(endpoint, **{argument: object_id}) if argument else url_for(endpoint, _anchor=f"user-{object_id}")
            objects[(object_type, object_id)] = AuditObject(kind, _object_name(row) or f"#{object_id}", url)
    return objects


def _object_name(row) -> str | None:
    if isinstance(row, Lead):
        return row.full_name or row.email
    if isinstance(row, User):
        return row.display_name
    return getattr(row, "name", None)
