"""One check for every channel (SPEC §17): may this lead be contacted on this channel now, and if not,
why and from when. Pure: the facts it needs are gathered by ``contactability.facts``."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from .policy import CHANNELS, ContactPolicy
from .timezones import lead_timezone


@dataclass(frozen=True)
class ContactFacts:
    """What the check needs to know about a lead besides its columns.

    ``suppression``: the suppression list's reason for the lead on the channel (``unsubscribed``,
    ``bounced``, ``complained``, ``dnc``, ``litigator``, ``manual``: the strongest when several rows
    cover it), or None; ``suppressed``: what it covers, for the message ("The domain example.com").
    ``contacts``: when the lead was contacted on the channel, within the
    longest frequency-cap window (sent emails, completed calls). ``consent``: the status of the lead's
    latest consent row on the channel (``granted``, ``revoked``), or None when none is recorded.
    """

    suppression: str | None = None
    suppressed: str | None = None
    contacts: tuple[datetime, ...] = field(default_factory=tuple)
    consent: str | None = None


def check_contactability(lead, channel: str, policy: ContactPolicy, now: datetime, facts: ContactFacts) -> dict:
    """``{"channel", "allowed", "next_allowed_at", "reasons": [{"code", "message"}]}`` for ``lead`` on
    ``channel`` at ``now`` (aware).

    Codes: ``opted_out``, ``suppressed``, ``hard_bounced`` (email), ``no_consent``, ``consent_revoked``, ``quiet_hours``,
    ``frequency_cap``. ``next_allowed_at`` is the first moment every reason has passed, when only
    quiet hours and caps block; None when contact is allowed now, or when a reason does not pass with
    time. Consent comes from the lead's consent rows (``leads.consents``): the latest row of the channel
    decides (``ContactFacts.consent``).
    """
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    now = now.astimezone(UTC)
    reasons = _lasting_reasons(lead, channel, policy, facts)
    timed = _timed_reasons(lead, channel, policy, now, facts)
    reasons += [reason for reason, _ in timed]
    next_allowed_at = None
    if timed and len(reasons) == len(timed):
        next_allowed_at = _first_free_moment(lead, channel, policy, now, facts)
    return {
        "channel": channel,
        "allowed": not reasons,
        "next_allowed_at": next_allowed_at,
        "reasons": reasons,
    }


def _lasting_reasons(lead, channel: str, policy: ContactPolicy, facts: ContactFacts) -> list[dict]:
    """The reasons that do not pass with time."""
    reasons = []
    if channel == "email":
        if lead.email_opt_out:
            reasons.append(_reason("opted_out", "The lead opted out of marketing email."))
    if facts.suppression is not None and not (facts.suppression == "unsubscribed" and lead.email_opt_out):
        reasons.append(_suppression_reason(channel, facts))
    reasons += _consent_reasons(lead, channel, policy, facts)
    return reasons


_SUPPRESSION_TEXT = {
    "complained": "its owner reported an email as spam",
    "dnc": "it is on a do-not-call list",
    "litigator": "its owner is a known litigator",
    "manual": "it was added by hand",
}


def _suppression_reason(channel: str, facts: ContactFacts) -> dict:
    """The suppression list's reason (SPEC §17): an unsubscribe is an opt-out (it stops marketing
    email only), a bounce is ``hard_bounced``, every other reason ``suppressed``."""
    what = facts.suppressed or ("The address" if channel == "email" else "The phone number")
    if facts.suppression == "unsubscribed":
        return _reason("opted_out", f"{what} unsubscribed: it is on the suppression list.")
    if facts.suppression == "bounced":
        return _reason("hard_bounced", f"{what} hard-bounced: it is on the suppression list.")
    why = _SUPPRESSION_TEXT.get(facts.suppression, facts.suppression)
    return _reason("suppressed", f"{what} is on the suppression list: {why}.")


def _consent_reasons(lead, channel: str, policy: ContactPolicy, facts: ContactFacts) -> list[dict]:
    """A revocation blocks the channel whatever the policy (the lead said no; on email an opt-out
    already says it); a channel whose consent the policy requires needs a granted one."""
    if facts.consent == "revoked" and not (channel == "email" and lead.email_opt_out):
        return [_reason("consent_revoked", f"The lead revoked their consent to {CHANNEL_WORDS[channel]}.")]
    if getattr(policy.require_consent, channel) and facts.consent != "granted":
        return [_reason("no_consent", f"The contact policy requires consent for {channel}, and none is recorded.")]
    return []


CHANNEL_WORDS = {"email": "email", "sms": "text messages", "phone": "calls"}


def _timed_reasons(lead, channel: str, policy: ContactPolicy, now: datetime, facts: ContactFacts) -> list[tuple[dict, datetime]]:
    """The reasons that pass with time, each with the moment it passes."""
    found = []
    quiet_end = quiet_hours_end(lead, policy, now)
    if quiet_end is not None:
        zone = lead_timezone(lead, policy)
        local = now.astimezone(zone)
        message = (
            f"It is {local:%H:%M} for the lead ({zone.key}), within the quiet hours {policy.quiet_hours.start}–{policy.quiet_hours.end}."
        )
        found.append((_reason("quiet_hours", message), quiet_end))
    for cap in policy.caps_for(channel):
        free_at = cap_free_at(cap, now, facts.contacts)
        if free_at is not None:
            days = "day" if cap.per_days == 1 else f"{cap.per_days} days"
            message = f"The lead was contacted by {channel} {cap.max} time(s) or more in the last {days} (the cap is {cap.max})."
            found.append((_reason("frequency_cap", message), free_at))
    return found


def quiet_hours_end(lead, policy: ContactPolicy, now: datetime) -> datetime | None:
    """When the quiet hours the lead is in at ``now`` end (UTC), or None outside them.

    The end is a wall-clock time in the lead's zone, so a night across a DST change is an hour shorter
    or longer in UTC; an end that falls in a spring-forward gap is read with the offset before it."""
    if policy.quiet_hours is None:
        return None
    start, end = policy.quiet_hours.bounds()
    if start == end:
        return None
    local = now.astimezone(lead_timezone(lead, policy))
    clock = local.time().replace(tzinfo=None)
    if start < end:
        quiet, end_day = start <= clock < end, local.date()
    else:  # over midnight
        quiet = clock >= start or clock < end
        end_day = local.date() + timedelta(days=1) if clock >= start else local.date()
    if not quiet:
        return None
    return datetime.combine(end_day, end, tzinfo=local.tzinfo).astimezone(UTC)


def cap_free_at(cap, now: datetime, contacts) -> datetime | None:
    """When a contact is allowed again under ``cap`` (contacts in the window fewer than its max), or
    None if it is allowed at ``now``. The window is the ``per_days`` days before ``now``."""
    window = timedelta(days=cap.per_days)
    inside = sorted(moment for moment in contacts if now - window < moment <= now)
    if len(inside) < cap.max:
        return None
    return inside[len(inside) - cap.max] + window  # once that one leaves, max - 1 remain


def _first_free_moment(lead, channel: str, policy: ContactPolicy, now: datetime, facts: ContactFacts) -> datetime:
    """The first moment from ``now`` at which no quiet hours and no cap block (waiting out one may
    land in another: quiet hours after a cap's window, so look again)."""
    moment = now
    for _ in range(10):
        later = [free for _, free in _timed_reasons(lead, channel, policy, moment, facts)]
        if not later:
            return moment
        moment = max(later)
    return moment


def _reason(code: str, message: str) -> dict:
    return {"code": code, "message": message}
