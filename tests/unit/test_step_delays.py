"""A step's wait: entered as a number and a unit, stored in minutes, shown in the largest whole unit."""

import pytest

from webapp.automations.forms import delay_in_largest_unit, delay_to_minutes, describe_delay


@pytest.mark.parametrize(
    ("minutes", "shown"),
    [
        (0, (0, "minutes")),
        (None, (0, "minutes")),
        (45, (45, "minutes")),
        (90, (90, "minutes")),
        (60, (1, "hours")),
        (180, (3, "hours")),
        (1440, (1, "days")),
        (2880, (2, "days")),
        (1500, (25, "hours")),
        (525600, (365, "days")),
    ],
)
def test_a_stored_wait_is_shown_in_the_largest_whole_unit(minutes, shown):
    assert delay_in_largest_unit(minutes) == shown


@pytest.mark.parametrize(
    ("amount", "unit", "minutes"), [(1, "days", 1440), (2, "hours", 120), (90, "minutes", 90), (None, "days", 0), (5, "weeks", 5)]
)
def test_an_entered_wait_is_stored_in_minutes(amount, unit, minutes):
    assert delay_to_minutes(amount, unit) == minutes


@pytest.mark.parametrize("minutes", [0, 1, 59, 60, 61, 1439, 1440, 4320, 10080, 525600])
def test_every_stored_wait_round_trips_through_the_form(minutes):
    assert delay_to_minutes(*delay_in_largest_unit(minutes)) == minutes


def test_a_wait_in_words():
    assert [describe_delay(m) for m in (1, 30, 60, 120, 1440, 4320)] == ["1 minute", "30 minutes", "1 hour", "2 hours", "1 day", "3 days"]
