"""Lead events by month: PostgreSQL partitions created ahead, the DEFAULT partition that loses no
insert, retention that drops whole months; SQLite's one plain table behind the same functions."""

import secrets
import threading
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import select, text

from tests.conftest import PG_ADMIN_URL
from tests.factories import make_lead, make_org
from webapp import create_app
from webapp.batching import batch, with_new_id
from webapp.extensions import db
from webapp.leads import bulk
from webapp.leads.partitions import (
    add_months,
    create_event_partition,
    drop_expired_events,
    ensure_event_partitions,
    event_partitions,
    maintain_event_partitions,
    month_start,
    partition_name,
)
from webapp.models import LeadEvent, Organization, utcnow


def this_month() -> datetime:
    return month_start(utcnow())


def add_event(lead, created_at: datetime) -> int:
    """A committed event's id. The test's session is left outside any transaction: partition DDL
    waits for the transactions that read the table."""
    event = LeadEvent(organization_id=lead.organization_id, lead_id=lead.id, event_type="lead_updated", data={}, created_at=created_at)
    db.session.add(event)
    db.session.flush()
    event_id = event.id
    db.session.commit()
    return event_id


def partition_of(event_id: int) -> str:
    with db.engine.connect() as connection:
        return connection.scalar(text("SELECT tableoid::regclass::text FROM lead_events WHERE id = :id"), {"id": event_id})


def event_ids() -> set[int]:
    with db.engine.connect() as connection:
        return set(connection.scalars(select(LeadEvent.id)))


def partitions() -> dict[datetime, str]:
    with db.engine.connect() as connection:
        return event_partitions(connection)


def test_this_month_and_the_next_three_have_partitions_and_ensuring_again_creates_none(session):
    months = partitions()
    for offset in range(4):
        assert partition_name(add_months(this_month(), offset)) == months[add_months(this_month(), offset)]
    assert ensure_event_partitions() == []


def test_a_new_event_is_stored_in_the_partition_of_its_month(session):
    lead = make_lead(make_org())
    event = add_event(lead, utcnow())
    assert partition_of(event) == partition_name(this_month())


def test_an_event_far_in_the_past_lands_in_the_default_partition_then_moves_to_its_month(session):
    lead = make_lead(make_org())
    old = add_event(lead, datetime(2011, 5, 10, 12, tzinfo=timezone.utc))
    other_month = add_event(lead, datetime(2011, 6, 1, tzinfo=timezone.utc))
    assert partition_of(old) == partition_of(other_month) == "lead_events_default"

    assert create_event_partition(datetime(2011, 5, 31, 23, tzinfo=timezone.utc)) is True
    assert partition_of(old) == "lead_events_2011_05"
    assert partition_of(other_month) == "lead_events_default"  # the first instant of June is June's
    assert db.session.get(LeadEvent, old).created_at == datetime(2011, 5, 10, 12, tzinfo=timezone.utc)
    assert create_event_partition(datetime(2011, 5, 1, tzinfo=timezone.utc)) is False


def test_ensuring_gives_the_months_found_in_the_default_partition_their_own(session):
    lead = make_lead(make_org())
    stray = add_event(lead, datetime(2012, 2, 29, 23, 59, tzinfo=timezone.utc))
    assert "lead_events_2012_02" in ensure_event_partitions()
    assert partition_of(stray) == "lead_events_2012_02"


def test_two_processes_creating_the_same_partition_at_once_both_succeed(app, session):
    month = datetime(2013, 7, 1, tzinfo=timezone.utc)
    outcomes, start = [], threading.Barrier(2)

    def create():
        with app.app_context():
            start.wait()
            outcomes.append(create_event_partition(month))

    threads = [threading.Thread(target=create) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == [False, True]
    assert partitions()[month] == "lead_events_2013_07"


def test_retention_drops_whole_old_months_and_keeps_the_newer_ones(session):
    lead = make_lead(make_org())
    db.session.commit()
    for offset in (-15, -14, -13, -12, -2):
        create_event_partition(add_months(this_month(), offset))
    expired = add_event(lead, add_months(this_month(), -13) + timedelta(days=3))
    kept = add_event(lead, add_months(this_month(), -12))  # the first instant of the oldest month kept
    recent = add_event(lead, add_months(this_month(), -2) + timedelta(days=1))
    stray = add_event(lead, datetime(2001, 1, 1, tzinfo=timezone.utc))  # in the DEFAULT partition

    result = drop_expired_events(12)

    assert {partition_name(add_months(this_month(), offset)) for offset in (-15, -14, -13)} <= set(result.partitions_dropped)
    assert partition_name(add_months(this_month(), -12)) not in result.partitions_dropped
    assert result.rows_deleted == 1
    assert event_ids() == {kept, recent}
    assert expired not in event_ids() and stray not in event_ids()
    assert add_months(this_month(), -12) in partitions() and add_months(this_month(), -13) not in partitions()


def test_the_maintenance_sweep_applies_the_retention_setting(app, session, monkeypatch):
    create_event_partition(add_months(this_month(), -30))
    monkeypatch.setitem(app.config, "LEAD_EVENT_RETENTION_MONTHS", None)
    maintain_event_partitions()
    assert add_months(this_month(), -30) in partitions()  # no setting: kept forever
    monkeypatch.setitem(app.config, "LEAD_EVENT_RETENTION_MONTHS", 24)
    assert maintain_event_partitions() >= 1
    assert add_months(this_month(), -30) not in partitions()
    assert add_months(this_month(), 3) in partitions()


def test_bulk_inserts_and_drawn_ids_write_to_the_partitions(session):
    lead = make_lead(make_org())
    rows = [
        {
            "organization_id": lead.organization_id,
            "lead_id": lead.id,
            "event_type": "lead_created",
            "data": {"n": n},
            "actor_id": None,
            "created_at": at,
        }
        for n, at in enumerate((utcnow(), datetime(2005, 3, 1, tzinfo=timezone.utc)))
    ]
    ids = bulk.insert_with_ids(LeadEvent.__table__, rows)
    with batch():
        drawn = with_new_id(LeadEvent(organization_id=lead.organization_id, lead_id=lead.id, event_type="email_sent", data={}))
        db.session.flush()
    db.session.commit()
    assert len({*ids, drawn.id}) == 3
    assert [partition_of(event_id) for event_id in ids] == [partition_name(this_month()), "lead_events_default"]
    assert partition_of(drawn.id) == partition_name(this_month())
    assert db.session.scalar(text("SELECT pg_get_serial_sequence('lead_events', 'id')")) == "public.lead_events_id_seq"


@pytest.fixture
def sqlite_app(tmp_path):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/leadflow.db", "REDIS_URL": None})
    with app.app_context():
        db.create_all()
        yield app
        db.session.remove()
        db.engine.dispose()


def test_on_sqlite_the_table_is_plain_and_retention_deletes_old_rows(sqlite_app):
    org = Organization(name="Acme Insurance", slug="acme")
    db.session.add(org)
    db.session.commit()
    lead = make_lead(org)
    old = add_event(lead, add_months(this_month(), -7))
    new = add_event(lead, utcnow())
    assert old != new
    assert ensure_event_partitions() == [] and create_event_partition(this_month()) is False

    result = drop_expired_events(6)

    assert result.partitions_dropped == [] and result.rows_deleted == 1
    assert event_ids() == {new}
    sqlite_app.config["LEAD_EVENT_RETENTION_MONTHS"] = 1
    assert maintain_event_partitions() == 0


def test_migration_0014_moves_the_events_into_monthly_partitions_and_back(test_env):
    name = f"leadflow_partitions_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    app = create_app({"SQLALCHEMY_DATABASE_URI": test_env["DATABASE_URL"].rsplit("/", 1)[0] + f"/{name}", "TESTING": True})
    old_month = add_months(this_month(), -5)
    try:
        with app.app_context():
            upgrade(revision="0013")
            with db.engine.begin() as conn:
                conn.execute(text("INSERT INTO organizations (name, slug, created_at, updated_at) VALUES ('Acme', 'acme', now(), now())"))
                conn.execute(
                    text(
                        "INSERT INTO leads (organization_id, status, priority, email_opt_out, created_at, updated_at) "
                        "SELECT id, 'new', 'low', false, now(), now() FROM organizations"
                    )
                )
                conn.execute(
                    text(
                        "INSERT INTO lead_events (organization_id, lead_id, event_type, data, created_at) "
                        "SELECT organization_id, id, 'lead_updated', '{}', at FROM leads, unnest(CAST(:moments AS timestamptz[])) AS at"
                    ),
                    {"moments": [old_month + timedelta(days=2), utcnow(), add_months(this_month(), 9)]},
                )
            upgrade()
            with db.engine.begin() as conn:
                placed = conn.execute(text("SELECT id, tableoid::regclass::text FROM lead_events ORDER BY id")).all()
                assert placed == [(1, partition_name(old_month)), (2, partition_name(this_month())), (3, "lead_events_default")]
                assert set(event_partitions(conn)) == {add_months(old_month, offset) for offset in range(9)}
                assert conn.scalar(text("SELECT pg_get_serial_sequence('lead_events', 'id')")) == "public.lead_events_id_seq"
                assert conn.scalar(text("SELECT nextval('lead_events_id_seq')")) == 4
            downgrade(revision="0013")
            with db.engine.begin() as conn:
                assert conn.scalar(text("SELECT relkind FROM pg_class WHERE relname = 'lead_events'")) == "r"
                assert list(conn.scalars(text("SELECT id FROM lead_events ORDER BY id"))) == [1, 2, 3]
                assert conn.scalar(text("SELECT nextval('lead_events_id_seq')")) == 5
            db.engine.dispose()
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
