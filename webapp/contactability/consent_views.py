"""The lead page's consent form (SPEC §17): record a consent or a revocation, then show the "Consent"
card again with it, and the "Contactability" card with what it changed. The API's rules, checked in
one place (``leads.consents.validate_consent``)."""

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user

from ..audit import audit
from ..auth.access import WORK, roles_required
from ..extensions import db, htmx
from ..leads.consents import ConsentFields, record_lead_consent, validate_consent
from ..models import Lead
from ..tenancy import get_or_404
from ..validation import ValidationFailed
from .panels import CHANNEL_NAMES, lead_consents_panel, lead_contactability_panel

bp = Blueprint("lead_consents", __name__, url_prefix="/leads")
FORM_FIELDS = tuple(ConsentFields.model_fields)


@bp.post("/<int:lead_id>/consents")
@roles_required(*WORK)
def record(lead_id):
    lead = get_or_404(Lead, lead_id)
    submitted = {name: request.form.get(name, "") for name in FORM_FIELDS if name in request.form}
    try:
        consent = record_lead_consent(lead, validate_consent(submitted), current_user.id)
    except ValidationFailed as exc:
        db.session.rollback()
        errors = {error["field"]: error["message"] for error in exc.errors}
        if not htmx:
            flash("The consent was not recorded: " + "; ".join(f"{name}: {text}" for name, text in errors.items()), "error")
            return redirect(url_for("leads.detail", lead_id=lead.id))
        return lead_consents_panel(lead, submitted, errors), 422
    audit("update", lead, {"consent": {"id": consent.id, "channel": consent.channel, "status": consent.status}, "via": "form"})
    db.session.commit()
    message = f"{CHANNEL_NAMES[consent.channel]} consent {consent.status}."
    if not htmx:
        flash(message, "success")
        return redirect(url_for("leads.detail", lead_id=lead.id))
    return lead_consents_panel(lead, message=message) + lead_contactability_panel(lead, oob=True)
