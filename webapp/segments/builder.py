"""The visual rule builder: the form convention it posts and what each rule row shows (SPEC §10).

A builder posts ``match_all`` (``true`` / ``false``) and, per row ``i`` (any integers, in order):
``rules-i-field``, ``rules-i-operator`` and ``rules-i-value`` (repeated for multi-value widgets;
comma-separated text is split for in/not_in). Datetime rows also post ``rules-i-mode``: ``date`` or
``datetime`` (with ``rules-i-value``), or a unit — ``minutes``, ``hours``, ``days``, ``weeks`` — with
``rules-i-amount`` for "N units ago" (``relative`` with ``rules-i-unit`` is accepted too).

``rules_from_form`` turns that into raw rules for ``rules.validate_rules`` (one validation for the
API and the pages); ``builder_rows`` turns raw rules and their errors back into rows to render.
Used by the segment pages and by the automation editor (conditions).
"""

import re
from datetime import date, datetime, timezone

from flask import g
from sqlalchemy import select

from ..extensions import db
from ..models import Lead, LeadTag
from .rules import ENUM_CHOICES, FIELD_TYPES, LIST_OPERATORS, RELATIVE_DATE, field_catalog

ROW_KEY = re.compile(r"^rules-(\d+)-field$")
ERROR_PATH = re.compile(r"(?:^|\.)rules\[(\d+)\](?:\.(\w+))?$")
RELATIVE_UNITS = ("minutes", "hours", "days", "weeks")
DATE_MODES = {"date": "a date", "datetime": "a date & time (UTC)", **{unit: f"{unit} ago" for unit in RELATIVE_UNITS}}
DEFAULT_FIELD = "status"
TAG_SUGGESTIONS = 40


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


def errors_by_row(errors: list[dict]) -> tuple[dict[int, dict[str, str]], list[str]]:
    """Errors of rule ``i`` (``rules[i].value``, ``conditions.rules[i].field``, ...) by row, and the others."""
    rows: dict[int, dict[str, str]] = {}
    general = []
    for error in errors or []:
        match = ERROR_PATH.search(error.get("field", ""))
        if match:
            key = match.group(2) or "value"
            rows.setdefault(int(match.group(1)), {}).setdefault(key, error["message"])
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
    """A rule in words: ``Insurance type is auto``, ``Tags has any of the tags vip, hot``."""
    entry = catalog().get(rule.get("field"))
    if entry is None:
        return f"{rule.get('field')} {rule.get('operator')} {rule.get('value')}"
    operator = next(
        (op["label"] for op in entry["operators"] if op["name"] == rule.get("operator")), str(rule.get("operator")).replace("_", " ")
    )
    value = rule.get("value")
    shown = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return f"{entry['label']} {operator} {shown}"
