"""Speed to lead on the dashboard (SPEC §17): the median and 90th percentile time from a lead's arrival
to its first contact (the earliest of a completed call or email task, a status change away from new, a
sent email) over the last 7 days, with how many leads arrived and how many are not contacted yet."""

from datetime import timedelta

import pytest

from tests.conftest import login_browser
from tests.factories import make_lead, make_org
from webapp import create_app
from webapp.dashboard import services
from webapp.dashboard.views import duration_words
from webapp.extensions import db
from webapp.models import LeadEvent, Organization, OutboxMessage, Task, utcnow

SINCE_DAYS = 7


def minutes_after(lead, minutes):
    return lead.created_at + timedelta(minutes=minutes)


def task(lead, minutes, task_type="call"):
    done = minutes_after(lead, minutes)
    return Task(organization_id=lead.organization_id, lead_id=lead.id, task_type=task_type, title="t", status="done", completed_at=done)


def status_change(lead, minutes):
    data = {"field": "status", "old": "new", "new": "contacted"}
    event = LeadEvent(organization_id=lead.organization_id, lead_id=lead.id, event_type="lead_status_changed", data=data)
    event.created_at = minutes_after(lead, minutes)
    return event


def sent_email(lead, minutes):
    return OutboxMessage(
        organization_id=lead.organization_id,
        idempotency_key=f"sent-{lead.id}-{minutes}",
        lead_id=lead.id,
        recipient="lead",
        to_address=lead.email,
        subject="Hi",
        status="sent",
        sent_at=minutes_after(lead, minutes),
    )


def seven_days_of_leads(org):
    """Five leads contacted after 5, 10, 20, 40 and 60 minutes (each the earliest of its contacts), two
    not contacted, and one older than the period."""
    arrived = utcnow() - timedelta(days=2)

    def lead(**fields):
        return make_lead(org, created_at=arrived, **fields)

    a, b, c, d, e, f, g = (lead() for _ in range(7))
    old = make_lead(org, created_at=utcnow() - timedelta(days=SINCE_DAYS + 1))
    db.session.add_all(
        [
            task(a, 5),
            task(b, 30, "email"),
            status_change(b, 10),
            sent_email(c, 20),
            status_change(d, 40),
            task(e, 60),
            sent_email(e, 90),
            task(f, 1, "follow_up"),  # not a contact
            task(old, 1),
        ]
    )
    db.session.commit()
    return [a, b, c, d, e, f, g]


# by hand: durations 5, 10, 20, 40, 60 minutes; median 20; 90th percentile at 0.9 × 4 = 3.6: 40 + 0.6 × 20 = 52
MEDIAN, P90 = 20 * 60, 52 * 60


def test_the_median_and_90th_percentile_time_to_first_contact_over_the_last_7_days(org):
    seven_days_of_leads(org)
    make_lead(make_org("Other"), created_at=utcnow() - timedelta(days=1))

    figures = services.time_to_first_contact(org.id, utcnow() - timedelta(days=SINCE_DAYS))

    assert (figures.leads, figures.contacted, figures.not_contacted) == (7, 5, 2)
    assert figures.median_seconds == pytest.approx(MEDIAN) and figures.p90_seconds == pytest.approx(P90)


def test_no_contact_yet_gives_no_figures(org):
    make_lead(org)
    figures = services.time_to_first_contact(org.id, utcnow() - timedelta(days=SINCE_DAYS))
    assert (figures.leads, figures.contacted, figures.median_seconds, figures.p90_seconds) == (1, 0, None, None)


def test_the_dashboard_shows_them(org, admin, client):
    seven_days_of_leads(org)
    login_browser(client, admin.email)

    page = client.get("/").get_data(as_text=True)

    section = page.split('id="first-contact"')[1].split("</section>")[0]
    assert "Speed to lead" in section and "20 min" in section and "52 min" in section
    assert '<div class="value">7</div><div class="label">Leads</div>' in section
    assert '<div class="value">2</div><div class="label">Not contacted yet</div>' in section


def test_the_embedded_sqlite_database_gives_the_same_figures(tmp_path, app):
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'embedded.db'}",
            "REDIS_URL": None,
            "RATELIMIT_STORAGE_URI": "memory://",
            "TESTING": True,
        }
    )
    with app.app_context():
        db.create_all()
        embedded = Organization(name="Embedded", slug="embedded")
        db.session.add(embedded)
        db.session.commit()
        seven_days_of_leads(embedded)
        figures = services.time_to_first_contact(embedded.id, utcnow() - timedelta(days=SINCE_DAYS))
        db.session.remove()
    assert (figures.leads, figures.contacted) == (7, 5)
    assert figures.median_seconds == pytest.approx(MEDIAN) and figures.p90_seconds == pytest.approx(P90)


def test_percentiles_interpolate_as_percentile_cont():
    assert services.percentile([], 0.5) is None
    assert services.percentile([7.0], 0.9) == 7.0
    assert services.percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert services.percentile([0.0, 10.0], 0.9) == pytest.approx(9.0)


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(None, "—"), (42, "42 s"), (12 * 60, "12 min"), (3 * 3600, "3 h"), (3 * 3600 + 300, "3 h 5 min"), (50 * 3600, "2 d 2 h")],
)
def test_durations_read_as_people_say_them(seconds, words):
    assert duration_words(seconds) == words
