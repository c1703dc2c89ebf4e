"""Contactability (SPEC §17): the organization's contact policy, and whether a lead may be contacted
on a channel now."""

from datetime import datetime
from typing import Literal

from flask import g, jsonify, request
from pydantic import BaseModel

from ..audit import audit
from ..contactability.facts import contactability_of_leads
from ..contactability.policy import CHANNELS, ContactPolicy, contact_policy, update_contact_policy
from ..extensions import db
from ..models import Lead, Organization, utcnow
from ..tenancy import get_or_404
from . import bp
from .auth import CONFIGURE, READ, api_auth
from .common import json_value
from .docs import documented
from .errors import ApiError

TAG = "contactability"


class QuietHoursOut(BaseModel):
    start: str
    end: str


class FrequencyCapOut(BaseModel):
    channel: Literal[CHANNELS]
    max: int
    per_days: int


class RequireConsentOut(BaseModel):
    email: bool
    sms: bool
    phone: bool


class DedupeOut(BaseModel):
    match_on: list[Literal["email", "phone"]]
    window_days: int
    action: Literal["merge", "reject"]


class ContactPolicyOut(BaseModel):
    quiet_hours: QuietHoursOut | None
    frequency_caps: list[FrequencyCapOut]
    require_consent: RequireConsentOut
    when_blocked: Literal["defer", "skip"]
    default_timezone: str
    dedupe: DedupeOut | None


class Reason(BaseModel):
    code: Literal["opted_out", "suppressed", "no_consent", "consent_revoked", "hard_bounced", "quiet_hours", "frequency_cap"]
    message: str


class ContactabilityOut(BaseModel):
    channel: Literal[CHANNELS]
    allowed: bool
    next_allowed_at: datetime | None
    reasons: list[Reason]


@bp.get("/settings/contact-policy")
@api_auth(*READ)
@documented("The contact policy: quiet hours, frequency caps, required consent, time zone", response=ContactPolicyOut, tag=TAG)
def get_contact_policy():
    return jsonify(contact_policy(db.session.get(Organization, g.organization_id)).model_dump(mode="json"))


@bp.put("/settings/contact-policy")
@api_auth(*CONFIGURE)
@documented(
    "Change the given fields of the contact policy (the others keep their values)", body=ContactPolicy, response=ContactPolicyOut, tag=TAG
)
def put_contact_policy():
    organization = db.session.get(Organization, g.organization_id)
    policy, changes = update_contact_policy(organization, json_value())
    if changes:
        audit("update", changes={"contact_policy": changes})
    db.session.commit()
    return jsonify(policy.model_dump(mode="json"))


@bp.get("/leads/<int:lead_id>/contactability")
@api_auth(*READ)
@documented(
    "May the lead be contacted on this channel now? If not, why, and from when",
    response=ContactabilityOut,
    query={"channel": {"type": "string", "enum": list(CHANNELS)}},
    required_query=("channel",),
    tag=TAG,
)
def get_lead_contactability(lead_id):
    lead = get_or_404(Lead, lead_id)
    channel = request.args.get("channel")
    if channel not in CHANNELS:
        message = f"must be one of {', '.join(CHANNELS)}"
        raise ApiError(422, f"channel: {message}", errors=[{"field": "channel", "message": message}])
    verdict = contactability_of_leads(g.organization_id, [lead], [channel], utcnow())[(lead.id, channel)]
    return jsonify(ContactabilityOut.model_validate(verdict).model_dump(mode="json"))
