"""What became of sent email (SPEC §16): counts and rates per template, automation step and campaign,
and a daily series for charts.

A message counts once under each thing that happened to it: ``sent`` (it left our server),
``delivered`` (a delivery report, or an open or a click, which prove it), ``opened`` (or clicked)
and ``clicked`` (once each however often it happened; a suspected bot's opens and clicks set neither time, see
``recording``), ``bounced``, ``complained``, and ``unsubscribed`` (the lead opted out, credited to the
last marketing email it was sent, see ``unsubscribe``). Rates are of the messages sent.
"""

from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import func, or_, select

from ..extensions import db
from ..models import OutboxMessage
from ..models.base import utc_date
from ..models.email import SENT_STATUSES

COUNTS = ("sent", "delivered", "opened", "clicked", "bounced", "complained", "unsubscribed")
DAILY = ("sent", "opened", "clicked")
DAYS = 30


def count_columns() -> list:
    """The COUNTS as aggregate columns of a query over ``outbox_messages`` (one row per group)."""
    message = OutboxMessage
    opened = or_(message.opened_at.is_not(None), message.clicked_at.is_not(None))  # a click proves an open
    delivered = or_(message.delivered_at.is_not(None), opened)
    return [
        func.count().filter(message.status.in_(SENT_STATUSES)).label("sent"),
        func.count().filter(delivered).label("delivered"),
        func.count().filter(opened).label("opened"),
        func.count(message.clicked_at).label("clicked"),
        func.count().filter(message.status == "bounced").label("bounced"),
        func.count().filter(message.status == "complained").label("complained"),
        func.count(message.unsubscribed_at).label("unsubscribed"),
    ]


def email_stats(*criteria, today: date) -> dict:
    """Counts, rates and the last ``DAYS`` days of the organization's messages that meet ``criteria``."""
    real = (OutboxMessage.is_test.is_(False), *criteria)
    counts = db.session.execute(select(*count_columns()).where(*real)).one()._asdict()
    first_day = today - timedelta(days=DAYS - 1)
    day = utc_date(OutboxMessage.sent_at)
    rows = db.session.execute(
        select(day, *(column for column in count_columns() if column.name in DAILY))
        .where(*real, OutboxMessage.sent_at >= datetime.combine(first_day, time.min, timezone.utc))
        .group_by(day)
    ).all()
    by_day = {row[0].isoformat(): row._asdict() for row in rows}
    daily = []
    for offset in range(DAYS):
        when = (first_day + timedelta(days=offset)).isoformat()
        daily.append({"date": when, **{name: by_day.get(when, {}).get(name, 0) for name in DAILY}})
    return {**counts, "rates": rates(counts), "daily": daily}


def rates(counts: dict) -> dict:
    """Each count after ``sent`` as a share of the messages sent (0 when none were)."""
    sent = counts["sent"]
    return {name: round(counts[name] / sent, 4) if sent else 0.0 for name in COUNTS[1:]}
