"""The outbox: every email rendered for a lead (or a test), with its status — sent, held (no mail
server), suppressed (opted out), failed (with the SMTP error) — and sending again what was held or failed."""

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import func, or_, select

from ..audit import audit
from ..auth.access import CONFIGURE, READ, roles_required
from ..engagement.timeline import message_timeline
from ..extensions import db
from ..htmx import render_page_or_fragment
from ..models import EmailTemplate, OutboxMessage
from ..models.email import MESSAGE_STATUSES
from ..pagination import paginate, requested_page
from ..replica import reads_from_replica
from ..tenancy import current_org_id, get_or_404, scoped
from .delivery import release_message
from .views import frame_response

bp = Blueprint("outbox", __name__, url_prefix="/outbox")
LIST, DETAIL = "outbox/index.html", "outbox/detail.html"
PER_PAGE = 25


def _filters() -> dict:
    filters = {
        "status": request.args.get("status", ""),
        "q": (request.args.get("q") or "").strip()[:200],
        "template_id": request.args.get("template_id", ""),
    }
    return {
        name: value
        for name, value in filters.items()
        if value and (name != "status" or value in MESSAGE_STATUSES) and (name != "template_id" or value.isdigit())
    }


@bp.get("/")
@roles_required(*READ)
@reads_from_replica
def index():
    filters = _filters()
    criteria = []
    if "status" in filters:
        criteria.append(OutboxMessage.status == filters["status"])
    if "template_id" in filters:
        criteria.append(OutboxMessage.template_id == int(filters["template_id"]))
    if "q" in filters:
        criteria.append(
            or_(
                OutboxMessage.to_address.icontains(filters["q"], autoescape=True),
                OutboxMessage.subject.icontains(filters["q"], autoescape=True),
            )
        )
    messages = paginate(scoped(OutboxMessage, *criteria).order_by(OutboxMessage.id.desc()), requested_page(), PER_PAGE)
    counts = dict(
        db.session.execute(
            select(OutboxMessage.status, func.count())
            .where(OutboxMessage.organization_id == current_org_id())
            .group_by(OutboxMessage.status)
        ).all()
    )
    templates = db.session.scalars(scoped(EmailTemplate).order_by(EmailTemplate.name)).all()
    return render_page_or_fragment(
        LIST,
        "results",
        **messages.context("messages"),
        filters=filters,
        counts=counts,
        statuses=MESSAGE_STATUSES,
        templates=templates,
        mail_server=current_app.config.get("MAIL_SERVER"),
    )


@bp.get("/<int:message_id>")
@roles_required(*READ)
def detail(message_id):
    message = get_or_404(OutboxMessage, message_id)
    return render_template(DETAIL, message=message, timeline=message_timeline(message), mail_server=current_app.config.get("MAIL_SERVER"))


@bp.get("/<int:message_id>/frame")
@roles_required(*READ)
def frame(message_id):
    """The message's HTML for the detail page's ``<iframe sandbox>`` (restrictive CSP)."""
    message = get_or_404(OutboxMessage, message_id)
    if message.body_html:
        return frame_response(message.body_html)
    return frame_response(render_template("email_templates/frame.html", result={"text": message.body_text}, errors=[]))


@bp.post("/<int:message_id>/send")
@roles_required(*CONFIGURE)
def send_again(message_id):
    """Queue a held or failed message again (with a mail server configured)."""
    message = get_or_404(OutboxMessage, message_id)
    before = message.status
    try:
        release_message(message)
    except ValueError as exc:
        db.session.rollback()
        flash(f"Not sent: {exc}.", "error")
        return redirect(url_for("outbox.detail", message_id=message_id))
    audit("update", message, {"status": [before, "queued"]})
    db.session.commit()
    flash("The message is queued: a worker sends it now.", "success")
    return redirect(url_for("outbox.detail", message_id=message_id))
