"""The lead page's "Contactability" card: the lead's time zone and local time, and the verdict of the
check for each channel."""

from flask import render_template
from markupsafe import Markup

from ..models import Lead, utcnow
from .facts import contactability_of_leads
from .policy import CHANNELS, organization_policy
from .timezones import lead_timezone, timezone_source

SOURCES = {"lead": "set on the lead", "state": "from the state", "organization": "the organization's default"}


def lead_contactability_panel(lead: Lead) -> Markup:
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
        )
    )
