"""What automations add to other pages: the lead page, the campaign page and the dashboard."""

from datetime import date

from flask import render_template
from sqlalchemy import func, select

from ..dashboard.services import Chart, split_daily_chart
from ..extensions import db
from ..models import Automation, AutomationRun, Campaign, Lead
from .dry_run import ACTION_LABELS


def lead_runs_panel(lead: Lead) -> str:
    runs = db.session.scalars(
        select(AutomationRun).where(AutomationRun.lead_id == lead.id).order_by(AutomationRun.id.desc()).limit(20)
    ).all()
    return render_template("automations/_lead_runs.html", runs=runs, action_labels=ACTION_LABELS)


def campaign_automations_panel(campaign: Campaign) -> str:
    automations = db.session.scalars(
        select(Automation)
        .where(Automation.organization_id == campaign.organization_id, Automation.campaign_id == campaign.id)
        .order_by(Automation.name)
    ).all()
    ids = [a.id for a in automations]
    runs = (
        db.session.scalars(
            select(AutomationRun).where(AutomationRun.automation_id.in_(ids)).order_by(AutomationRun.id.desc()).limit(20)
        ).all()
        if ids
        else []
    )
    return render_template("automations/_campaign_panel.html", automations=automations, runs=runs)


def dashboard_figures(organization_id: int, since) -> list:
    from flask import url_for

    active = db.session.scalar(
        select(func.count()).select_from(Automation).where(Automation.organization_id == organization_id, Automation.is_active.is_(True))
    )
    counts = dict(
        db.session.execute(
            select(AutomationRun.status, func.count())
            .where(AutomationRun.organization_id == organization_id, AutomationRun.created_at >= since)
            .group_by(AutomationRun.status)
        ).all()
    )
    return [
        ("Active automations", active, url_for("automations.index")),
        ("Runs (24 h)", sum(counts.values()), url_for("automations.index")),
        ("Failed runs (24 h)", counts.get("failed", 0), url_for("automations.index")),
    ]


def runs_chart(organization_id: int, today: date, days: int) -> Chart:
    """The dashboard's chart of automation runs started per day: those that failed, and the others."""
    series = {"succeeded or open": None, "failed": AutomationRun.status == "failed"}
    data = split_daily_chart(AutomationRun, series, organization_id, today, days)
    return Chart("runs", "Automation runs per day", "and how many failed", data)
