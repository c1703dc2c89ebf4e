"""The admin page of the delivery-events webhook: its URL, how to sign a request, the secret, rotation."""

from flask import Blueprint, current_app, flash, g, redirect, render_template, url_for

from ..audit import audit
from ..auth.access import ADMIN, roles_required
from ..extensions import db
from ..models import Organization
from .webhook_secret import SIGNATURE_HEADER, rotate_webhook_secret, webhook_secret

bp = Blueprint("email_webhook", __name__, url_prefix="/admin/email-webhook")


@bp.get("/")
@roles_required(*ADMIN)
def settings():
    secret = webhook_secret(db.session.get(Organization, g.organization_id))
    db.session.commit()
    endpoint = f"{current_app.config['PUBLIC_BASE_URL']}/api/v1/email-events"
    return render_template("engagement/webhook.html", secret=secret, endpoint=endpoint, header=SIGNATURE_HEADER)


@bp.post("/rotate")
@roles_required(*ADMIN)
def rotate():
    rotate_webhook_secret(db.session.get(Organization, g.organization_id))
    audit("update", changes={"webhook_secret": "rotated"})
    db.session.commit()
    flash("A new secret is in place: events signed with the old one are refused from now on.", "success")
    return redirect(url_for("email_webhook.settings"))
