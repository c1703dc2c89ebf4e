"""Dashboard (what is happening) and notifications (the bell)."""

from datetime import timedelta

from flask import Blueprint, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..auth.access import READ, roles_required
from ..extensions import db
from ..features import wiring
from ..htmx import render_page_or_fragment
from ..models import utcnow
from ..replica import reads_from_replica
from ..tenancy import current_org_id
from . import services

bp = Blueprint("dashboard", __name__)
CHART_DAYS = 30
FIRST_CONTACT_DAYS = 7


@bp.get("/")
@roles_required(*READ)
@reads_from_replica
def index():
    org_id = g.organization_id
    since = utcnow() - timedelta(hours=24)
    leads, new_leads = services.lead_counts(org_id, since)
    figures = [
        ("Leads", leads, url_for("leads.index")),
        ("New leads (24 h)", new_leads, url_for("leads.index", status="new")),
    ]
    for source in wiring().dashboard_figures:
        figures.extend(source(org_id, since))
    today = utcnow().date()
    charts = [services.Chart("leads", "New leads per day", "by source", services.leads_per_day_by_source(org_id, today, CHART_DAYS))]
    charts += [chart(org_id, today, CHART_DAYS) for chart in wiring().dashboard_charts]
    first_contact = services.time_to_first_contact(org_id, utcnow() - timedelta(days=FIRST_CONTACT_DAYS))
    return render_template(
        "dashboard/index.html",
        figures=figures,
        charts=charts,
        chart_days=CHART_DAYS,
        activity=services.recent_activity(org_id),
        first_contact=first_contact,
        first_contact_days=FIRST_CONTACT_DAYS,
        duration=duration_words,
    )


def duration_words(seconds: float | None) -> str:
    """A time to first contact as people say it: ``45 s``, ``12 min``, ``3 h 5 min``, ``2 d 4 h``; ``—`` for none."""
    if seconds is None:
        return "—"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def unread_count() -> int:
    if not current_user.is_authenticated or g.get("organization_id") is None:
        return 0
    return services.unread_notification_count(g.organization_id, current_user.id)


@bp.get("/notifications")
@login_required
def notifications():
    items = services.latest_notifications(current_org_id(), current_user.id)
    return render_page_or_fragment("dashboard/notifications.html", "list", items=items)


@bp.post("/notifications/read")
@login_required
def mark_notifications_read():
    services.mark_notifications_read(current_org_id(), current_user.id)
    db.session.commit()
    if request.headers.get("HX-Request"):
        return render_template("dashboard/_bell.html", unread=0)
    return redirect(url_for("dashboard.notifications"))
