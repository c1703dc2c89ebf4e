"""A lead's consents (SPEC §17): record a consent or a revocation, read the history and the current
state per channel. Rows are never edited: a revocation is a new row."""

from datetime import datetime
from typing import Literal

from flask import g, jsonify, url_for
from pydantic import BaseModel

from ..audit import audit
from ..extensions import db
from ..leads.consents import ConsentFields, consent_history, current_by_channel, record_lead_consent, validate_consent
from ..models import Lead
from ..models.consents import CONSENT_CHANNELS, CONSENT_METHODS, CONSENT_STATUSES
from ..tenancy import get_or_404
from . import bp
from .auth import READ, WORK, api_auth
from .common import Out, created, dump, json_body
from .docs import documented

TAG = "contactability"


class ConsentOut(Out):
    id: int
    lead_id: int
    channel: Literal[CONSENT_CHANNELS]
    status: Literal[CONSENT_STATUSES]
    method: Literal[CONSENT_METHODS]
    captured_at: datetime
    source_url: str | None
    ip: str | None
    disclosure_text: str | None
    certificate_url: str | None
    lead_id_token: str | None
    created_by_id: int | None
    created_at: datetime


class CurrentConsents(BaseModel):
    """The latest consent row of each channel, or null when none was recorded."""

    email: ConsentOut | None
    sms: ConsentOut | None
    phone: ConsentOut | None


class ConsentHistory(BaseModel):
    items: list[ConsentOut]
    current: CurrentConsents


@bp.post("/leads/<int:lead_id>/consents")
@api_auth(*WORK)
@documented("Record a consent or a revocation of the lead on a channel", body=ConsentFields, response=ConsentOut, status=201, tag=TAG)
def create_lead_consent(lead_id):
    lead = get_or_404(Lead, lead_id)
    values = validate_consent(json_body())
    consent = record_lead_consent(lead, values, g.user.id)
    audit("update", lead, {"consent": {"id": consent.id, "channel": consent.channel, "status": consent.status}})
    body = dump(ConsentOut, consent)
    db.session.commit()
    return created(body, url_for("api.lead_consents", lead_id=lead.id))


@bp.get("/leads/<int:lead_id>/consents")
@api_auth(*READ)
@documented("The lead's consents, newest first, and the current state per channel", response=ConsentHistory, tag=TAG)
def lead_consents(lead_id):
    history = consent_history(get_or_404(Lead, lead_id))
    current = {channel: dump(ConsentOut, consent) if consent else None for channel, consent in current_by_channel(history).items()}
    return jsonify({"items": [dump(ConsentOut, consent) for consent in history], "current": current})
