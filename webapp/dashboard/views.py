"""Dashboard (what is happening) and notifications (the bell)."""
from datetime import timedelta

from flask import Blueprint, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select, update

from ..auth.access import READ, roles_required
from ..extensions import db
from ..htmx import render_page_or_fragment
from ..models import Lead, LeadEvent, Notification, utcnow
from ..tenancy import scoped

bp = Blueprint("dashboard", __name__)

# Other features add figures to the dashboard: a function(organization_id, since) -> list of (label, value, url).
dashboard_figures: list = []


@bp.get("/")
@roles_required(*READ)
def index():
    org_id = g.organization_id
    since = utcnow() - timedelta(hours=24)
    figures = [
        ("Leads", db.session.scalar(select(func.count()).select_from(Lead).where(Lead.organization_id == org_id)),
         url_for("leads.index")),
        ("New leads (24 h)", db.session.scalar(select(func.count()).select_from(Lead).where(
            Lead.organization_id == org_id, Lead.created_at >= since)), url_for("leads.index", status="new")),
    ]
    for source in dashboard_figures:
        figures.extend(source(org_id, since))
    activity = db.session.execute(
        select(LeadEvent, Lead).join(Lead, Lead.id == LeadEvent.lead_id)
        .where(LeadEvent.organization_id == org_id)
        .order_by(LeadEvent.created_at.desc(), LeadEvent.id.desc()).limit(15)
    ).all()
    return render_template("dashboard/index.html", figures=figures, activity=activity)


def unread_count() -> int:
    if not current_user.is_authenticated or g.get("organization_id") is None:
        return 0
    return db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == current_user.id, Notification.read_at.is_(None))) or 0


@bp.get("/notifications")
@login_required
def notifications():
    items = db.session.scalars(scoped(Notification, Notification.user_id == current_user.id)
                               .order_by(Notification.created_at.desc()).limit(50)).all()
    return render_page_or_fragment("dashboard/notifications.html", "list", items=items)


@bp.post("/notifications/read")
@login_required
def mark_notifications_read():
    db.session.execute(update(Notification).where(
        Notification.user_id == current_user.id, Notification.read_at.is_(None)).values(read_at=utcnow()))
    db.session.commit()
    if request.headers.get("HX-Request"):
        return render_template("dashboard/_bell.html", unread=0)
    return redirect(url_for("dashboard.notifications"))
