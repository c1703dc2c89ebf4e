"""The lead page's "Contactability" card (the lead's time zone and local time, and the verdict of the
check for each channel) and its "Consent" card (the lead's consent history, and a form to record one)."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import render_template
from markupsafe import Markup

from ..leads.consents import consent_history, current_by_channel
from ..models import Lead, utcnow
from ..models.consents import CONSENT_METHODS
from .facts import contactability_of_leads
from .policy import CHANNELS, organization_policy
from .timezones import lead_timezone, timezone_source

SOURCES = {"lead": "set on the lead", "state": "from the state", "organization": "the organization's default"}
CHANNEL_NAMES = {"email": "Email", "sms": "Text", "phone": "Phone"}


def lead_contactability_panel(lead: Lead, oob: bool = False) -> Markup:
    """The card; ``oob``: marked to replace the page's card out of band (after an HTMX form elsewhere)."""
    policy = organization_policy(lead.organization_id)
    now = utcnow()
    verdicts = contactability_of_leads(lead.organization_id, [lead], CHANNELS, now, policy)
    zone = lead_timezone(lead, policy)
    return Markup(
        render_template(
            "contactability/_lead_panel.html",
            zone=zone.key,
            zone_source=SOURCES[timezone_source(lead, policy.default_timezone)[1]],
            local_time=now.astimezone(zone),
            verdicts=[verdicts[(lead.id, channel)] for channel in CHANNELS],
            missing={channel: _missing_address(lead, channel) for channel in CHANNELS},
            channel_names=CHANNEL_NAMES,
            lead_clock=lambda moment: _lead_clock(moment, zone, now),
            oob=oob,
        )
    )


def _lead_clock(moment: datetime, zone: ZoneInfo, now: datetime) -> str:
    """``moment`` on the lead's clock, as the card shows the local time ("Tue 08:00"; with the date when
    it is six days or more away): quiet hours end at a time of the lead's day."""
    local = moment.astimezone(zone)
    return f"{local:%a %H:%M}" if moment - now < timedelta(days=6) else f"{local:%b %d, %H:%M}"


def _missing_address(lead: Lead, channel: str) -> str | None:
    """What the lead lacks to be contacted on ``channel`` ("no phone number"), or None. The card says it
    instead of a verdict: the check answers for the channel, not for an address the lead does not have."""
    if channel == "email":
        return None if (lead.email or "").strip() else "no email address"
    return None if (lead.phone or "").strip() else "no phone number"


def lead_consents_panel(lead: Lead, submitted: dict | None = None, errors: dict | None = None, message: str | None = None) -> Markup:
    """The "Consent" card: the current state per channel, the history, and the form (``submitted``
    values and ``errors`` by field after a refused one)."""
    history = consent_history(lead)
    return Markup(
        render_template(
            "contactability/_consents_panel.html",
            lead=lead,
            history=history,
            current=current_by_channel(history),
            channel_names=CHANNEL_NAMES,
            methods=CONSENT_METHODS,
            submitted=submitted or {},
            errors=errors or {},
            message=message,
        )
    )
