"""Delivery events from the mail provider, the webhook secret that signs them, and the organization's
send rate limit (SPEC §16)."""

from typing import Annotated

from flask import g, jsonify, request
from pydantic import BaseModel, Field, StrictInt

from ..audit import audit
from ..email_templates.throttle import MAX_SEND_RATE
from ..engagement.delivery_events import DeliveryEvents, apply_events, parse_events, signing_organization
from ..engagement.webhook_secret import SIGNATURE_HEADER, SIGNATURE_PATTERN, rotate_webhook_secret, signature_in, webhook_secret
from ..extensions import db
from ..models import Organization
from ..validation import StrictModel, parse
from . import bp
from .auth import ADMIN, READ, api_auth
from .common import json_value
from .docs import documented
from .errors import ApiError

TAG = "email events"
UNSIGNED = f"{SIGNATURE_HEADER} must be sha256=<hex HMAC-SHA256 of the raw body> under the organization's webhook secret"
SIGNATURE_DOC = {SIGNATURE_HEADER: {"type": "string", "pattern": SIGNATURE_PATTERN, "description": UNSIGNED}}


class EmailEventsOut(BaseModel):
    accepted: int
    unknown: int


class WebhookSecretOut(BaseModel):
    secret: str


class SendingSettings(StrictModel):
    send_rate_per_second: Annotated[
        StrictInt | None,
        Field(ge=1, le=MAX_SEND_RATE, description="At most this many emails a second, all workers together; null or absent: no limit"),
    ] = None


@bp.post("/email-events")
@documented(
    "Report what became of sent emails: delivered, deferred, bounced or complained (signed with the webhook secret, "
    "no bearer token; the body may also be the bare list of events). Ids of messages that do not exist, or are another "
    "organization's, are counted as unknown",
    body=DeliveryEvents,
    response=EmailEventsOut,
    headers=SIGNATURE_DOC,
    errors=(401,),
    public=True,
    tag=TAG,
)
def receive_email_events():
    signature = signature_in(request.headers.get(SIGNATURE_HEADER))
    if signature is None:
        raise ApiError(401, UNSIGNED)
    events = parse_events(json_value())
    organization_id = signing_organization(events, request.get_data(cache=True), signature)
    if organization_id is None:
        raise ApiError(401, "The signature does not match: " + UNSIGNED)
    counts = apply_events(organization_id, events)
    db.session.commit()
    return jsonify(counts)


@bp.get("/settings/webhook-secret")
@api_auth(*ADMIN)
@documented("The secret that signs the organization's delivery events (POST /email-events)", response=WebhookSecretOut, tag=TAG)
def get_webhook_secret():
    secret = webhook_secret(db.session.get(Organization, g.organization_id))
    db.session.commit()
    return jsonify({"secret": secret})


@bp.post("/settings/webhook-secret/rotate")
@api_auth(*ADMIN)
@documented("Replace the webhook secret: events signed with the old one are refused from now on", response=WebhookSecretOut, tag=TAG)
def rotate_the_webhook_secret():
    organization = db.session.get(Organization, g.organization_id)
    secret = rotate_webhook_secret(organization)
    audit("update", changes={"webhook_secret": "rotated"})
    db.session.commit()
    return jsonify({"secret": secret})


@bp.get("/settings/sending")
@api_auth(*READ)
@documented("The organization's send rate limit", response=SendingSettings, tag=TAG)
def get_sending_settings():
    return jsonify({"send_rate_per_second": db.session.get(Organization, g.organization_id).send_rate_per_second})


@bp.put("/settings/sending")
@api_auth(*ADMIN)
@documented("Set the send rate limit: a big send is spread over time, not dropped", body=SendingSettings, response=SendingSettings, tag=TAG)
def put_sending_settings():
    settings = parse(SendingSettings, json_value())
    organization = db.session.get(Organization, g.organization_id)
    old, organization.send_rate_per_second = organization.send_rate_per_second, settings.send_rate_per_second
    if old != organization.send_rate_per_second:
        audit("update", changes={"send_rate_per_second": {"old": old, "new": organization.send_rate_per_second}})
    db.session.commit()
    return jsonify({"send_rate_per_second": organization.send_rate_per_second})
