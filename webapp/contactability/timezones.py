"""A lead's time zone (SPEC §17): its own, else its state's most populous zone, else the organization's
default."""

from zoneinfo import ZoneInfo

from ..validation import timezone_names

DEFAULT_TIMEZONE = "America/New_York"

# The zone most of each state's people live in (states split between zones get the larger part's).
STATE_TIMEZONES = {
    "AL": "America/Chicago", "AK": "America/Anchorage", "AZ": "America/Phoenix", "AR": "America/Chicago",
    "CA": "America/Los_Angeles", "CO": "America/Denver", "CT": "America/New_York", "DE": "America/New_York",
    "DC": "America/New_York", "FL": "America/New_York", "GA": "America/New_York", "HI": "Pacific/Honolulu",
    "ID": "America/Boise", "IL": "America/Chicago", "IN": "America/Indiana/Indianapolis", "IA": "America/Chicago",
    "KS": "America/Chicago", "KY": "America/New_York", "LA": "America/Chicago", "ME": "America/New_York",
    "MD": "America/New_York", "MA": "America/New_York", "MI": "America/Detroit", "MN": "America/Chicago",
    "MS": "America/Chicago", "MO": "America/Chicago", "MT": "America/Denver", "NE": "America/Chicago",
    "NV": "America/Los_Angeles", "NH": "America/New_York", "NJ": "America/New_York", "NM": "America/Denver",
    "NY": "America/New_York", "NC": "America/New_York", "ND": "America/Chicago", "OH": "America/New_York",
    "OK": "America/Chicago", "OR": "America/Los_Angeles", "PA": "America/New_York", "RI": "America/New_York",
    "SC": "America/New_York", "SD": "America/Chicago", "TN": "America/Chicago", "TX": "America/Chicago",
    "UT": "America/Denver", "VT": "America/New_York", "VA": "America/New_York", "WA": "America/Los_Angeles",
    "WV": "America/New_York", "WI": "America/Chicago", "WY": "America/Denver",
    # The territories a lead's state may also name.
    "PR": "America/Puerto_Rico", "VI": "America/St_Thomas", "GU": "Pacific/Guam", "AS": "Pacific/Pago_Pago",
    "MP": "Pacific/Saipan",
}  # fmt: skip


def timezone_source(lead, default_timezone: str = DEFAULT_TIMEZONE) -> tuple[str, str]:
    """``(zone name, where it comes from)``: ``"lead"``, ``"state"`` or ``"organization"``."""
    if lead.timezone and lead.timezone in timezone_names():
        return lead.timezone, "lead"
    if lead.state and lead.state.upper() in STATE_TIMEZONES:
        return STATE_TIMEZONES[lead.state.upper()], "state"
    return default_timezone, "organization"


def lead_timezone(lead, policy) -> ZoneInfo:
    """The zone a lead's local time is read in: its own, else its state's, else ``policy.default_timezone``."""
    return ZoneInfo(timezone_source(lead, policy.default_timezone)[0])
