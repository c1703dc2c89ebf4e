"""Lead events partitioned by month against the same events in one plain table, on PostgreSQL.

    .venv/bin/python bench/events.py [--leads 200000] [--events 5000000] [--months 24] [--runs 7]

Creates its own database (``leadflow_bench_<random>``, dropped afterwards; ``TEST_POSTGRES_ADMIN_URL``
as for the tests) with ``--leads`` leads of one organization and ``--events`` lead events spread over
the last ``--months`` months, generated in SQL (generate_series). The events are stored twice: in
``lead_events`` as the models create it (a partition per month, ``leads.partitions``) and, with the
same ids and values, in ``plain.lead_events``, the table as it was before migration 0014 (one table,
primary key ``id``, the same indexes). The same statements run on both: the plain table's connection
puts the schema ``plain`` first on its search path.

Measured, alternating the two so that caches and a busy machine favour neither (medians after a
warm-up): segment counts with activity rules, compiled by the rule engine (``segments.activity``),
and lead timeline pages (the newest 200 events of a lead, as the lead page and the API read them).
For each, the partitions the plan reads (EXPLAIN ANALYZE: pruned at planning or never executed are
left out). Target: partitioned no slower (ratio plain / partitioned >= 0.9), faster where a time
window prunes months. Last, once: the retention of half the months, partitions dropped against a
DELETE of the same rows from the plain table.
"""

import argparse
import os
import random
import re
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.common import create_database, drop_database  # noqa: E402
from bench.segments import GENERATE_LEADS, build_app, median_pair, timed  # noqa: E402

EVENT_TYPES = ["email_sent"] * 6 + ["email_delivered"] * 5 + ["email_opened"] * 3 + ["email_clicked", "lead_updated", "lead_status_changed"]
COLUMNS = """id integer NOT NULL, organization_id integer NOT NULL, lead_id integer NOT NULL, event_type varchar(40) NOT NULL,
             data jsonb NOT NULL, actor_id integer, created_at timestamp with time zone NOT NULL"""
GENERATE_EVENTS = f"""
INSERT INTO plain.lead_events (id, organization_id, lead_id, event_type, data, created_at)
SELECT g, :org, :first_lead + floor(random() * :leads)::int,
       (ARRAY[{", ".join(f"'{event_type}'" for event_type in EVENT_TYPES)}])[1 + floor(random() * {len(EVENT_TYPES)})::int],
       CASE WHEN g % 3 = 0 THEN jsonb_build_object('template_id', g % 20) ELSE '{{}}'::jsonb END,
       now() - random() * (:months * interval '1 month')
FROM generate_series(1, :count) AS g
"""
TIMELINE_LEADS = 50  # lead pages per timed run
PARTITION = re.compile(r"\bon (lead_events_(?:\d{4}_\d{2}|default))\b")


def generate(db, text, leads: int, events: int, months: int) -> int:
    """One organization with its leads; the events in ``plain.lead_events``, then copied to the
    partitioned ``lead_events`` (indexes of both built after the rows are in); returns the org id."""
    from webapp.leads.partitions import add_months, create_event_partition, ensure_event_partitions, month_start
    from webapp.models import LeadEvent, Organization, utcnow

    org = Organization(name="Bench Insurance", slug="bench")
    db.session.add(org)
    db.session.commit()
    db.session.execute(text("SELECT setseed(0.42)"))
    db.session.execute(text(GENERATE_LEADS), {"org": org.id, "count": leads, "ordered": False})
    first_lead = db.session.scalar(text("SELECT min(id) FROM leads"))
    db.session.commit()
    for offset in range(-months, 0):
        create_event_partition(add_months(month_start(utcnow()), offset))
    ensure_event_partitions()

    db.session.execute(text("CREATE SCHEMA plain"))
    db.session.execute(text(f"CREATE TABLE plain.lead_events ({COLUMNS}, PRIMARY KEY (id))"))
    params = {"org": org.id, "first_lead": first_lead, "leads": leads, "months": months, "count": events}
    db.session.execute(text("SET LOCAL session_replication_role = replica"))  # no foreign key checks: the values are right by construction
    db.session.execute(text(GENERATE_EVENTS), params)
    indexes = LeadEvent.__table__.indexes
    connection = db.session.connection()
    for index in indexes:
        index.drop(connection)
    db.session.execute(text("INSERT INTO lead_events SELECT * FROM plain.lead_events"))
    for index in indexes:
        index.create(connection)
        columns = ", ".join(column.name for column in index.columns)
        db.session.execute(text(f"CREATE INDEX {index.name} ON plain.lead_events ({columns})"))
    db.session.execute(text("SELECT setval('lead_events_id_seq', :count)"), {"count": events})
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    return org.id


def activity_counts(org: int, now) -> list[tuple[str, object]]:
    """Segment counts of one activity rule each, as the rule engine compiles them."""
    from sqlalchemy import func, select

    from webapp.models import Lead
    from webapp.segments.activity import Activity, Window, activity_clause

    def count(activity: Activity):
        clause = activity_clause("has_done", activity, org, now)
        return select(func.count()).select_from(Lead.__table__).where(Lead.__table__.c.organization_id == org, clause)

    return [
        ("clicked in the last 7 days", count(Activity("email_clicked", Window(7, "days")))),
        ("opened in the last 30 days", count(Activity("email_opened", Window(30, "days")))),
        ("sent 3+ in the last 12 weeks", count(Activity("email_sent", Window(12, "weeks"), at_least=3))),
        ("clicked at any time", count(Activity("email_clicked"))),
    ]


def timeline_page():
    """The newest 200 events of a lead, newest first: the lead page's and the API's timeline."""
    from sqlalchemy import bindparam, select

    from webapp.models import LeadEvent

    return (
        select(LeadEvent.__table__)
        .where(LeadEvent.lead_id == bindparam("lead_id"))
        .order_by(LeadEvent.created_at.desc(), LeadEvent.id.desc())
        .limit(200)
    )


def partitions_read(connection, statement, params: dict) -> str:
    """How many of the partitions the plan of ``statement`` reads, e.g. ``"2 of 29"``."""
    from sqlalchemy import text

    compiled = statement.compile(dialect=connection.dialect)
    plan = connection.exec_driver_sql(
        f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {compiled}", {**compiled.params, **params}
    ).scalars()
    read = {match.group(1) for line in plan if "never executed" not in line for match in [PARTITION.search(line)] if match}
    total = connection.scalar(text("SELECT count(*) FROM pg_inherits WHERE inhparent = 'lead_events'::regclass"))
    return f"{len(read)} of {total}"


def measure(db, org: int, leads: int, runs: int) -> list[tuple]:
    from sqlalchemy import text

    from webapp.models import utcnow

    partitioned = db.engine.connect()
    plain = db.engine.connect()
    plain.exec_driver_sql("SET search_path TO plain, public")
    rows = []
    now = utcnow()
    for name, statement in activity_counts(org, now):
        ours, base, count, base_count = median_pair(
            runs, lambda s=statement: partitioned.execute(s).scalar(), lambda s=statement: plain.execute(s).scalar(), min_seconds=3
        )
        assert count == base_count, (name, count, base_count)
        rows.append((f"segment count: {name}", ours, base, partitions_read(partitioned, statement, {}), f"{count:,} leads"))

    first_lead = db.session.scalar(text("SELECT min(id) FROM leads"))
    pages = [{"lead_id": first_lead + random.Random(seed).randrange(leads)} for seed in range(TIMELINE_LEADS)]
    statement = timeline_page()

    def read_pages(connection):
        return sum(len(connection.execute(statement, page).all()) for page in pages)

    ours, base, read, base_read = median_pair(runs, lambda: read_pages(partitioned), lambda: read_pages(plain), min_seconds=3)
    assert read == base_read
    rows.append(
        (
            f"lead timeline, {TIMELINE_LEADS} pages",
            ours,
            base,
            partitions_read(partitioned, statement, pages[0]),
            f"{read / TIMELINE_LEADS:.0f} events a page",
        )
    )
    partitioned.close()
    plain.close()
    return rows


def measure_retention(db, keep_months: int) -> tuple:
    """Retention of ``keep_months`` months, once each (it removes the rows): the partitions of the older
    months dropped, against a DELETE of the same rows from the plain table."""
    from sqlalchemy import text

    from webapp.leads.partitions import drop_expired_events, retention_cutoff

    cutoff = retention_cutoff(keep_months)
    with db.engine.begin() as connection:
        base, deleted = timed(
            lambda: connection.execute(text("DELETE FROM plain.lead_events WHERE created_at < :cutoff"), {"cutoff": cutoff})
        )
    with db.engine.begin() as connection:
        ours, result = timed(lambda: drop_expired_events(keep_months, connection=connection))
    return (
        f"retention: keep {keep_months} months",
        ours,
        base,
        f"{len(result.partitions_dropped)} dropped",
        f"{deleted.rowcount:,} events removed",
    )


def report(rows: list[tuple], leads: int, events: int, months: int) -> None:
    print(f"\n{events:,} lead events of {leads:,} leads over {months} months; medians, plain / partitioned >= 0.9 is the target\n")
    print(f"{'query':<46} {'partitioned':>12} {'plain':>10} {'ratio':>7}  {'partitions read':<16} result")
    missed = 0
    for name, ours, base, read, result in rows:
        ratio = base / ours
        missed += ratio < 0.9
        print(f"{name:<46} {ours * 1000:>9.1f} ms {base * 1000:>7.1f} ms {ratio:>6.2f}x  {read:<16} {result}")
    print("\nall targets met" if not missed else f"\n{missed} target(s) missed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=200_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--runs", type=int, default=7)
    options = parser.parse_args()
    database = create_database()
    print(f"database {database}: generating {options.leads:,} leads and {options.events:,} lead events…", flush=True)
    try:
        app = build_app(database)
        with app.app_context():
            from sqlalchemy import text

            from webapp.extensions import db

            db.create_all()
            started = time.perf_counter()
            org = generate(db, text, options.leads, options.events, options.months)
            print(f"generated in {time.perf_counter() - started:.0f} s; measuring…", flush=True)
            rows = measure(db, org, options.leads, options.runs)
            rows.append(measure_retention(db, keep_months=options.months // 2))
            db.session.remove()
            db.engine.dispose()
        report(rows, options.leads, options.events, options.months)
    finally:
        drop_database(database)


if __name__ == "__main__":
    main()
