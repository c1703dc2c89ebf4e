"""What the dashboard and the notification bell read, for one organization."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import case, func, select, update

from ..extensions import db
from ..models import Lead, LeadEvent, Notification, utcnow
from ..models.base import utc_date


def lead_counts(organization_id: int, since: datetime) -> tuple[int, int]:
    """How many leads the organization has, and how many of them arrived since ``since``."""
    count = select(func.count()).select_from(Lead).where(Lead.organization_id == organization_id)
    return db.session.scalar(count), db.session.scalar(count.where(Lead.created_at >= since))


def recent_activity(organization_id: int, limit: int = 15) -> list:
    """The latest lead events with their leads, newest first: rows of ``(LeadEvent, Lead)``."""
    return db.session.execute(
        select(LeadEvent, Lead)
        .join(Lead, Lead.id == LeadEvent.lead_id)
        .where(LeadEvent.organization_id == organization_id)
        .order_by(LeadEvent.created_at.desc(), LeadEvent.id.desc())
        .limit(limit)
    ).all()


def unread_notification_count(organization_id: int, user_id: int) -> int:
    """The number on the bell."""
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.organization_id == organization_id, Notification.user_id == user_id, Notification.read_at.is_(None))
        )
        or 0
    )


def latest_notifications(organization_id: int, user_id: int, limit: int = 50) -> list[Notification]:
    """The user's notifications in the organization, newest first."""
    return db.session.scalars(
        select(Notification)
        .where(Notification.organization_id == organization_id, Notification.user_id == user_id)
        .order_by(Notification.created_at.desc())
        .limit(limit)
    ).all()


def mark_notifications_read(organization_id: int, user_id: int) -> None:
    """Mark the user's unread notifications read (not committed)."""
    db.session.execute(
        update(Notification)
        .where(Notification.organization_id == organization_id, Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )


# --- the charts: one query each, by UTC day over the last ``days`` days (today included) ---------------
# The dashboard's own chart is the leads'; the runs' and the emails' come from their features.


@dataclass(frozen=True)
class DailySeries:
    name: str
    values: list[int]  # one count per day of the chart, oldest first


@dataclass(frozen=True)
class DailyChart:
    days: list[date]
    series: list[DailySeries]

    @property
    def total(self) -> int:
        return sum(sum(s.values) for s in self.series)


@dataclass(frozen=True)
class Chart:
    """A chart of the dashboard; features add theirs through the wiring (``dashboard_charts``)."""

    key: str
    title: str
    subtitle: str
    data: DailyChart

    @property
    def layout(self):
        from .charts import lay_out_bars  # the SVG's geometry (charts.py reads DailyChart from here)

        return lay_out_bars(self.data)


def chart_days(today: date, days: int) -> list[date]:
    return [today - timedelta(days=n) for n in range(days - 1, -1, -1)]


def daily_chart(rows, days: list[date], names: list[str]) -> DailyChart:
    """``rows`` of ``(day, name, count)`` as one series per name (in ``names`` order), zeros filled in."""
    index = {day: i for i, day in enumerate(days)}
    values = {name: [0] * len(days) for name in names}
    for day, name, count in rows:
        if day in index and name in values:
            values[name][index[day]] += count
    return DailyChart(days, [DailySeries(name, values[name]) for name in names])


def leads_per_day_by_source(organization_id: int, today: date, days: int = 30) -> DailyChart:
    """New leads per day, one series per source (``unknown`` for none), the most common first."""
    span = chart_days(today, days)
    day = utc_date(Lead.created_at)
    rows = [
        (day_, source or "unknown", count)
        for day_, source, count in db.session.execute(
            select(day, Lead.source, func.count())
            .where(Lead.organization_id == organization_id, Lead.created_at >= start_of(span[0]))
            .group_by(day, Lead.source)
        )
    ]
    totals: dict[str, int] = {}
    for _, source, count in rows:
        totals[source] = totals.get(source, 0) + count
    names = sorted(totals, key=lambda name: (-totals[name], name))
    return daily_chart(rows, span, names)


def split_daily_chart(model, series: dict, organization_id: int, today: date, days: int) -> DailyChart:
    """Rows of ``model`` made per day over the chart's days, in two series, in ``series`` order:
    ``{name: condition}`` for those that match, ``{name: None}`` for the others. One query."""
    matching, condition = next((name, condition) for name, condition in series.items() if condition is not None)
    other = next(name for name, condition in series.items() if condition is None)
    span = chart_days(today, days)
    day = utc_date(model.created_at)
    rows = db.session.execute(
        select(day, func.count(), func.sum(case((condition, 1), else_=0)))
        .where(model.organization_id == organization_id, model.created_at >= start_of(span[0]))
        .group_by(day)
    ).all()
    flat = [(d, matching, m) for d, _, m in rows] + [(d, other, n - m) for d, n, m in rows]
    return daily_chart(flat, span, list(series))


def start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


# --- speed to lead (SPEC §17): time to first contact -------------------------------------------------


@dataclass(frozen=True)
class FirstContactTimes:
    """The leads that arrived in a period: how many, how many were contacted, and the median and
    90th percentile of the time to their first contact (seconds; None when none was contacted)."""

    leads: int
    contacted: int
    median_seconds: float | None
    p90_seconds: float | None

    @property
    def not_contacted(self) -> int:
        return self.leads - self.contacted


def time_to_first_contact(organization_id: int, since: datetime) -> FirstContactTimes:
    """Over the leads created since ``since``: the time from a lead's creation to its first contact
    (``leads.first_contact``). PostgreSQL computes the percentiles (``percentile_cont``, one query);
    SQLite has none, so there the durations are read and interpolated the same way in Python."""
    from ..leads.first_contact import first_contacts

    arrived = select(Lead.id).where(Lead.organization_id == organization_id, Lead.created_at >= since)
    firsts = first_contacts(organization_id, arrived)
    joined = (
        select(Lead.created_at, firsts.c.first_contact_at)
        .select_from(Lead)
        .outerjoin(firsts, firsts.c.lead_id == Lead.id)
        .where(Lead.organization_id == organization_id, Lead.created_at >= since)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        rows = joined.subquery()
        seconds = func.extract("epoch", rows.c.first_contact_at - rows.c.created_at)
        leads, contacted, median, p90 = db.session.execute(
            select(
                func.count(),
                func.count(rows.c.first_contact_at),
                func.percentile_cont(0.5).within_group(seconds),
                func.percentile_cont(0.9).within_group(seconds),
            )
        ).one()
        return FirstContactTimes(leads, contacted, _float(median), _float(p90))
    pairs = db.session.execute(joined).all()
    durations = sorted((first - created).total_seconds() for created, first in pairs if first is not None)
    return FirstContactTimes(len(pairs), len(durations), percentile(durations, 0.5), percentile(durations, 0.9))


def percentile(ordered: list[float], fraction: float) -> float | None:
    """``percentile_cont``: the value at ``fraction`` of the sorted values, interpolated linearly."""
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def _float(value) -> float | None:
    return None if value is None else float(value)
