"""Activity rules (SPEC §16): has the lead done something, as its events (``lead_events``) tell?

    {"field": "activity", "operator": "has_done" | "has_not_done",
     "value": {"event_type": "email_opened", "within": "7 days", "at_least": 2,
               "template_id": 12, "automation_id": 3}}

- ``event_type`` (required): a lead event type (``models.leads.LEAD_EVENT_TYPES``).
- ``within`` (optional): ``<1-999> <unit>`` with the unit ``minute``, ``hour``, ``day`` or ``week``
  (plural or not), one space between, lower case: ``"30 minutes"``, ``"2 hours"``, ``"7 days"``,
  ``"1 week"``. Only events at or after *now minus that long* count; without it, all of them do
  (all those kept: with ``LEADFLOW_LEAD_EVENT_RETENTION_MONTHS`` the oldest months are dropped).
- ``at_least`` (optional): a whole number from 1 to 1000, default 1: how many such events make
  "has done".
- ``template_id`` / ``automation_id`` (optional): only events of emails sent from that template /
  by that automation. An event names its template in ``data.template_id`` (``email_sent`` and the
  engagement events carry it). Its automation is ``data.automation_id`` (the engagement events carry
  it) or the automation whose run sent the message named by ``data.message_id`` (``email_sent`` names
  only the message): ``outbox_messages.automation_run_id`` → ``automation_runs.automation_id``.
  Whether the ids belong to the organization is checked on save (``validate_rules(references=...)``).

``has_not_done`` is exactly the negation of ``has_done``: fewer than ``at_least`` such events.

Pure like the rest of the engine: the SQL clause (an EXISTS on ``lead_events``; with ``at_least``
above 1, on their count per lead), the Python evaluation of one lead's events, the query that reads
those events, and the rule in words.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import ColumnElement, Select, and_, func, literal_column, or_, select

from webapp.models.automations import AutomationRun
from webapp.models.email import OutboxMessage
from webapp.models.leads import LEAD_EVENT_TYPES, Lead, LeadEvent
from webapp.validation import MAX_ID, is_row_id

OPERATOR_LABELS = {"has_done": "has done", "has_not_done": "has not done"}
VALUE_KEYS = ("event_type", "within", "at_least", "template_id", "automation_id")
REFERENCE_KEYS = {"template_id": "email template", "automation_id": "automation"}
WITHIN_UNITS = ("minutes", "hours", "days", "weeks")
WITHIN = re.compile(r"^([1-9][0-9]{0,2}) (minute|hour|day|week)s?$")
WITHIN_HINT = 'a whole number from 1 to 999 and a unit: minutes, hours, days or weeks (e.g. "7 days")'
MAX_AT_LEAST = 1000
HINT = "an event type, optionally within a time, at least N times, from a template or an automation"

leads = Lead.__table__
lead_events = LeadEvent.__table__
outbox = OutboxMessage.__table__
runs = AutomationRun.__table__


@dataclass(frozen=True)
class Window:
    """How far back events count: ``Window(7, "days")`` is "within 7 days"."""

    amount: int
    unit: str  # minutes, hours, days or weeks

    def since(self, now: datetime) -> datetime:
        return now - timedelta(**{self.unit: self.amount})

    def __str__(self) -> str:
        return f"{self.amount} {self.unit[:-1] if self.amount == 1 else self.unit}"


@dataclass(frozen=True)
class Activity:
    """A validated activity rule's value."""

    event_type: str
    within: Window | None = None
    at_least: int = 1
    template_id: int | None = None
    automation_id: int | None = None

    def as_dict(self) -> dict:
        """The canonical JSON form: the keys that are set (``at_least`` when more than 1)."""
        value: dict = {"event_type": self.event_type}
        if self.within is not None:
            value["within"] = str(self.within)
        if self.at_least != 1:
            value["at_least"] = self.at_least
        for key in REFERENCE_KEYS:
            if getattr(self, key) is not None:
                value[key] = getattr(self, key)
        return value

    def references(self) -> dict[str, int]:
        """``{"template_id": 12}``: the ids of other objects the rule names."""
        return {key: getattr(self, key) for key in REFERENCE_KEYS if getattr(self, key) is not None}


class ActivityEvent(NamedTuple):
    """One lead event as an activity rule reads it (a row of ``events_query``)."""

    event_type: str
    created_at: datetime
    template_id: int | None = None
    automation_id: int | None = None  # data.automation_id
    message_automation_id: int | None = None  # the automation whose run sent data.message_id


# --- Validation --------------------------------------------------------------------------------------


def validate_activity(raw, path: str) -> tuple[Activity | None, list[dict]]:
    """The value of an activity rule, checked key by key; errors name their key (``rules[0].value.within``).

    Unknown keys are errors; ``null`` for an optional key is the same as leaving it out.
    """
    if not isinstance(raw, dict):
        return None, [_error(path, "must be an object with event_type and, optionally, within, at_least, template_id, automation_id")]
    errors = [_error(f"{path}.{key}", f"unknown key; use {', '.join(VALUE_KEYS)}") for key in raw if key not in VALUE_KEYS]
    event_type = raw.get("event_type")
    if event_type is None or event_type == "":
        errors.append(_error(f"{path}.event_type", "is required"))
    elif not isinstance(event_type, str) or event_type not in LEAD_EVENT_TYPES:
        errors.append(_error(f"{path}.event_type", f"unknown event type {event_type!r}; use one of {', '.join(LEAD_EVENT_TYPES)}"))
    within = None
    if raw.get("within") is not None:
        match = WITHIN.match(raw["within"]) if isinstance(raw["within"], str) else None
        if match:
            within = Window(int(match.group(1)), match.group(2) + "s")
        else:
            errors.append(_error(f"{path}.within", f"must be {WITHIN_HINT}"))
    at_least = raw.get("at_least")
    if at_least is None:
        at_least = 1
    elif not (isinstance(at_least, int) and not isinstance(at_least, bool) and 1 <= at_least <= MAX_AT_LEAST):
        errors.append(_error(f"{path}.at_least", f"must be a whole number from 1 to {MAX_AT_LEAST}"))
    references = {}
    for key, kind in REFERENCE_KEYS.items():
        if raw.get(key) is not None:
            if is_row_id(raw[key]):
                references[key] = raw[key]
            else:
                errors.append(_error(f"{path}.{key}", f"must be the id of an {kind}"))
    if errors:
        return None, errors
    return Activity(event_type, within, at_least, **references), []


def _error(field: str, message: str) -> dict:
    return {"field": field, "message": message}


def value_schema() -> dict:
    """The JSON Schema of an activity rule's value (exactly what ``validate_activity`` accepts, but
    that the ids must name the organization's objects)."""
    optional_id = {"anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_ID}, {"type": "null"}]}
    return {
        "type": "object",
        "properties": {
            "event_type": {"type": "string", "enum": list(LEAD_EVENT_TYPES)},
            "within": {"anyOf": [{"type": "string", "pattern": WITHIN.pattern, "description": WITHIN_HINT}, {"type": "null"}]},
            "at_least": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_AT_LEAST}, {"type": "null"}]},
            "template_id": {**optional_id, "description": "only events of emails from this template"},
            "automation_id": {**optional_id, "description": "only events of emails sent by this automation"},
        },
        "required": ["event_type"],
        "additionalProperties": False,
    }


# --- Compiling to SQL --------------------------------------------------------------------------------


def _event_conditions(activity: Activity, organization_id: int, now: datetime) -> list[ColumnElement[bool]]:
    """What makes one of the organization's events count (the lead aside)."""
    conditions = [lead_events.c.organization_id == organization_id, lead_events.c.event_type == activity.event_type]
    if activity.within is not None:
        conditions.append(lead_events.c.created_at >= activity.within.since(now))
    if activity.template_id is not None:
        conditions.append(_data_id("template_id") == activity.template_id)
    if activity.automation_id is not None:
        sent_by_automation = (
            select(outbox.c.id)
            .join(runs, runs.c.id == outbox.c.automation_run_id)
            .where(runs.c.automation_id == activity.automation_id, outbox.c.organization_id == organization_id)
        )
        conditions.append(or_(_data_id("automation_id") == activity.automation_id, _data_id("message_id").in_(sent_by_automation)))
    return conditions


def _data_id(key: str):
    """An id in the event's JSON data, as an integer (NULL when absent)."""
    return lead_events.c.data[key].as_integer()


def activity_clause(operator: str, activity: Activity, organization_id: int, now: datetime, per_lead: bool = False) -> ColumnElement[bool]:
    """The rule as a condition over ``leads``: EXISTS on the lead's events that count (indexed by
    organization, type and time: PostgreSQL semi-joins a whole organization's leads with one range
    scan). With ``at_least`` above 1, EXISTS on those events counted per lead (GROUP BY ... HAVING,
    one aggregation for the organization), or with ``per_lead`` (a condition evaluated for a few
    leads, as a re-check does) a count of each lead's events: one index probe per lead, where the
    aggregation would read the whole organization's events for each re-check."""
    conditions = _event_conditions(activity, organization_id, now)
    of_lead = lead_events.c.lead_id == leads.c.id
    if activity.at_least == 1:
        done = select(literal_column("1")).select_from(lead_events).where(of_lead, *conditions).correlate(leads).exists()
    elif per_lead:
        count = select(func.count()).select_from(lead_events).where(of_lead, *conditions).correlate(leads).scalar_subquery()
        done = count >= activity.at_least
    else:
        busy = (
            select(lead_events.c.lead_id)
            .where(*conditions)
            .group_by(lead_events.c.lead_id)
            .having(func.count() >= activity.at_least)
            .subquery("busy_leads")
        )
        done = select(literal_column("1")).select_from(busy).where(busy.c.lead_id == leads.c.id).correlate(leads).exists()
    if operator == "has_done":
        return done
    if operator == "has_not_done":
        return ~done
    raise ValueError(f"operator {operator!r} does not apply to activity")


# --- The reference evaluator: one lead's events ---------------------------------------------------------


def matching_events(activity: Activity, events, now: datetime) -> list[ActivityEvent]:
    """The lead's events that count for the rule, with exactly the compiled SQL's semantics."""
    since = activity.within.since(now) if activity.within is not None else None
    return [
        event
        for event in events
        if event.event_type == activity.event_type
        and (since is None or event.created_at >= since)
        and (activity.template_id is None or event.template_id == activity.template_id)
        and (activity.automation_id is None or activity.automation_id in (event.automation_id, event.message_automation_id))
    ]


def activity_matches(operator: str, activity: Activity, events, now: datetime) -> bool:
    done = len(matching_events(activity, events, now)) >= activity.at_least
    if operator == "has_done":
        return done
    if operator == "has_not_done":
        return not done
    raise ValueError(f"unknown operator {operator!r}")


def events_query(organization_id: int, lead_ids: list[int], event_types) -> Select:
    """The events of these leads and types as the evaluator reads them: ``lead_id`` and the fields of
    ``ActivityEvent``, oldest first. One query for any number of leads (callers chunk long lists)."""
    message_id = _data_id("message_id")
    return (
        select(
            lead_events.c.lead_id,
            lead_events.c.event_type,
            lead_events.c.created_at,
            _data_id("template_id").label("template_id"),
            _data_id("automation_id").label("automation_id"),
            runs.c.automation_id.label("message_automation_id"),
        )
        .select_from(
            lead_events.outerjoin(outbox, and_(outbox.c.id == message_id, outbox.c.organization_id == organization_id)).outerjoin(
                runs, runs.c.id == outbox.c.automation_run_id
            )
        )
        .where(
            lead_events.c.organization_id == organization_id,
            lead_events.c.lead_id.in_(lead_ids),
            lead_events.c.event_type.in_(sorted(event_types)),
        )
        .order_by(lead_events.c.lead_id, lead_events.c.created_at, lead_events.c.id)
    )


def events_by_lead(rows) -> dict[int, list[ActivityEvent]]:
    """The rows of ``events_query`` grouped by lead."""
    grouped: dict[int, list[ActivityEvent]] = {}
    for row in rows:
        event = ActivityEvent(row.event_type, row.created_at, row.template_id, row.automation_id, row.message_automation_id)
        grouped.setdefault(row.lead_id, []).append(event)
    return grouped


# --- In words ------------------------------------------------------------------------------------------


def event_label(event_type: str) -> str:
    """``email_opened`` → ``email opened``."""
    return str(event_type).replace("_", " ")


def describe_activity(operator: str, value: dict, names: dict | None = None) -> str:
    """The rule in words: ``email opened at least 2 times from the email template “Welcome” in the last 7 days``,
    ``no email opened in the last 7 days``. ``names`` maps ``("template_id", 12)`` to a name."""
    names = names or {}
    value = value if isinstance(value, dict) else {}
    event = event_label(value.get("event_type", "?"))
    parts = []
    for key, kind in REFERENCE_KEYS.items():
        if value.get(key) is not None:
            name = names.get((key, value[key]))
            parts.append(f"from the {kind} “{name}”" if name else f"from {kind} #{value[key]}")
    if value.get("within"):
        parts.append(f"in the last {value['within']}")
    at_least = value.get("at_least") or 1
    if operator == "has_not_done" and at_least == 1:
        return " ".join([f"no {event}", *parts])
    if operator == "has_not_done":
        times = f"fewer than {at_least} times"
    else:
        times = "at least once" if at_least == 1 else f"at least {at_least} times"
    return " ".join([event, times, *parts])


def describe_events(activity: Activity, events, now: datetime) -> dict:
    """What the lead did, for "why": ``{"count", "last_at"}`` of the events that count."""
    counted = matching_events(activity, events, now)
    return {"count": len(counted), "last_at": max(event.created_at for event in counted).isoformat() if counted else None}
