"""The dashboard's charts: leads per day by source, runs and failures, emails; last 30 days, one
organization, UTC days; drawn as accessible SVG on the server."""

import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from tests.conftest import login_browser
from tests.factories import make_lead, make_org
from webapp.automations.panels import runs_chart
from webapp.dashboard import services
from webapp.dashboard.charts import lay_out_bars, nice_maximum
from webapp.email_templates.panels import emails_chart
from webapp.extensions import db
from webapp.models import Automation, AutomationRun, OutboxMessage

TODAY = date(2026, 3, 31)


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc)


def lead_on(org, day: date, source: str | None, hour: int = 12):
    lead = make_lead(org, source=source)
    lead.created_at = at(day, hour)
    return lead


@pytest.fixture
def automation(org):
    automation = Automation(organization_id=org.id, name="Welcome", slug="welcome", trigger_type="lead_created")
    db.session.add(automation)
    db.session.commit()
    return automation


def add_run(org, automation, lead, day: date, status: str):
    db.session.add(
        AutomationRun(
            organization_id=org.id,
            automation_id=automation.id,
            lead_id=lead.id,
            status=status,
            trigger_type="lead_created",
            dedupe_key=uuid.uuid4().hex,
            created_at=at(day),
        )
    )


def test_leads_per_day_count_each_source_by_utc_day_for_one_organization(org):
    lead_on(org, TODAY, "website", hour=0)
    lead_on(org, TODAY, "website", hour=23)
    lead_on(org, TODAY - timedelta(days=1), "referral")
    lead_on(org, TODAY - timedelta(days=1), None)
    lead_on(org, TODAY - timedelta(days=30), "website")  # the day before the 30 days
    lead_on(make_org("Rival"), TODAY, "website")
    db.session.commit()

    chart = services.leads_per_day_by_source(org.id, TODAY, 30)
    assert chart.days[0] == TODAY - timedelta(days=29) and chart.days[-1] == TODAY and len(chart.days) == 30
    by_name = {s.name: s.values for s in chart.series}
    assert list(by_name) == ["website", "referral", "unknown"]  # the most common first
    assert by_name["website"][-1] == 2 and sum(by_name["website"]) == 2
    assert by_name["referral"][-2] == 1 and by_name["unknown"][-2] == 1
    assert chart.total == 4


def test_runs_per_day_split_failures_from_the_others(org, automation):
    lead = make_lead(org)
    add_run(org, automation, lead, TODAY, "completed")
    add_run(org, automation, lead, TODAY, "failed")
    add_run(org, automation, lead, TODAY, "pending")
    add_run(org, automation, lead, TODAY - timedelta(days=2), "failed")
    db.session.commit()

    chart = runs_chart(org.id, TODAY, 30).data
    failed = next(s for s in chart.series if s.name == "failed").values
    others = next(s for s in chart.series if s.name == "succeeded or open").values
    assert (others[-1], failed[-1]) == (2, 1) and (others[-3], failed[-3]) == (0, 1) and chart.total == 4


def test_emails_per_day_split_sent_from_not_sent(org):
    for n, status in enumerate(("sent", "sent", "held", "failed")):
        db.session.add(OutboxMessage(organization_id=org.id, idempotency_key=f"k{n}", status=status, created_at=at(TODAY)))
    db.session.commit()
    chart = emails_chart(org.id, TODAY, 30).data
    assert [(s.name, s.values[-1]) for s in chart.series] == [("sent", 2), ("not sent", 2)]


def test_bars_stack_and_the_axis_rounds_up():
    chart = services.DailyChart(
        [TODAY - timedelta(days=1), TODAY], [services.DailySeries("website", [3, 0]), services.DailySeries("referral", [4, 0])]
    )
    layout = lay_out_bars(chart)
    assert [tick.label for tick in layout.y_ticks] == ["0", "5", "10"]
    lower, upper = layout.bars
    assert lower.x == upper.x and round(upper.y + upper.height, 2) == lower.y  # stacked: the second sits on the first
    assert lower.y + lower.height == layout.baseline
    assert layout.day_titles[0][3] == "Mar 30: 3 website, 4 referral" and layout.day_titles[1][3] == "Mar 31: none"
    assert [(name, total) for name, _, total in layout.legend] == [("website", 3), ("referral", 4)]
    assert [nice_maximum(n) for n in (0, 3, 7, 11, 27, 180)] == [4, 4, 10, 20, 50, 200]


def test_the_dashboard_draws_four_accessible_charts(client, org, admin):
    lead_on(org, date.today(), "facebook")
    db.session.commit()
    login_browser(client, admin.email)
    html = client.get("/").get_data(as_text=True)
    assert html.count('role="img"') == 4
    for title in ("New leads per day", "Automation runs per day", "Emails per day", "Email engagement per day"):
        assert "<title id=" in html and f">{title}, last 30 days</title>" in html
    assert "1 in all; 1 facebook." in html  # the chart's description for screen readers
    assert html.count("<summary>Numbers by day</summary>") == 4
    assert "None in the last 30 days" in html  # no runs, no emails yet
