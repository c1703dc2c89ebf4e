"""The admin page of email delivery: the send rate limit, and the delivery-events webhook (its URL, how
to sign a request, the secret, rotation)."""

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for

from ..audit import audit
from ..auth.access import ADMIN, roles_required
from ..email_templates.throttle import MAX_SEND_RATE
from ..extensions import db
from ..models import Organization
from .webhook_secret import SIGNATURE_HEADER, rotate_webhook_secret, webhook_secret

bp = Blueprint("email_delivery", __name__, url_prefix="/admin/email-delivery")


@bp.get("/")
@roles_required(*ADMIN)
def settings(rate_error: str | None = None, status: int = 200):
    organization = db.session.get(Organization, g.organization_id)
    secret = webhook_secret(organization)
    db.session.commit()
    endpoint = f"{current_app.config['PUBLIC_BASE_URL']}/api/v1/email-events"
    page = render_template(
        "engagement/delivery_settings.html",
        secret=secret,
        endpoint=endpoint,
        header=SIGNATURE_HEADER,
        rate=organization.send_rate_per_second,
        rate_error=rate_error,
        max_rate=MAX_SEND_RATE,
    )
    return page, status


@bp.post("/sending")
@roles_required(*ADMIN)
def sending():
    given = request.form.get("send_rate_per_second", "").strip()
    rate = int(given) if given.isdigit() else None
    if given and (rate is None or not 1 <= rate <= MAX_SEND_RATE):
        return settings(f"Give a whole number of emails a second from 1 to {MAX_SEND_RATE:,}, or leave it empty for no limit.", 422)
    organization = db.session.get(Organization, g.organization_id)
    if organization.send_rate_per_second != rate:
        audit("update", changes={"send_rate_per_second": {"old": organization.send_rate_per_second, "new": rate}})
        organization.send_rate_per_second = rate
    db.session.commit()
    flash(f"Emails now go out at most {rate} a second." if rate else "Emails now go out as fast as the workers send them.", "success")
    return redirect(url_for("email_delivery.settings"))


@bp.post("/rotate")
@roles_required(*ADMIN)
def rotate():
    rotate_webhook_secret(db.session.get(Organization, g.organization_id))
    audit("update", changes={"webhook_secret": "rotated"})
    db.session.commit()
    flash("A new secret is in place: events signed with the old one are refused from now on.", "success")
    return redirect(url_for("email_delivery.settings"))
