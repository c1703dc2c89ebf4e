"""The contactability check (SPEC §17), pure: each reason, quiet hours in the lead's own time zone
(across DST), frequency caps over a sliding window."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from webapp.contactability.check import ContactFacts, check_contactability
from webapp.contactability.policy import ContactPolicy
from webapp.contactability.timezones import STATE_TIMEZONES, lead_timezone

NOON_IN_TEXAS = datetime(2026, 6, 10, 17, 0, tzinfo=UTC)


def lead(**fields):
    values = {"email": "jane@example.com", "email_opt_out": False, "state": "TX", "timezone": None}
    return SimpleNamespace(**{**values, **fields})


def policy(**fields) -> ContactPolicy:
    return ContactPolicy.model_validate(fields)


def codes(verdict: dict) -> list[str]:
    return [reason["code"] for reason in verdict["reasons"]]


def test_a_lead_with_nothing_against_it_may_be_contacted_on_every_channel():
    for channel in ("email", "sms", "phone"):
        verdict = check_contactability(lead(), channel, policy(), NOON_IN_TEXAS, ContactFacts())
        assert verdict == {"channel": channel, "allowed": True, "next_allowed_at": None, "reasons": []}


def test_an_opted_out_lead_is_blocked_for_email_only():
    verdict = check_contactability(lead(email_opt_out=True), "email", policy(), NOON_IN_TEXAS, ContactFacts())
    assert (verdict["allowed"], codes(verdict), verdict["next_allowed_at"]) == (False, ["opted_out"], None)
    assert check_contactability(lead(email_opt_out=True), "phone", policy(), NOON_IN_TEXAS, ContactFacts())["allowed"]


def test_a_hard_bounced_address_is_blocked():
    verdict = check_contactability(lead(), "email", policy(), NOON_IN_TEXAS, ContactFacts(suppression="bounced"))
    assert codes(verdict) == ["hard_bounced"]


def test_an_address_that_complained_is_suppressed():
    verdict = check_contactability(lead(), "email", policy(), NOON_IN_TEXAS, ContactFacts(suppression="complained"))
    assert codes(verdict) == ["suppressed"]
    assert "spam" in verdict["reasons"][0]["message"]


def test_a_channel_that_requires_consent_is_blocked_while_no_consent_is_recorded():
    required = policy(require_consent={"sms": True})
    assert codes(check_contactability(lead(), "sms", required, NOON_IN_TEXAS, ContactFacts())) == ["no_consent"]
    assert check_contactability(lead(), "email", required, NOON_IN_TEXAS, ContactFacts())["allowed"]


def test_quiet_hours_end_at_the_leads_local_end_of_quiet_hours():
    quiet = policy(quiet_hours={"start": "21:00", "end": "08:00"})
    at_night = datetime(2026, 6, 10, 4, 0, tzinfo=UTC)  # 23:00 in Texas (CDT)
    verdict = check_contactability(lead(), "phone", quiet, at_night, ContactFacts())
    assert codes(verdict) == ["quiet_hours"]
    assert verdict["next_allowed_at"] == datetime(2026, 6, 10, 13, 0, tzinfo=UTC)  # 08:00 CDT
    assert "23:00" in verdict["reasons"][0]["message"] and "America/Chicago" in verdict["reasons"][0]["message"]


def test_the_same_instant_is_quiet_in_new_york_and_not_in_arizona():
    quiet = policy(quiet_hours={"start": "21:00", "end": "08:00"})
    instant = datetime(2026, 7, 1, 1, 30, tzinfo=UTC)  # 21:30 in New York (EDT), 18:30 in Phoenix (MST, no DST)
    new_york = check_contactability(lead(state="NY"), "sms", quiet, instant, ContactFacts())
    arizona = check_contactability(lead(state="AZ"), "sms", quiet, instant, ContactFacts())
    assert codes(new_york) == ["quiet_hours"]
    assert new_york["next_allowed_at"] == datetime(2026, 7, 1, 12, 0, tzinfo=UTC)  # 08:00 EDT
    assert arizona["allowed"]


def test_a_quiet_night_across_the_spring_dst_change_ends_at_eight_local():
    quiet = policy(quiet_hours={"start": "21:00", "end": "08:00"})
    saturday_night = datetime(2026, 3, 8, 4, 0, tzinfo=UTC)  # Sat 7 March 23:00 EST; clocks go forward that night
    new_york = check_contactability(lead(state="NY"), "email", quiet, saturday_night, ContactFacts())
    assert new_york["next_allowed_at"] == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)  # 08:00 EDT (UTC-4), not 13:00
    arizona = check_contactability(lead(state="AZ"), "email", quiet, saturday_night, ContactFacts())  # 21:00 MST
    assert arizona["next_allowed_at"] == datetime(2026, 3, 8, 15, 0, tzinfo=UTC)  # 08:00 MST (UTC-7) all year


def test_a_quiet_night_across_the_autumn_dst_change_ends_at_eight_local():
    quiet = policy(quiet_hours={"start": "21:00", "end": "08:00"})
    saturday_night = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)  # Sat 31 October 23:00 EDT
    verdict = check_contactability(lead(state="NY"), "email", quiet, saturday_night, ContactFacts())
    assert verdict["next_allowed_at"] == datetime(2026, 11, 1, 13, 0, tzinfo=UTC)  # 08:00 EST (UTC-5)


def test_quiet_hours_within_one_day_and_after_midnight():
    daytime = policy(quiet_hours={"start": "12:00", "end": "13:30"})
    verdict = check_contactability(lead(), "phone", daytime, NOON_IN_TEXAS, ContactFacts())
    assert verdict["next_allowed_at"] == datetime(2026, 6, 10, 18, 30, tzinfo=UTC)
    overnight = policy(quiet_hours={"start": "21:00", "end": "08:00"})
    early = datetime(2026, 6, 10, 11, 0, tzinfo=UTC)  # 06:00 CDT: the end is the same morning
    verdict = check_contactability(lead(), "phone", overnight, early, ContactFacts())
    assert verdict["next_allowed_at"] == datetime(2026, 6, 10, 13, 0, tzinfo=UTC)
    never = policy(quiet_hours={"start": "09:00", "end": "09:00"})  # equal times: no quiet hours
    assert check_contactability(lead(), "phone", never, NOON_IN_TEXAS, ContactFacts())["allowed"]


def test_a_lead_zone_is_its_own_else_its_states_else_the_organizations():
    chosen = policy(default_timezone="Europe/Lisbon")
    assert lead_timezone(lead(timezone="America/Denver", state="NY"), chosen).key == "America/Denver"
    assert lead_timezone(lead(state="IN"), chosen).key == "America/Indiana/Indianapolis"
    assert lead_timezone(lead(state=None), chosen).key == "Europe/Lisbon"
    assert lead_timezone(lead(state=None), policy()).key == "America/New_York"
    assert {"HI", "AK", "CA", "DC"} <= set(STATE_TIMEZONES) and len(set(STATE_TIMEZONES) - {"PR", "VI", "GU", "AS", "MP"}) == 51


def test_a_frequency_cap_counts_contacts_in_a_sliding_window():
    capped = policy(frequency_caps=[{"channel": "email", "max": 2, "per_days": 7}])
    now = NOON_IN_TEXAS
    old, recent, latest = now - timedelta(days=8), now - timedelta(days=5), now - timedelta(days=1)
    assert check_contactability(lead(), "email", capped, now, ContactFacts(contacts=(old, latest)))["allowed"]  # one in the window
    verdict = check_contactability(lead(), "email", capped, now, ContactFacts(contacts=(old, recent, latest)))
    assert codes(verdict) == ["frequency_cap"]
    assert verdict["next_allowed_at"] == recent + timedelta(days=7)  # when the oldest in the window leaves it
    three = ContactFacts(contacts=(old, recent, latest))
    assert check_contactability(lead(), "email", capped, recent + timedelta(days=7), three)["allowed"]
    assert check_contactability(lead(), "sms", capped, now, three)["allowed"]  # another channel


def test_over_the_cap_the_lead_waits_until_fewer_than_the_max_remain():
    capped = policy(frequency_caps=[{"channel": "phone", "max": 2, "per_days": 1}])
    now = NOON_IN_TEXAS
    calls = tuple(now - timedelta(hours=hours) for hours in (20, 10, 5, 2))
    verdict = check_contactability(lead(), "phone", capped, now, ContactFacts(contacts=calls))
    assert verdict["next_allowed_at"] == now - timedelta(hours=5) + timedelta(days=1)


def test_a_wait_that_ends_in_quiet_hours_lasts_until_they_end():
    both = policy(quiet_hours={"start": "21:00", "end": "08:00"}, frequency_caps=[{"channel": "email", "max": 1, "per_days": 1}])
    now = NOON_IN_TEXAS
    sent = datetime(2026, 6, 10, 4, 30, tzinfo=UTC)  # 23:30 CDT: the cap frees a day later, at 23:30, in quiet hours
    verdict = check_contactability(lead(), "email", both, now, ContactFacts(contacts=(sent,)))
    assert codes(verdict) == ["frequency_cap"]
    assert verdict["next_allowed_at"] == datetime(2026, 6, 11, 13, 0, tzinfo=UTC)  # 08:00 CDT the next morning


def test_a_lasting_reason_leaves_no_time_to_wait_for():
    quiet = policy(quiet_hours={"start": "00:00", "end": "23:59"})
    verdict = check_contactability(lead(email_opt_out=True), "email", quiet, NOON_IN_TEXAS, ContactFacts())
    assert codes(verdict) == ["opted_out", "quiet_hours"]
    assert verdict["next_allowed_at"] is None


def test_an_unknown_channel_is_a_programming_error():
    with pytest.raises(ValueError):
        check_contactability(lead(), "fax", policy(), NOON_IN_TEXAS, ContactFacts())
