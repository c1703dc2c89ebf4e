"""What became of sent email, on the pages: the campaign page's panel and the template page's card
(``stats`` counts; ``dashboard.charts`` draws the chart)."""

from datetime import date

from flask import render_template
from sqlalchemy import select

from ..dashboard.services import Chart, DailyChart, DailySeries
from ..models import Campaign, EmailTemplate, Lead, OutboxMessage, utcnow
from .stats import DAYS, email_stats


def results_chart(stats: dict) -> Chart:
    """The messages sent per day, stacked by what their readers did."""
    daily = stats["daily"]
    series = [
        DailySeries("clicked", [day["clicked"] for day in daily]),
        DailySeries("opened, no click", [day["opened"] - day["clicked"] for day in daily]),
        DailySeries("not opened", [day["sent"] - day["opened"] for day in daily]),
    ]
    days = [date.fromisoformat(day["date"]) for day in daily]
    return Chart("email-results", "Emails sent per day", "by what the reader did", DailyChart(days, series))


def engagement_chart(organization_id: int, today: date, days: int) -> Chart:
    """The dashboard's chart of the organization's emails sent per day, by what their readers did."""
    stats = email_stats(OutboxMessage.organization_id == organization_id, today=today)
    chart = results_chart(stats)
    return Chart("engagement", "Email engagement per day", "sent, by what the reader did", _last(chart.data, days))


def _last(data: DailyChart, days: int) -> DailyChart:
    return DailyChart(data.days[-days:], [DailySeries(series.name, series.values[-days:]) for series in data.series])


def results_card(*criteria, empty: str) -> str:
    stats = email_stats(*criteria, today=utcnow().date())
    return render_template("engagement/_results.html", stats=stats, chart=results_chart(stats), days=DAYS, empty=empty)


def template_results(template: EmailTemplate) -> str:
    return results_card(
        OutboxMessage.organization_id == template.organization_id,
        OutboxMessage.template_id == template.id,
        empty="No email of this template has been sent yet.",
    )


def campaign_results_panel(campaign: Campaign) -> str:
    leads = select(Lead.id).where(Lead.campaign_id == campaign.id)
    return results_card(
        OutboxMessage.organization_id == campaign.organization_id,
        OutboxMessage.lead_id.in_(leads),
        empty="No email has been sent to the campaign's leads yet.",
    )
