"""One-click unsubscribe (RFC 8058): signed links, the opt-out, and the public page at ``/u/<token>``.

A link carries the organization and lead ids signed with ``SECRET_KEY`` (itsdangerous): it cannot be
guessed or altered, and it does not expire (an old email's link must keep working). GET shows a
confirmation page; POST opts the lead out, both from that page and from a mail client's one-click
``List-Unsubscribe-Post`` request, which carries no CSRF token: the signed token is the authority.
"""

import functools
import hashlib
import logging

from flask import Blueprint, current_app, render_template, request
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select, update

from ..engagement.suppression import suppress_address
from ..extensions import csrf, db
from ..leads.changes import after_lead_changes, new_event
from ..leads.consents import revoke_email_consent
from ..models import Lead, Organization, OutboxMessage, utcnow
from ..models.email import SENT_STATUSES
from ..validation import is_row_id

log = logging.getLogger(__name__)
bp = Blueprint("unsubscribe", __name__)
csrf.exempt(bp)
PREVIEW_TOKEN = "preview"  # the link in previews and test emails: unsubscribes nobody
_SALT = "leadflow.unsubscribe.v1"


def _serializer() -> URLSafeSerializer:
    return _serializer_for(current_app.config["SECRET_KEY"])


@functools.lru_cache(maxsize=8)
def _serializer_for(secret_key: str) -> URLSafeSerializer:
    """Built once per key: every marketing email signs a link (a batch of runs signs a hundred)."""
    return URLSafeSerializer(secret_key, salt=_SALT, signer_kwargs={"digest_method": hashlib.sha256})


def unsubscribe_token(lead: Lead) -> str:
    return _serializer().dumps([lead.organization_id, lead.id])


def unsubscribe_url(lead: Lead) -> str:
    """The absolute link that opts this lead out of marketing email."""
    return f"{current_app.config['PUBLIC_BASE_URL']}/u/{unsubscribe_token(lead)}"


def preview_unsubscribe_url() -> str:
    """The link shown in previews and test sends, where a click must not opt a real lead out."""
    return f"{current_app.config['PUBLIC_BASE_URL']}/u/{PREVIEW_TOKEN}"


def lead_for_token(token: str) -> Lead | None:
    """The lead a token names, or None when the token is not one of ours or the lead is gone."""
    try:
        organization_id, lead_id = _serializer().loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    lead = db.session.get(Lead, lead_id) if is_row_id(lead_id) else None
    return lead if lead is not None and lead.organization_id == organization_id else None


def opt_out(lead: Lead, *, via: str) -> bool:
    """Opt the lead out of marketing email: a lead change with an ``email_opt_out`` event, through
    the lead-change hooks like any other. Returns False when it had opted out already."""
    if lead.email_opt_out:
        return False
    lead.email_opt_out = True
    lead.updated_at = utcnow()
    event = new_event(lead.organization_id, lead.id, "email_opt_out", {"field": "email_opt_out", "old": False, "new": True, "via": via})
    after_lead_changes(lead.organization_id, [lead.id], [event])
    return True


def credit_unsubscribe(lead: Lead) -> None:
    """An unsubscribe is counted for the last marketing email the lead was sent (its link is the
    lead's, not the message's: the last email is the one it came from, or the last straw)."""
    last = (
        select(OutboxMessage.id)
        .where(OutboxMessage.lead_id == lead.id, OutboxMessage.template_type == "marketing", OutboxMessage.status.in_(SENT_STATUSES))
        .order_by(OutboxMessage.sent_at.desc(), OutboxMessage.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    db.session.execute(update(OutboxMessage).where(OutboxMessage.id == last).values(unsubscribed_at=utcnow()))


@bp.route("/u/<token>", methods=["GET", "POST"])
def unsubscribe(token):
    """Public: GET asks for confirmation, POST (the button, or a one-click client) opts out."""
    if token == PREVIEW_TOKEN:
        return render_template("email_templates/unsubscribe.html", state="preview")
    lead = lead_for_token(token)
    if lead is None:
        return render_template("email_templates/unsubscribe.html", state="invalid"), 404
    organization = db.session.get(Organization, lead.organization_id)
    if request.method == "GET":
        state = "already" if lead.email_opt_out else "confirm"
        return render_template("email_templates/unsubscribe.html", state=state, organization=organization, email=_masked(lead.email))
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    if opt_out(lead, via="one_click" if one_click else "unsubscribe_page"):
        credit_unsubscribe(lead)
        revoke_email_consent(lead, source_url=request.base_url)  # the email consent is withdrawn too (SPEC §17)
        log.info("lead %s opted out of marketing email (%s)", lead.id, "one-click" if one_click else "page")
    suppress_address(lead.organization_id, lead.email, "unsubscribed", None, source="unsubscribe link")  # SPEC §17
    db.session.commit()
    return render_template("email_templates/unsubscribe.html", state="done", organization=organization, email=_masked(lead.email))


def _masked(email: str | None) -> str:
    """``j***@example.com``: enough for the reader to recognise, not enough to harvest."""
    if not email or "@" not in email:
        return ""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"
