from datetime import datetime, timedelta, timezone

import pytest

from webapp.scheduled_tasks.recurrence import (
    RecurrenceError,
    next_occurrence,
    parse_recurrence,
    validate_recurrence,
)


def at(*parts) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "text, interval",
    [
        ("every 5 minutes", timedelta(minutes=5)),
        ("every 1 minute", timedelta(minutes=1)),
        ("every minute", timedelta(minutes=1)),
        ("Every  2 HOURS", timedelta(hours=2)),
        ("every 3 days", timedelta(days=3)),
        ("every day", timedelta(days=1)),
    ],
)
def test_every_n_units_is_a_fixed_interval(text, interval):
    assert parse_recurrence(text).interval == interval


def test_every_n_follows_the_previous_occurrence():
    assert next_occurrence("every 15 minutes", at(2024, 1, 1, 9, 0)) == at(2024, 1, 1, 9, 15)


def test_every_n_keeps_its_cadence_when_the_task_ran_late():
    # scheduled for 09:00, ran at 09:07: the next run is 10:00, not 10:07
    assert next_occurrence("every 1 hour", at(2024, 1, 1, 9, 7), anchor=at(2024, 1, 1, 9, 0)) == at(2024, 1, 1, 10, 0)


def test_every_n_skips_missed_occurrences_instead_of_running_each():
    # scheduled for 09:00, the workers were down until 14:30: one run, next at 15:00
    assert next_occurrence("every 1 hour", at(2024, 1, 1, 14, 30), anchor=at(2024, 1, 1, 9, 0)) == at(2024, 1, 1, 15, 0)


def test_every_n_is_strictly_later_than_after():
    assert next_occurrence("every 1 hour", at(2024, 1, 1, 10, 0), anchor=at(2024, 1, 1, 9, 0)) == at(2024, 1, 1, 11, 0)


def test_cron_gives_the_next_matching_minute_in_utc():
    assert next_occurrence("0 9 * * *", at(2024, 1, 1, 9, 0)) == at(2024, 1, 2, 9, 0)
    assert next_occurrence("*/10 * * * *", at(2024, 1, 1, 9, 3, 30)) == at(2024, 1, 1, 9, 10)


def test_cron_weekdays_skip_the_weekend():
    friday_evening = at(2024, 1, 5, 18, 0)
    assert next_occurrence("0 9 * * 1-5", friday_evening) == at(2024, 1, 8, 9, 0)


def test_a_naive_datetime_is_read_as_utc():
    assert next_occurrence("every 1 day", datetime(2024, 1, 1, 9, 0)) == at(2024, 1, 2, 9, 0)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "empty recurrence"),
        ("   ", "empty recurrence"),
        ("every week", "cannot read 'every week'"),
        ("every 0 minutes", "at least 1 minute"),
        ("every 400 days", "at most 365 days"),
        ("every five minutes", "cannot read"),
        ("61 * * * *", "not a valid cron expression"),
        ("* * * * * *", "5-field cron"),
        ("0 9 * *", "5-field cron"),
        ("0 9 31 2 *", "never occurs"),
        ("tomorrow", "cannot read"),
    ],
)
def test_bad_recurrence_is_a_clear_error(text, fragment):
    with pytest.raises(RecurrenceError) as raised:
        parse_recurrence(text)
    assert fragment in str(raised.value)
    assert fragment in validate_recurrence(text)


def test_valid_recurrence_has_no_error():
    assert validate_recurrence("every 2 hours") is None
    assert validate_recurrence("30 8 * * MON") is None


def test_next_occurrence_of_bad_text_raises():
    with pytest.raises(RecurrenceError):
        next_occurrence("whenever", at(2024, 1, 1))
