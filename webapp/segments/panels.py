"""What segments add to other pages: the lead page's "Segments" card and a dashboard figure."""

from flask import render_template, url_for
from markupsafe import Markup
from sqlalchemy import func, select

from ..extensions import db
from ..models import Lead, Segment
from . import services


def lead_segments_panel(lead: Lead, message: str | None = None, category: str = "success") -> Markup:
    """The lead page's "Segments" card: the lead's segments, and adding it to a static one."""
    stays = db.session.execute(services.segments_of_lead(lead.organization_id, lead.id)).all()
    member_of = {segment.id for _, segment in stays}
    static = db.session.scalars(
        select(Segment).where(Segment.organization_id == lead.organization_id, Segment.is_dynamic.is_(False)).order_by(Segment.name)
    ).all()
    return Markup(
        render_template(
            "segments/_lead_panel.html",
            lead=lead,
            stays=stays,
            addable=[s for s in static if s.id not in member_of],
            message=message,
            category=category,
        )
    )


def dashboard_figures(organization_id: int, since) -> list:
    count = db.session.scalar(select(func.count()).select_from(Segment).where(Segment.organization_id == organization_id))
    return [("Segments", count, url_for("segments.index"))]
