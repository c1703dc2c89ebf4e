"""Recurrence rules of scheduled tasks and time-based triggers: ``every N minutes|hours|days`` or cron.

Pure functions, no database. Cron expressions have five fields and are read in UTC.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from croniter import CroniterBadDateError, croniter

EVERY = re.compile(r"^every\s+(?:(\d+)\s+)?(minute|hour|day)s?$", re.IGNORECASE)
UNITS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
MAX_EVERY = {"minute": 525_600, "hour": 8_760, "day": 365}  # at most a year between occurrences
HINT = "expected 'every N minutes', 'every N hours', 'every N days' or a 5-field cron expression such as '0 9 * * 1-5'"


def _cron_field(value: str) -> str:
    item = rf"(\*|{value}(-{value})?)(/[1-9])?"
    return rf"{item}(,{item})*"


# For the API document: recurrences of the forms above, a little narrower than parse_recurrence
# (shorter intervals; days of the month up to 28, so that every expression occurs).
_EVERY_TEXT = r"every ([1-9][0-9]{0,4} minutes?|[1-9][0-9]{0,2} hours?|([1-9][0-9]?|[12][0-9][0-9]|3[0-5][0-9]) days?)"
_CRON_TEXT = " ".join(
    _cron_field(value) for value in (r"[1-5]?[0-9]", r"(1?[0-9]|2[0-3])", r"([1-9]|1[0-9]|2[0-8])", r"([1-9]|1[0-2])", r"[0-6]")
)
RECURRENCE_PATTERN = rf"^({_EVERY_TEXT}|{_CRON_TEXT})$"


class RecurrenceError(ValueError):
    """A recurrence text that cannot be understood; the message says why."""


@dataclass(frozen=True)
class Recurrence:
    """A parsed recurrence: a fixed ``interval``, or a ``cron`` expression."""

    text: str
    interval: timedelta | None = None
    cron: str | None = None


def parse_recurrence(text: str) -> Recurrence:
    """Parse ``every N minutes/hours/days`` or a 5-field cron expression; raise RecurrenceError."""
    if not isinstance(text, str) or not text.strip():
        raise RecurrenceError(f"empty recurrence: {HINT}")
    text = " ".join(text.split())
    match = EVERY.match(text)
    if match:
        return _parse_every(text, match)
    if text.lower().startswith("every"):
        raise RecurrenceError(f"cannot read '{text}': {HINT}")
    return _parse_cron(text)


def validate_recurrence(text: str) -> str | None:
    """The error message for a recurrence text, or None when it is valid."""
    try:
        parse_recurrence(text)
    except RecurrenceError as exc:
        return str(exc)
    return None


def next_occurrence(recurrence: str | Recurrence, after: datetime, *, anchor: datetime | None = None) -> datetime:
    """The first occurrence strictly later than ``after`` (aware UTC).

    For ``every N …`` occurrences are ``anchor + k·N`` (k ≥ 1; the anchor defaults to ``after``),
    so a task that ran late keeps its cadence instead of drifting, and one that missed several
    occurrences runs once, not once per missed occurrence. Cron occurrences are wall-clock (UTC).
    """
    spec = recurrence if isinstance(recurrence, Recurrence) else parse_recurrence(recurrence)
    after = _as_utc(after)
    if spec.cron is not None:
        return _as_utc(croniter(spec.cron, after).get_next(datetime))
    anchor = _as_utc(anchor) if anchor is not None else after
    steps = max(1, (after - anchor) // spec.interval + 1)
    return anchor + steps * spec.interval


def _parse_every(text: str, match: re.Match) -> Recurrence:
    count = int(match.group(1) or 1)
    unit = match.group(2).lower()
    if count < 1:
        raise RecurrenceError(f"'{text}': the interval must be at least 1 {unit}")
    if count > MAX_EVERY[unit]:
        raise RecurrenceError(f"'{text}': the interval must be at most {MAX_EVERY[unit]} {unit}s (one year)")
    return Recurrence(text=text, interval=count * UNITS[unit])


def _parse_cron(text: str) -> Recurrence:
    fields = text.split(" ")
    if len(fields) != 5:
        raise RecurrenceError(f"cannot read '{text}': {HINT}")
    if not croniter.is_valid(text):
        raise RecurrenceError(f"'{text}' is not a valid cron expression (minute hour day-of-month month day-of-week)")
    try:
        croniter(text, datetime(2000, 1, 1, tzinfo=timezone.utc)).get_next(datetime)
    except CroniterBadDateError:
        raise RecurrenceError(f"'{text}' never occurs") from None
    return Recurrence(text=text, cron=text)


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)
