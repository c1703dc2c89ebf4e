"""The visual rule builder: the form convention it posts and what each rule row shows (SPEC §10).

A builder posts ``match_all`` (``true`` / ``false``) and, per row ``i`` (any integers, in order):
``rules-i-field``, ``rules-i-operator`` and ``rules-i-value`` (repeated for multi-value widgets;
comma-separated text is split for in/not_in). Datetime rows also post ``rules-i-mode``: ``date`` or
``datetime`` (with ``rules-i-value``), or a unit — ``minutes``, ``hours``, ``days``, ``weeks`` — with
``rules-i-amount`` for "N units ago" (``relative`` with ``rules-i-unit`` is accepted too).
Activity rows post ``rules-i-event_type``, and optionally ``rules-i-within_amount`` with
``rules-i-within_unit``, ``rules-i-at_least``, ``rules-i-template_id`` and ``rules-i-automation_id``
(whole numbers are sent as numbers; anything else as typed, for the engine to reject).

``rules_from_form`` turns that into raw rules for ``rules.validate_rules`` (one validation for the
API and the pages); ``builder_rows`` turns raw rules and their errors back into rows to render.
Used by the segment pages and by the automation editor (conditions).
"""

import re
from datetime import date, datetime, timezone

from flask import g, has_app_context
from sqlalchemy import select

from ..extensions import db
from ..models import Automation, EmailTemplate, Lead, LeadTag
from ..models.leads import LEAD_EVENT_TYPES
from ..validation import is_row_id
from .activity import REFERENCE_KEYS, WITHIN_UNITS, describe_activity, event_label
from .rules import ENUM_CHOICES, FIELD_TYPES, LIST_OPERATORS, RELATIVE_DATE, field_catalog
from .services import reference_names

ROW_KEY = re.compile(r"^rules-(\d+)-field$")
ERROR_PATH = re.compile(r"(?:^|\.)rules\[(\d+)\](?:\.([\w.]+))?$")
RELATIVE_UNITS = ("minutes", "hours", "days", "weeks")
DATE_MODES = {"date": "a date", "datetime": "a date & time (UTC)", **{unit: f"{unit} ago" for unit in RELATIVE_UNITS}}
DEFAULT_FIELD = "status"
TAG_SUGGESTIONS = 40
# An activity row's parts, as its errors name them (``rules[0].value.within``) and its row shows them.
ACTIVITY_PARTS = {
    "event_type": "Event",
    "at_least": "At least",
    "within": "Within",
    "template_id": "Email template",
    "automation_id": "Automation",
}
ACTIVITY_OPTIONAL = ("at_least", "template_id", "automation_id")
DEFAULT_EVENT_TYPE = "email_opened"
CHOICES_SHOWN = 500  # templates and automations an activity row offers
SHOWN_WITHIN = re.compile(r"^\s*(\S*)\s*(minute|hour|day|week)s?\s*$")  # as posted, valid or not (the engine judges)


def catalog() -> dict[str, dict]:
    """The field catalog by field name (field_catalog() in a dict)."""
    return {entry["name"]: entry for entry in field_catalog()}


def rule_rows_from_form(form) -> list[tuple[int, dict]]:
    """``(row index, raw rule)`` for each row posted, in row order."""
    indexes = sorted(int(match.group(1)) for key in form.keys() if (match := ROW_KEY.match(key)))
    return [(index, _raw_rule(form, index)) for index in indexes]


def rules_from_form(form) -> tuple[bool, list[dict]]:
    """``(match_all, raw_rules)`` from a posted builder (the convention above)."""
    match_all = (form.get("match_all") or "true").strip().lower() not in ("false", "0", "any", "off")
    return match_all, [rule for _, rule in rule_rows_from_form(form)]


def _raw_rule(form, index: int) -> dict:
    prefix = f"rules-{index}-"
    field = (form.get(prefix + "field") or "").strip()
    operator = (form.get(prefix + "operator") or "").strip()
    if field == "activity":
        return {"field": field, "operator": operator, "value": _activity_value(form, prefix)}
    values = [v for v in form.getlist(prefix + "value") if isinstance(v, str)]
    mode = form.get(prefix + "mode")
    if FIELD_TYPES.get(field) == "datetime" and (mode == "relative" or mode in RELATIVE_UNITS):
        amount = (form.get(prefix + "amount") or "").strip()
        unit = mode if mode in RELATIVE_UNITS else (form.get(prefix + "unit") or "days").strip()
        return {"field": field, "operator": operator, "value": f"{amount} {unit} ago" if amount else ""}
    if operator in LIST_OPERATORS:
        items = [item.strip() for value in values for item in value.split(",") if item.strip()]
        return {"field": field, "operator": operator, "value": items}
    return {"field": field, "operator": operator, "value": next((v.strip() for v in values if v.strip()), "")}


def _activity_value(form, prefix: str) -> dict:
    value = {"event_type": (form.get(prefix + "event_type") or "").strip()}
    amount = (form.get(prefix + "within_amount") or "").strip()
    if amount:
        value["within"] = f"{amount} {(form.get(prefix + 'within_unit') or 'days').strip()}"
    for key in ACTIVITY_OPTIONAL:
        text = (form.get(prefix + key) or "").strip()
        if text:
            value[key] = int(text) if text.isascii() and text.isdigit() else text
    return value


def errors_by_row(errors: list[dict]) -> tuple[dict[int, dict[str, str]], list[str]]:
    """Errors of rule ``i`` (``rules[i].value``, ``conditions.rules[i].field``, ...) by row, and the others.

    An error inside an activity rule's value (``rules[i].value.within``) is keyed ``value.within``
    and its message names the part ("Within: must be ...")."""
    rows: dict[int, dict[str, str]] = {}
    general = []
    for error in errors or []:
        match = ERROR_PATH.search(error.get("field", ""))
        if match:
            key = match.group(2) or "value"
            part = key.removeprefix("value.") if key.startswith("value.") else None
            message = f"{ACTIVITY_PARTS.get(part, part)}: {error['message']}" if part else error["message"]
            rows.setdefault(int(match.group(1)), {}).setdefault(key, message)
        else:
            general.append(error["message"] if error.get("field") in (None, "", "rules") else f"{error['field']}: {error['message']}")
    return rows, general


def builder_rows(rules: list[dict], errors: list[dict] | None = None) -> tuple[list[dict], list[str]]:
    """What the builder macro renders: a row per rule (with its errors), and errors of no row."""
    by_row, general = errors_by_row(errors or [])
    return [row_view(index, rule or {}, by_row.get(index, {})) for index, rule in enumerate(rules or [])], general


def row_view(index: int, rule: dict, errors: dict | None = None, mode: str | None = None) -> dict:
    """One row: the field, the operators that fit it, the widget that fits the operator, its value."""
    fields = catalog()
    field = rule.get("field") if rule.get("field") in fields else DEFAULT_FIELD
    entry = fields[field]
    operators = {op["name"]: op for op in entry["operators"]}
    operator = rule.get("operator") if rule.get("operator") in operators else entry["operators"][0]["name"]
    widget = operators[operator]["widget"]
    value = rule.get("value")
    view = {
        "index": index,
        "field": field,
        "entry": entry,
        "operator": operator,
        "widget": widget,
        "operators": entry["operators"],
        "fields": list(fields.values()),
        "errors": errors or {},
        "choices": list(ENUM_CHOICES.get(field, ())),
        "text": "",
        "selected": [],
        "mode": "date",
        "amount": "",
        "modes": DATE_MODES,
    }
    if widget == "activity":
        view.update(_activity_view(value if isinstance(value, dict) else {}))
        return view
    items = value if isinstance(value, list) else ([] if value in (None, "") else [value])
    if widget in ("multiselect", "tag_list"):
        view["selected"] = [str(item).lower() for item in _split(items)]
    elif widget in ("text_list", "number_list"):
        view["text"] = ", ".join(str(item) for item in _split(items))
    elif widget == "datetime":
        view.update(_datetime_view(str(items[0]) if items else "", mode))
    else:
        view["text"] = str(items[0]) if items else ""
    if widget in ("tag", "tag_list"):
        view["suggestions"] = _tag_suggestions(view["selected"] + ([view["text"]] if view["text"] else []))
    return view


def _activity_view(value: dict) -> dict:
    """An activity row's parts: the event type, ``within`` as an amount and a unit, the optional
    counts and ids as text, and the organization's templates and automations to choose from."""
    event_type = value.get("event_type") if value.get("event_type") in LEAD_EVENT_TYPES else DEFAULT_EVENT_TYPE
    within = SHOWN_WITHIN.match(value.get("within") or "") if isinstance(value.get("within"), str) else None
    view = {
        "event_type": event_type,
        "event_types": [(name, event_label(name).capitalize()) for name in LEAD_EVENT_TYPES],
        "within_amount": within.group(1) if within else "",
        "within_unit": within.group(2) + "s" if within else "days",
        "within_units": WITHIN_UNITS,
        **{key: "" if value.get(key) is None else str(value[key]) for key in ACTIVITY_OPTIONAL},
    }
    view["templates"] = _named_choices(EmailTemplate, view["template_id"])
    view["automations"] = _named_choices(Automation, view["automation_id"])
    return view


def _named_choices(model, chosen: str) -> list[tuple[str, str]]:
    """``(id, name)`` of the organization's templates or automations, by name; a chosen id that is
    not among them is kept (shown by its number) so that a redraw does not lose it."""
    organization_id = g.get("organization_id")
    rows = []
    if organization_id is not None:
        rows = db.session.execute(
            select(model.id, model.name).where(model.organization_id == organization_id).order_by(model.name, model.id).limit(CHOICES_SHOWN)
        ).all()
    choices = [(str(row.id), row.name) for row in rows]
    if chosen and chosen not in {id_ for id_, _ in choices}:
        choices.append((chosen, f"#{chosen}"))
    return choices


def _split(items: list) -> list:
    return [part.strip() for item in items for part in str(item).split(",") if part.strip()]


def _datetime_view(text: str, mode: str | None) -> dict:
    relative = RELATIVE_DATE.match(text.strip())
    if relative and (mode is None or mode == "relative" or mode in RELATIVE_UNITS):
        return {"mode": relative.group(2).lower() + "s", "amount": relative.group(1), "text": ""}
    if mode == "relative" or mode in RELATIVE_UNITS:
        return {"mode": mode if mode in RELATIVE_UNITS else "days", "amount": "", "text": ""}
    moment = _parse_moment(text)
    if mode == "datetime" or (mode is None and isinstance(moment, datetime)):
        shown = moment.strftime("%Y-%m-%dT%H:%M") if moment else ""
        return {"mode": "datetime", "text": shown}
    shown = moment.isoformat()[:10] if moment else ""
    return {"mode": "date", "text": shown}


def _parse_moment(text: str) -> date | datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.astimezone(timezone.utc) if moment.tzinfo else moment


def _tag_suggestions(chosen: list[str]) -> list[str]:
    """Tags of the organization's most recent leads (a cheap sample that never scans every lead), plus
    the ones already chosen."""
    organization_id = g.get("organization_id")
    tags = set(chosen)
    if organization_id is not None:
        recent = select(Lead.id).where(Lead.organization_id == organization_id).order_by(Lead.id.desc()).limit(5000).scalar_subquery()
        tags |= set(db.session.scalars(select(LeadTag.tag).where(LeadTag.lead_id.in_(recent)).distinct().limit(TAG_SUGGESTIONS)))
    return sorted(tags)


def requested_row(args) -> dict:
    """The row the builder asked for: a new one (``add``), or one row re-drawn after its field,
    operator or date mode changed (its inputs are in ``args``; ``rules-i-shown`` is the field it showed)."""
    rows = rule_rows_from_form(args)
    if args.get("add"):
        return row_view(max((index for index, _ in rows), default=-1) + 1, {})
    if not rows:
        return row_view(0, {})
    index, rule = rows[0]
    shown = args.get(f"rules-{index}-shown")
    if shown and shown != rule["field"]:
        rule = {**rule, "value": _carried_value(shown, rule["field"], rule["value"])}
    return row_view(index, rule, mode=args.get(f"rules-{index}-mode"))


def _carried_value(old_field: str, new_field: str, value):
    """What survives a change of field: enum values valid for the new field, or a value of the same type."""
    old_type, new_type = FIELD_TYPES.get(old_field), FIELD_TYPES.get(new_field)
    if old_type != new_type:
        return ""
    if new_type == "enum":
        choices = ENUM_CHOICES[new_field]
        kept = [item for item in (value if isinstance(value, list) else [value]) if item in choices]
        return kept if isinstance(value, list) else (kept[0] if kept else "")
    return value


def describe_rule(rule: dict) -> str:
    """A rule in words: ``Insurance type is auto``, ``Tags has any of the tags vip, hot``,
    ``Activity: email opened at least once in the last 7 days``."""
    entry = catalog().get(rule.get("field"))
    if entry is None:
        return f"{rule.get('field')} {rule.get('operator')} {rule.get('value')}"
    if rule.get("field") == "activity":
        value = rule.get("value") if isinstance(rule.get("value"), dict) else {}
        references = {key: id_ for key, id_ in value.items() if key in REFERENCE_KEYS and is_row_id(id_)}
        acting = g.get("organization_id") if references and has_app_context() else None
        names = reference_names(acting, [references]) if acting is not None else {}
        return f"Activity: {describe_activity(rule.get('operator'), value, names)}"
    operator = next(
        (op["label"] for op in entry["operators"] if op["name"] == rule.get("operator")), str(rule.get("operator")).replace("_", " ")
    )
    value = rule.get("value")
    shown = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return f"{entry['label']} {operator} {shown}"
