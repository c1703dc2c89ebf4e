"""The segment rule engine (SPEC §5): validate and coerce rules, compile them to SQL, evaluate one lead.

Pure: plain arguments in, plain results out; no request, no session. The SQL compiler and the Python
reference evaluator implement the same semantics and are checked against each other on PostgreSQL
and SQLite (tests/unit/test_rules_property.py):

- NULL: a lead with no value for a field matches not_equals, not_contains and not_in, nothing else.
- Text: case-insensitive and literal (``%`` and ``_`` are plain characters).
- Datetimes: UTC. A date-only value is midnight UTC; ``equals`` means the same UTC calendar day;
  relative values ("7 days ago") are kept as such and resolved against ``now`` when evaluated.
- Numbers: Decimal, at most two decimal places (the scale of ``leads.value_estimate``).
- Tags: compared exactly as stored (lower-case, trimmed); the rule's tag is lower-cased.
- Activity (``field: "activity"``): what the lead's events tell, see ``activity``. The evaluator is
  given the lead's events (``activity.events_query`` reads them); the compiler queries ``lead_events``.
- No rules: no leads.

Case-folding is done by the database's ``lower()`` and Python's ``str.lower()``: they agree on
ASCII letters everywhere; non-ASCII letters fold on PostgreSQL and in Python but not on SQLite.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation

from sqlalchemy import ColumnElement, Select, and_, false, func, literal_column, or_, select

from webapp.models.leads import (
    INSURANCE_TYPES,
    LEAD_EVENT_TYPES,
    MAX_TAG_LENGTH,
    PRIORITIES,
    SOURCES,
    STATUSES,
    US_STATES,
    Lead,
    LeadTag,
)
from webapp.validation import WHITESPACE, any_case_of, iso_date, normalise_tag

from . import activity
from .activity import Activity, ActivityEvent

# --- The catalog: fields, their types, operators and labels (what a rule builder needs) ---------

FIELD_TYPES: dict[str, str] = {
    "status": "enum",
    "priority": "enum",
    "source": "enum",
    "insurance_type": "enum",
    "state": "text",
    "city": "text",
    "value_estimate": "number",
    "created_at": "datetime",
    "updated_at": "datetime",
    "tags": "set",
    "activity": "activity",
}

FIELD_LABELS: dict[str, str] = {
    "status": "Status",
    "priority": "Priority",
    "source": "Source",
    "insurance_type": "Insurance type",
    "state": "State",
    "city": "City",
    "value_estimate": "Value estimate",
    "created_at": "Created",
    "updated_at": "Last updated",
    "tags": "Tags",
    "activity": "Activity",
}

ENUM_CHOICES: dict[str, tuple[str, ...]] = {
    "status": STATUSES,
    "priority": PRIORITIES,
    "source": SOURCES,
    "insurance_type": INSURANCE_TYPES,
}

OPERATOR_LABELS: dict[str, dict[str, str]] = {
    "enum": {"equals": "is", "not_equals": "is not", "in": "is any of", "not_in": "is none of"},
    "text": {
        "equals": "is",
        "not_equals": "is not",
        "contains": "contains",
        "not_contains": "does not contain",
        "starts_with": "starts with",
        "ends_with": "ends with",
        "in": "is any of",
        "not_in": "is none of",
    },
    "number": {
        "equals": "equals",
        "not_equals": "does not equal",
        "greater_than": "is greater than",
        "less_than": "is less than",
        "in": "is any of",
        "not_in": "is none of",
    },
    "datetime": {"greater_than": "is after", "less_than": "is before", "equals": "is on (UTC day)"},
    "set": {
        "contains": "has the tag",
        "not_contains": "does not have the tag",
        "in": "has any of the tags",
        "not_in": "has none of the tags",
    },
    "activity": activity.OPERATOR_LABELS,
}

OPERATORS: dict[str, tuple[str, ...]] = {kind: tuple(labels) for kind, labels in OPERATOR_LABELS.items()}
ALL_OPERATORS: tuple[str, ...] = tuple(dict.fromkeys(op for ops in OPERATORS.values() for op in ops))
LIST_OPERATORS = frozenset({"in", "not_in"})
NULL_MATCHING_OPERATORS = frozenset({"not_equals", "not_contains", "not_in"})
WHOLE_STATE_OPERATORS = frozenset({"equals", "not_equals", "in", "not_in"})  # their state values are state codes

VALUE_HINTS: dict[str, str] = {
    "enum": "one of the choices",
    "text": "text (case-insensitive)",
    "number": "a number, e.g. 1000 or 1500.50",
    "datetime": 'a date (2024-05-01), a datetime (2024-05-01T09:30:00Z) or e.g. "7 days ago"',
    "set": "a tag",
    "activity": activity.HINT,
}

MAX_TEXT_LENGTH = 255
MAX_LIST_ITEMS = 500
MAX_NUMBER = Decimal("999999999999.99")  # leads.value_estimate is Numeric(14, 2)
CENT = Decimal("0.01")
MIN_YEAR, MAX_YEAR = 1900, 2999
MAX_RELATIVE_SECONDS = 100 * 366 * 86400  # relative dates reach back at most 100 years
UNIT_SECONDS = {"minutes": 60, "hours": 3600, "days": 86400, "weeks": 7 * 86400}
RELATIVE_DATE = re.compile(r"^(\d{1,9})\s+(minute|hour|day|week)s?\s+ago$", re.IGNORECASE)


def field_catalog() -> list[dict]:
    """The fields a rule can address, each with its type, choices and fitting operators.

    Plain dicts for a rule builder: ``widget`` says which input fits the operator (``select``,
    ``multiselect``, ``text``, ``text_list``, ``number``, ``number_list``, ``datetime``, ``tag``,
    ``tag_list``, ``activity``); ``takes_list`` says the value is a list (a JSON list or comma-separated
    text). An activity rule's ``choices`` are the lead event types.
    """
    return [
        {
            "name": field,
            "label": FIELD_LABELS[field],
            "type": kind,
            "choices": list(LEAD_EVENT_TYPES if kind == "activity" else ENUM_CHOICES.get(field, ())),
            "hint": VALUE_HINTS[kind],
            "operators": [
                {
                    "name": operator,
                    "label": label,
                    "takes_list": operator in LIST_OPERATORS,
                    "widget": _widget(kind, operator),
                }
                for operator, label in OPERATOR_LABELS[kind].items()
            ],
        }
        for field, kind in FIELD_TYPES.items()
    ]


def _widget(kind: str, operator: str) -> str:
    single = {"enum": "select", "text": "text", "number": "number", "datetime": "datetime", "set": "tag", "activity": "activity"}
    many = {"enum": "multiselect", "text": "text_list", "number": "number_list", "set": "tag_list"}
    return many[kind] if operator in LIST_OPERATORS else single[kind]


def rule_json_schemas() -> list[dict]:
    """The rules this module accepts, as JSON Schemas for the API document: per field, one schema for
    its single-value operators and one for ``in``/``not_in``, each with the value that fits.
    A little stricter than ``validate_rules`` where a schema cannot be exact (dates keep to the years
    1901–2998 and to days 1–28; relative dates to three digits)."""
    alternatives = []
    for field, kind in FIELD_TYPES.items():
        for operators in _operator_groups(field, kind):
            if kind == "activity":
                value = activity.value_schema()
            elif operators[0] in LIST_OPERATORS:
                value = _list_value_schema(field, kind)
            else:
                value = _value_schema(field, kind, operators)
            alternatives.append(
                {
                    "type": "object",
                    "title": _rule_title(field, operators),
                    "properties": {
                        "field": {"type": "string", "const": field},
                        "operator": {"type": "string", "enum": operators},
                        "value": value,
                    },
                    "required": ["field", "operator", "value"],
                }
            )
    return alternatives


def _rule_title(field: str, operators: list[str]) -> str:
    """``StatusRule``, ``StatusListRule``, ``StateTextRule``: names that client generators make classes of."""
    if operators[0] in LIST_OPERATORS:
        kind = "List"
    elif field == "state" and operators[0] not in WHOLE_STATE_OPERATORS:
        kind = "Text"
    else:
        kind = ""
    return "".join(part.title() for part in field.split("_")) + kind + "Rule"


def _operator_groups(field: str, kind: str) -> list[list[str]]:
    """The field's operators, grouped by the value they take."""
    groups = [
        [operator for operator in OPERATORS[kind] if operator not in LIST_OPERATORS],
        [operator for operator in OPERATORS[kind] if operator in LIST_OPERATORS],
    ]
    if field == "state":  # a whole value is a state code; part of one is any text
        whole = [operator for operator in groups[0] if operator in WHOLE_STATE_OPERATORS]
        groups[:1] = [whole, [operator for operator in groups[0] if operator not in whole]]
    return [group for group in groups if group]


_NON_BLANK = r"\S"
_SPACE = f"[{WHITESPACE}]*"  # what str.strip() removes
_NUMBER_TEXT = _SPACE + r"-?[0-9]{1,12}(\.[0-9]{1,2})?" + _SPACE
_YEAR = r"(19(0[1-9]|[1-9][0-9])|2[0-8][0-9][0-9]|29[0-8][0-9])"
_DATE = iso_date(_YEAR)
_TIME = r"T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9])?"


def _value_schema(field: str, kind: str, operators: list[str]) -> dict:
    if kind == "enum":
        return {"type": "string", "enum": list(ENUM_CHOICES[field])}
    if kind == "number":
        return {
            "anyOf": [
                {"type": "number", "minimum": -float(MAX_NUMBER), "maximum": float(MAX_NUMBER), "multipleOf": 0.01},
                {"type": "string", "pattern": f"^{_NUMBER_TEXT}$"},
            ]
        }
    if kind == "datetime":
        relative = r"^[0-9]{1,3} (minute|hour|day|week)s? ago$"
        return {"type": "string", "pattern": f"^{_DATE}({_TIME})?$|{relative}", "description": VALUE_HINTS[kind]}
    if field == "state" and operators[0] in WHOLE_STATE_OPERATORS:
        return {"type": "string", "description": "a US state code, e.g. TX (any case)", "pattern": f"^{_any_case(US_STATES)}$"}
    longest = MAX_TAG_LENGTH if kind == "set" else MAX_TEXT_LENGTH
    return {"type": "string", "minLength": 1, "maxLength": longest, "pattern": _NON_BLANK}


def _list_value_schema(field: str, kind: str) -> dict:
    """A JSON list of values, or comma-separated text (and, for numbers, one number)."""
    item = _value_schema(field, kind, ["in"])
    if kind == "enum":
        word = f"({'|'.join(map(re.escape, ENUM_CHOICES[field]))})"
    elif kind == "number":
        word = _NUMBER_TEXT
    elif field == "state":
        word = _any_case(US_STATES)
    else:
        word = None
    text = {"type": "string", "description": "comma-separated values"}
    if word:
        text["pattern"] = f"^{_SPACE}{word}{_SPACE}(,{_SPACE}{word}{_SPACE})*$"
    else:
        text.update(maxLength=item["maxLength"], pattern=r"^[^\x00]*[^\s,\x00][^\x00]*$")  # not only commas; no NUL
    alternatives = [{"type": "array", "items": item, "minItems": 1, "maxItems": MAX_LIST_ITEMS}, text]
    if kind == "number":
        alternatives.append(item["anyOf"][0])
    return {"anyOf": alternatives}


def _any_case(words) -> str:
    return any_case_of(sorted(words)).removeprefix("^").removesuffix("$")


# --- Rules ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RelativeDate:
    """A moment relative to evaluation time: ``RelativeDate(7, "days")`` is "7 days ago"."""

    amount: int
    unit: str  # minutes, hours, days or weeks

    def resolve(self, now: datetime) -> datetime:
        return now - timedelta(**{self.unit: self.amount})

    def __str__(self) -> str:
        unit = self.unit[:-1] if self.amount == 1 else self.unit
        return f"{self.amount} {unit} ago"


RuleValue = str | Decimal | date | datetime | RelativeDate | Activity


@dataclass(frozen=True)
class Rule:
    """One validated rule. ``value`` is coerced to the field's type, a tuple for in/not_in.

    Text values keep their case (state is upper-cased); enum values and tags are lower-case;
    numbers are Decimal with two places; datetimes are a ``date`` (midnight UTC), an aware UTC
    ``datetime`` or a ``RelativeDate``; an activity rule's value is an ``Activity``.
    """

    field: str
    operator: str
    value: RuleValue | tuple[RuleValue, ...]

    @property
    def field_type(self) -> str:
        return FIELD_TYPES[self.field]

    def as_dict(self) -> dict:
        """The rule as JSON-ready data, with the value in its canonical form."""
        return {"field": self.field, "operator": self.operator, "value": _json_value(self.value)}


def _json_value(value):
    if isinstance(value, tuple):
        return [_json_value(item) for item in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (Decimal, RelativeDate)):
        return str(value)
    if isinstance(value, Activity):
        return value.as_dict()
    return value


def has_relative_dates(rules: list[Rule]) -> bool:
    """Whether the rules' answer changes as time passes (a relative date such as "7 days ago", an
    activity rule ``within`` a time)."""
    return any(isinstance(rule.value, RelativeDate) or (isinstance(rule.value, Activity) and rule.value.within) for rule in rules)


def activity_event_types(rules: list[Rule]) -> set[str]:
    """The event types the rules' activity rules read: the events an evaluation needs (none: no
    activity rule). A segment with activity rules changes as events are recorded."""
    return {rule.value.event_type for rule in rules if isinstance(rule.value, Activity)}


# --- Validation and coercion ---------------------------------------------------------------------


class RuleValueError(ValueError):
    """A rule value that cannot be coerced to its field's type; the message is shown to the user."""


# ``references(key, ids)``: which of these ids (``template_id`` or ``automation_id`` values) name
# objects of the organization; the service that saves rules hands one in (``segments.services``).
References = Callable[[str, set[int]], set[int]]


def validate_rules(raw_rules: list, references: References | None = None) -> tuple[list[Rule], list[dict]]:
    """Validate raw rule dicts ``{field, operator, value}`` and coerce their values.

    Returns ``(rules, errors)``. Errors are ``{"field": "rules[1].value", "message": ...}``, naming
    the rule's index and key (``rules[0].value.within`` inside an activity rule's value); when there
    are any, ``rules`` is empty. Other keys of a rule (such as ``position``) are ignored.
    With ``references``, the ids an activity rule names must be the organization's ("no such
    email template" otherwise, as for a missing one); without, they are not looked up (stored rules,
    checked when saved, are evaluated that way).
    """
    if not isinstance(raw_rules, list):
        return [], [_error("rules", "must be a list of rules")]
    rules: list[Rule] = []
    errors: list[dict] = []
    for index, raw in enumerate(raw_rules):
        rule, rule_errors = _validate_rule(f"rules[{index}]", raw)
        errors.extend(rule_errors)
        if rule is not None:
            rules.append(rule)
    if references is not None and not errors:
        errors = _reference_errors(rules, references)
    return ([], errors) if errors else (rules, [])


def _reference_errors(rules: list[Rule], references: References) -> list[dict]:
    """One lookup per kind of id for all the rules."""
    named = [
        (index, key, id_)
        for index, rule in enumerate(rules)
        if isinstance(rule.value, Activity)
        for key, id_ in rule.value.references().items()
    ]
    errors = []
    for key, kind in activity.REFERENCE_KEYS.items():
        wanted = [(index, id_) for index, named_key, id_ in named if named_key == key]
        found = references(key, {id_ for _, id_ in wanted}) if wanted else set()
        errors += [_error(f"rules[{index}].value.{key}", f"no such {kind}") for index, id_ in wanted if id_ not in found]
    return sorted(errors, key=lambda error: error["field"])


def _error(field: str, message: str) -> dict:
    return {"field": field, "message": message}


def _validate_rule(prefix: str, raw) -> tuple[Rule | None, list[dict]]:
    if not isinstance(raw, dict):
        return None, [_error(prefix, "must be an object with field, operator and value")]
    field, operator = raw.get("field"), raw.get("operator")
    errors = []
    if field is None or field == "":
        errors.append(_error(f"{prefix}.field", "is required"))
    elif not isinstance(field, str) or field not in FIELD_TYPES:
        errors.append(_error(f"{prefix}.field", f"unknown field {field!r}; use one of {', '.join(FIELD_TYPES)}"))
    if operator is None or operator == "":
        errors.append(_error(f"{prefix}.operator", "is required"))
    elif not isinstance(operator, str) or operator not in ALL_OPERATORS:
        errors.append(_error(f"{prefix}.operator", f"unknown operator {operator!r}; use one of {', '.join(ALL_OPERATORS)}"))
    elif not errors and operator not in OPERATORS[FIELD_TYPES[field]]:
        fitting = ", ".join(OPERATORS[FIELD_TYPES[field]])
        errors.append(_error(f"{prefix}.operator", f"{operator!r} does not apply to {field}; use one of {fitting}"))
    if errors:
        return None, errors
    if field == "activity":
        value, errors = activity.validate_activity(raw.get("value"), f"{prefix}.value")
        return (Rule(field, operator, value), []) if value is not None else (None, errors)
    try:
        value = _coerce_value(field, operator, raw.get("value"))
    except RuleValueError as exc:
        return None, [_error(f"{prefix}.value", str(exc))]
    return Rule(field, operator, value), []


def _coerce_value(field: str, operator: str, raw) -> RuleValue | tuple[RuleValue, ...]:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise RuleValueError("is required")
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float, list)):
        raise RuleValueError("must be a string, a number or a list")
    coerce_one = _COERCERS[FIELD_TYPES[field]]
    if operator not in LIST_OPERATORS:
        if isinstance(raw, list):
            raise RuleValueError(f"{operator!r} takes a single value, not a list")
        return coerce_one(field, operator, raw)
    values: list[RuleValue] = []
    for position, item in enumerate(_list_items(raw), start=1):
        try:
            value = coerce_one(field, operator, item)
        except RuleValueError as exc:
            raise RuleValueError(f"item {position}: {exc}") from None
        if value not in values:
            values.append(value)
    return tuple(values)


def _list_items(raw) -> list:
    """The items of an in/not_in value: a JSON list, comma-separated text, or one number."""
    if isinstance(raw, list):
        items = raw
    elif isinstance(raw, str):
        items = [part.strip() for part in raw.split(",") if part.strip()]
    else:
        items = [raw]
    if not items:
        raise RuleValueError("must list at least one value")
    if len(items) > MAX_LIST_ITEMS:
        raise RuleValueError(f"may list at most {MAX_LIST_ITEMS} values")
    return items


def _text_of(raw, what: str) -> str:
    if not isinstance(raw, str):
        raise RuleValueError(f"must be {what}")
    text = raw.strip()
    if not text:
        raise RuleValueError("must not be empty")
    if len(text) > MAX_TEXT_LENGTH:
        raise RuleValueError(f"must be at most {MAX_TEXT_LENGTH} characters")
    return text


def _coerce_enum(field: str, operator: str, raw) -> str:
    choices = ENUM_CHOICES[field]
    value = _text_of(raw, f"one of {', '.join(choices)}").lower()
    if value not in choices:
        raise RuleValueError(f"{raw!r} is not a valid {field}; use one of {', '.join(choices)}")
    return value


def _coerce_text(field: str, operator: str, raw) -> str:
    value = _text_of(raw, "text")
    if field != "state":
        return value
    value = value.upper()
    if operator in WHOLE_STATE_OPERATORS and value not in US_STATES:
        raise RuleValueError(f"{raw!r} is not a US state code (two letters, e.g. TX)")
    return value


def _coerce_number(field: str, operator: str, raw) -> Decimal:
    if isinstance(raw, (int, float)):
        text = repr(raw)
    else:
        text = _text_of(raw, "a number")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise RuleValueError(f"{raw!r} is not a number") from None
    if not value.is_finite() or abs(value) > MAX_NUMBER:
        raise RuleValueError(f"must be a number between -{MAX_NUMBER} and {MAX_NUMBER}")
    cents = value.quantize(CENT)
    if cents != value:
        raise RuleValueError(f"{raw!r} has more than 2 decimal places")
    return cents


def _coerce_datetime(field: str, operator: str, raw) -> date | datetime | RelativeDate:
    text = _text_of(raw, 'a date, a datetime or a relative date such as "7 days ago"')
    relative = RELATIVE_DATE.match(text)
    if relative:
        return _relative_date(int(relative.group(1)), relative.group(2).lower() + "s")
    try:
        value = date.fromisoformat(text)
    except ValueError:
        value = _parse_datetime(text)
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise RuleValueError(f"{raw!r}: the year must be between {MIN_YEAR} and {MAX_YEAR}")
    return value


def _parse_datetime(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise RuleValueError(
            f'{text!r} is not an ISO date (2024-05-01), datetime (2024-05-01T09:30:00Z) or relative date ("7 days ago")'
        ) from None
    return _as_utc(value)


def _relative_date(amount: int, unit: str) -> RelativeDate:
    if amount * UNIT_SECONDS[unit] > MAX_RELATIVE_SECONDS:
        raise RuleValueError("a relative date reaches back at most 100 years")
    return RelativeDate(amount, unit)


def _coerce_tag(field: str, operator: str, raw) -> str:
    try:
        return normalise_tag(_text_of(raw, "a tag"))  # a longer tag than lead_tags.tag holds can never match
    except ValueError as exc:
        raise RuleValueError(str(exc)) from None


_COERCERS = {
    "enum": _coerce_enum,
    "text": _coerce_text,
    "number": _coerce_number,
    "datetime": _coerce_datetime,
    "set": _coerce_tag,
}


# --- Datetimes, shared by the compiler and the evaluator -------------------------------------------


def _as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _resolve_datetime(value: date | datetime | RelativeDate, now: datetime) -> datetime:
    if isinstance(value, RelativeDate):
        return value.resolve(_as_utc(now))
    if isinstance(value, datetime):
        return _as_utc(value)
    return datetime.combine(value, time(), tzinfo=timezone.utc)


def _utc_day(moment: datetime) -> tuple[datetime, datetime]:
    """The start and end (exclusive) of the UTC calendar day holding ``moment``."""
    start = datetime.combine(moment.date(), time(), tzinfo=timezone.utc)
    return start, start + timedelta(days=1)


# --- Compiling to SQL ------------------------------------------------------------------------------

leads = Lead.__table__
lead_tags = LeadTag.__table__


def compile_rules(
    rules: list[Rule], match_all: bool, organization_id: int, now: datetime, *, per_lead: bool = False
) -> ColumnElement[bool]:
    """One SQL condition over ``leads`` selecting the organization's leads that match the rules.

    ``match_all`` joins the rules with AND, otherwise OR; no rules match nothing. Relative dates are
    resolved against ``now``. The condition uses plain column comparisons, ``lower(col)`` for text
    (not for state, stored upper-case), EXISTS on ``lead_tags`` for tags and on ``lead_events`` for activity, so it runs the same on
    PostgreSQL and SQLite. ``per_lead``: the condition is evaluated for a few given leads (a
    re-check), not to select among all of them; the answer is the same, the plan fits that use
    (see ``activity.activity_clause``).
    """
    if not rules:
        return false()
    clauses = [_compile_rule(rule, organization_id, now, per_lead) for rule in rules]
    combined = and_(*clauses) if match_all else or_(*clauses)
    return and_(leads.c.organization_id == organization_id, combined)


def matching_lead_ids_query(rules: list[Rule], match_all: bool, organization_id: int, now: datetime) -> Select:
    """``SELECT leads.id`` of the matching leads; callers add count, order and limit.

    Rules joined by OR that include tag rules: each tag rule becomes an outer join to the distinct
    leads having its tags, tested with ``IS [NOT] NULL``, instead of an EXISTS per lead. An EXISTS (or
    an IN) inside an OR cannot become a semi-join: PostgreSQL probes the tag index once per lead, or
    builds a hashed subplan that turns into a rescan once the tag's leads outgrow ``work_mem``; the
    joins are hash joins it may run in parallel. The same leads (the property test checks it);
    ``bench/segments.py`` measures the forms (at 10 M leads: EXISTS 13.6 s, join 2.6 s).
    """
    if match_all or len(rules) < 2 or not any(rule.field_type == "set" for rule in rules):
        return select(leads.c.id).where(compile_rules(rules, match_all, organization_id, now))
    source, clauses = leads, []
    for position, rule in enumerate(rules):
        if rule.field_type != "set":
            clauses.append(_compile_rule(rule, organization_id, now, per_lead=False))
            continue
        tags = rule.value if rule.operator in LIST_OPERATORS else (rule.value,)
        tagged = select(lead_tags.c.lead_id).where(lead_tags.c.tag.in_(tags)).distinct().subquery(f"tagged_{position}")
        source = source.outerjoin(tagged, tagged.c.lead_id == leads.c.id)
        has_tag = tagged.c.lead_id.is_not(None)
        clauses.append(has_tag if rule.operator in ("contains", "in") else tagged.c.lead_id.is_(None))
    return select(leads.c.id).select_from(source).where(leads.c.organization_id == organization_id, or_(*clauses))


def _compile_rule(rule: Rule, organization_id: int, now: datetime, per_lead: bool) -> ColumnElement[bool]:
    kind = rule.field_type
    if kind == "activity":
        return activity.activity_clause(rule.operator, rule.value, organization_id, now, per_lead)
    if kind == "set":
        return _tag_clause(rule.operator, rule.value)
    column = leads.c[rule.field]
    if rule.field == "state":
        return _state_clause(column, rule.operator, rule.value)
    if kind == "text":
        return _text_clause(column, rule.operator, rule.value)
    if kind == "datetime":
        return _datetime_clause(column, rule.operator, _resolve_datetime(rule.value, now))
    return _plain_clause(column, rule.operator, rule.value)


def _or_null(column, clause: ColumnElement[bool]) -> ColumnElement[bool]:
    """A negative clause that also matches leads without a value (skipped for NOT NULL columns)."""
    return or_(column.is_(None), clause) if column.nullable else clause


def _plain_clause(column, operator: str, value) -> ColumnElement[bool]:
    """Enums and numbers: the column compared as stored, so its indexes apply."""
    if operator == "equals":
        return column == value
    if operator == "not_equals":
        return _or_null(column, column != value)
    if operator == "greater_than":
        return column > value
    if operator == "less_than":
        return column < value
    if operator == "in":
        return column.in_(value)
    if operator == "not_in":
        return _or_null(column, column.not_in(value))
    raise ValueError(f"operator {operator!r} does not apply to {column.name}")


# LIKE patterns escaped by SQLAlchemy: ``%``, ``_`` and ``\\`` in a value are plain characters.
LITERAL_LIKE = {"autoescape": True, "escape": "\\"}


def _text_clause(column, operator: str, value) -> ColumnElement[bool]:
    """Text: ``lower(col)`` against the value lower-cased in Python, as the evaluator compares.

    Not ``icontains()``: on PostgreSQL that is ILIKE, whose case-folding is not ``lower()``'s.
    """
    lowered = func.lower(column)
    if operator in LIST_OPERATORS:
        values = [item.lower() for item in value]
        return lowered.in_(values) if operator == "in" else _or_null(column, lowered.not_in(values))
    text = value.lower()
    if operator == "equals":
        return lowered == text
    if operator == "not_equals":
        return _or_null(column, lowered != text)
    if operator == "contains":
        return lowered.contains(text, **LITERAL_LIKE)
    if operator == "not_contains":
        return _or_null(column, ~lowered.contains(text, **LITERAL_LIKE))
    if operator == "starts_with":
        return lowered.startswith(text, **LITERAL_LIKE)
    if operator == "ends_with":
        return lowered.endswith(text, **LITERAL_LIKE)
    raise ValueError(f"operator {operator!r} does not apply to {column.name}")


def _state_clause(column, operator: str, value) -> ColumnElement[bool]:
    """State: stored upper-case (a check constraint holds it) and the rule's value upper-cased, so the
    column is compared as stored, without ``lower()``, and its indexes and statistics apply."""
    if operator in ("equals", "not_equals", "in", "not_in"):
        return _plain_clause(column, operator, value)
    if operator == "contains":
        return column.contains(value, **LITERAL_LIKE)
    if operator == "not_contains":
        return _or_null(column, ~column.contains(value, **LITERAL_LIKE))
    if operator == "starts_with":
        return column.startswith(value, **LITERAL_LIKE)
    if operator == "ends_with":
        return column.endswith(value, **LITERAL_LIKE)
    raise ValueError(f"operator {operator!r} does not apply to {column.name}")


def _datetime_clause(column, operator: str, moment: datetime) -> ColumnElement[bool]:
    """Datetimes: plain range comparisons (``equals`` is the UTC day holding ``moment``)."""
    if operator == "greater_than":
        return column > moment
    if operator == "less_than":
        return column < moment
    if operator == "equals":
        start, end = _utc_day(moment)
        return and_(column >= start, column < end)
    raise ValueError(f"operator {operator!r} does not apply to {column.name}")


def _has_tag(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    subquery = select(literal_column("1")).select_from(lead_tags)
    return subquery.where(lead_tags.c.lead_id == leads.c.id, condition).correlate(leads).exists()


def _tag_clause(operator: str, value) -> ColumnElement[bool]:
    """Tags: EXISTS / NOT EXISTS on ``lead_tags`` (its primary key is ``(lead_id, tag)``)."""
    if operator == "contains":
        return _has_tag(lead_tags.c.tag == value)
    if operator == "not_contains":
        return ~_has_tag(lead_tags.c.tag == value)
    if operator == "in":
        return _has_tag(lead_tags.c.tag.in_(value))
    if operator == "not_in":
        return ~_has_tag(lead_tags.c.tag.in_(value))
    raise ValueError(f"operator {operator!r} does not apply to tags")


# --- The reference evaluator: one lead, in Python ----------------------------------------------------


def lead_field_values(lead: Lead) -> dict:
    """The rule fields of a lead (all but tags and activity) as the evaluator expects them."""
    return {field: getattr(lead, field) for field, kind in FIELD_TYPES.items() if kind not in ("set", "activity")}


def evaluate_rule(rule: Rule, lead_values: dict, tags: set[str], now: datetime, events: list[ActivityEvent] | None = None) -> bool:
    """Whether one lead matches one rule, with exactly the semantics of the compiled SQL.

    ``lead_values`` maps the fields to the lead's values (aware UTC datetimes, Decimal or None for
    value_estimate); ``tags`` is the lead's tags as stored; ``events`` the lead's events of (at least)
    the types its activity rules name (``activity_event_types``), required when there are any.
    """
    kind = rule.field_type
    if kind == "activity":
        if events is None:
            raise ValueError("an activity rule is evaluated with the lead's events")
        return activity.activity_matches(rule.operator, rule.value, events, now)
    if kind == "set":
        return _tags_match(rule.operator, rule.value, set(tags))
    actual = lead_values.get(rule.field)
    if actual is None:
        return rule.operator in NULL_MATCHING_OPERATORS
    if kind == "text":
        return _text_matches(rule.operator, actual, rule.value)
    if kind == "datetime":
        return _datetime_matches(rule.operator, _as_utc(actual), _resolve_datetime(rule.value, now))
    if kind == "number":
        actual = Decimal(str(actual))
    return _plain_matches(rule.operator, actual, rule.value)


def evaluate_rules(
    rules: list[Rule], match_all: bool, lead_values: dict, tags: set[str], now: datetime, events: list[ActivityEvent] | None = None
) -> bool:
    """Whether one lead matches the rule set (AND when ``match_all``, else OR; no rules: False)."""
    if not rules:
        return False
    results = (evaluate_rule(rule, lead_values, tags, now, events) for rule in rules)
    return all(results) if match_all else any(results)


def explain(
    rules: list[Rule],
    match_all: bool,
    lead_values: dict,
    tags: set[str],
    now: datetime,
    events: list[ActivityEvent] | None = None,
    names: dict | None = None,
) -> list[dict]:
    """Per rule, why one lead matches or not: the rule, the lead's actual value and ``matched``.

    Values are JSON-ready (numbers as strings, datetimes in ISO-8601, tags as a sorted list). An
    activity rule also has ``description`` (the rule in words; ``names`` maps ``("template_id", 12)``
    to a name) and its ``actual`` is ``{"count", "last_at"}`` of the lead's events that count.
    ``match_all`` is accepted for symmetry with ``evaluate_rules``; the overall answer is theirs.
    """
    explanation = []
    for rule in rules:
        extra = {}
        if rule.field_type == "activity":
            actual = activity.describe_events(rule.value, events or [], now)
            extra["description"] = activity.describe_activity(rule.operator, rule.value.as_dict(), names)
        elif rule.field_type == "set":
            actual = sorted(tags)
        else:
            actual = _json_value(lead_values.get(rule.field))
        explanation.append(
            {
                "field": rule.field,
                "field_label": FIELD_LABELS[rule.field],
                "operator": rule.operator,
                "operator_label": OPERATOR_LABELS[rule.field_type][rule.operator],
                "value": _json_value(rule.value),
                "actual": actual,
                "matched": evaluate_rule(rule, lead_values, tags, now, events),
                **extra,
            }
        )
    return explanation


def _plain_matches(operator: str, actual, value) -> bool:
    if operator == "equals":
        return actual == value
    if operator == "not_equals":
        return actual != value
    if operator == "greater_than":
        return actual > value
    if operator == "less_than":
        return actual < value
    if operator == "in":
        return actual in value
    if operator == "not_in":
        return actual not in value
    raise ValueError(f"unknown operator {operator!r}")


def _text_matches(operator: str, actual: str, value) -> bool:
    actual = actual.lower()
    if operator in LIST_OPERATORS:
        found = actual in {item.lower() for item in value}
        return found if operator == "in" else not found
    text = value.lower()
    if operator == "equals":
        return actual == text
    if operator == "not_equals":
        return actual != text
    if operator == "contains":
        return text in actual
    if operator == "not_contains":
        return text not in actual
    if operator == "starts_with":
        return actual.startswith(text)
    if operator == "ends_with":
        return actual.endswith(text)
    raise ValueError(f"unknown operator {operator!r}")


def _datetime_matches(operator: str, actual: datetime, moment: datetime) -> bool:
    if operator == "greater_than":
        return actual > moment
    if operator == "less_than":
        return actual < moment
    if operator == "equals":
        start, end = _utc_day(moment)
        return start <= actual < end
    raise ValueError(f"unknown operator {operator!r}")


def _tags_match(operator: str, value, tags: set[str]) -> bool:
    if operator == "contains":
        return value in tags
    if operator == "not_contains":
        return value not in tags
    if operator == "in":
        return not tags.isdisjoint(value)
    if operator == "not_in":
        return tags.isdisjoint(value)
    raise ValueError(f"unknown operator {operator!r}")
