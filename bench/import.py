"""CSV import of 100,000 rows through the whole job against PostgreSQL COPY of the same rows into ``leads``.

    .venv/bin/python bench/import.py [--rows 100000] [--repeat 3] [--segments 5] [--profile]

Creates its own database (``leadflow_bench_<random>``, tables by ``db.create_all()``, dropped
afterwards; ``TEST_POSTGRES_ADMIN_URL`` as for the tests) with one organization, a user and
``--segments`` active dynamic segments, so that the import's segment upkeep has work to do. Then, in
this process, alternating so that caches and a busy machine favour neither:

- ours: ``webapp.leads.importer.run_import`` on an import of N rows (spreadsheet headers, the
  mapping guessed as the page would, all-or-nothing): reading, mapping, per-row validation, lead,
  tag and ``lead_created`` event inserts, dynamic-segment re-check (``segment_entered`` events),
  automation triggers, progress writes;
- COPY: the same rows (typed, no tags) by ``COPY leads (...) FROM STDIN`` in one transaction — the
  floor of any import into this schema (its indexes, foreign keys): the baseline of the ratio;
- for reading the gap: COPY of everything the import itself writes (leads, their tags, their
  ``lead_created`` events; not the segment stays and their events).

Each run starts from empty lead tables. Prints the best of ``--repeat`` runs of each and the ratio
(target <= 5x). ``--profile`` prints where one import spends its time (cProfile).
"""

import argparse
import cProfile
import csv
import io
import os
import pstats
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import psycopg  # noqa: E402

from bench.common import PG_ADMIN_URL, create_bench_admin, create_database, drop_database  # noqa: E402

TARGET = 5.0
HEADER = ["First Name", "Last Name", "E-mail", "Phone", "Status", "Priority", "Source", "Insurance type", "State", "City", "Value", "Tags"]
FIELDS = ["first_name", "last_name", "email", "phone", "status", "priority", "source", "insurance_type", "state", "city", "value_estimate"]
PLACES = [("TX", "Austin"), ("CA", "San Diego"), ("FL", "Miami"), ("NY", "Buffalo"), ("IL", "Chicago")]
STATUSES = ["new", "new", "contacted", "qualified", "quoted"]
TYPES = ["auto", "home", "life", "health", "business", "renters"]
SEGMENTS = [
    [
        {"field": "insurance_type", "operator": "equals", "value": "auto"},
        {"field": "value_estimate", "operator": "greater_than", "value": "1200"},
    ],
    [{"field": "state", "operator": "equals", "value": "TX"}],
    [{"field": "tags", "operator": "contains", "value": "vip"}],
    [{"field": "status", "operator": "equals", "value": "qualified"}],
    [{"field": "city", "operator": "contains", "value": "san"}],
]


def csv_of(rows: int) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for n in range(rows):
        state, city = PLACES[n % len(PLACES)]
        tags = ", ".join(["bench", f"batch{n % 3}"] + (["vip"] if n % 20 == 0 else []))
        writer.writerow(
            [
                f"Bench{n}",
                "Lead",
                f"bench{n}@example{n % 50}.com",
                "512-555-0100",
                STATUSES[n % 5],
                "medium",
                "website",
                TYPES[n % 6],
                state,
                city,
                f"{1000 + n % 500}.50",
                tags,
            ]  # fmt: skip
        )
    return out.getvalue()


def build_app(database: str):
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    os.environ.update({"DATABASE_URL": f"{base}/{database}", "SECRET_KEY": "bench-secret", "LEADFLOW_BACKGROUND_SCHEDULER": "0"})
    os.environ.pop("REDIS_URL", None)
    from webapp import create_app

    return create_app()


def prepare(app, segments: int) -> tuple[int, int]:
    """Tables, an organization, a user and ``segments`` active dynamic segments."""
    from webapp.extensions import db
    from webapp.segments.services import create_segment

    with app.app_context():
        user = create_bench_admin()
        for number, rules in enumerate(SEGMENTS[:segments]):
            rule_set = {"name": f"Segment {number}", "is_dynamic": True, "match_all_rules": True, "rules": rules}
            create_segment(user.organization_id, rule_set, user.id)
        db.session.commit()
        return user.organization_id, user.id


def empty_leads(app) -> None:
    from sqlalchemy import text

    from webapp.extensions import db

    with app.app_context():
        db.session.execute(text("TRUNCATE leads, lead_tags, lead_events, lead_segments, automation_runs CASCADE"))
        db.session.execute(text("UPDATE segments SET member_count = 0"))
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE leads, lead_tags, lead_events, lead_segments"))


def time_import(app, organization_id: int, user_id: int, content: str, profile: bool = False) -> float:
    from webapp.extensions import db
    from webapp.leads.importer import guess_mapping, read_csv, run_import
    from webapp.models import ImportJob

    with app.app_context():
        header, _ = read_csv(content, limit=0)
        options = {"mapping": guess_mapping(header), "mode": "all_or_nothing"}
        job = ImportJob(organization_id=organization_id, user_id=user_id, filename="bench.csv", content=content, options=options)
        db.session.add(job)
        db.session.commit()
        job_id = job.id
        db.session.remove()
    with app.app_context():
        profiler = cProfile.Profile() if profile else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        run_import(job_id)
        if profiler:
            profiler.disable()
        elapsed = time.perf_counter() - started
        job = db.session.get(ImportJob, job_id)
        if job.status != "completed":
            raise SystemExit(f"the import {job.status}: {job.errors[:3]}")
        db.session.remove()
    if profiler:
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats(os.environ.get("BENCH_SORT", "cumulative")).print_stats(35)
        print(stream.getvalue())
    return elapsed


def time_copy(database_url: str, content: str, organization_id: int) -> float:
    """COPY of the same rows into ``leads`` (tags left out), typed as the import stores them."""
    rows = list(csv.reader(io.StringIO(content)))[1:]
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        writer.writerow([organization_id, "2025-01-01T00:00:00+00:00", "2025-01-01T00:00:00+00:00", "false", *row[: len(FIELDS)]])
    with psycopg.connect(database_url) as conn:
        started = time.perf_counter()
        names = ", ".join(["organization_id", "created_at", "updated_at", "email_opt_out", *FIELDS])
        with conn.cursor().copy(f"COPY leads ({names}) FROM STDIN WITH (FORMAT csv)") as copy:
            copy.write(out.getvalue())
        conn.commit()
        return time.perf_counter() - started


def time_copy_all(database_url: str, content: str, organization_id: int, user_id: int) -> float:
    """COPY of what the import writes before its hooks: the leads (ids from their sequence), their tags and
    their ``lead_created`` events — the floor of the writes themselves, to read the gap against."""
    rows = list(csv.reader(io.StringIO(content)))[1:]
    stamp = "2025-01-01T00:00:00+00:00"
    with psycopg.connect(database_url) as conn:
        started = time.perf_counter()
        ids = conn.execute(
            "SELECT array_agg(nextval(pg_get_serial_sequence('leads', 'id'))) FROM generate_series(1, %s)", (len(rows),)
        ).fetchone()[0]
        names = ", ".join(["id", "organization_id", "created_at", "updated_at", "email_opt_out", *FIELDS])
        with conn.cursor().copy(f"COPY leads ({names}) FROM STDIN") as copy:
            for lead_id, row in zip(ids, rows, strict=True):
                copy.write_row([lead_id, organization_id, stamp, stamp, False, *row[: len(FIELDS)]])
        with conn.cursor().copy("COPY lead_tags (lead_id, tag) FROM STDIN") as copy:
            for lead_id, row in zip(ids, rows, strict=True):
                for tag in sorted({tag.strip().lower() for tag in row[len(FIELDS)].split(",") if tag.strip()}):
                    copy.write_row([lead_id, tag])
        names = "organization_id, lead_id, event_type, data, actor_id, created_at"
        with conn.cursor().copy(f"COPY lead_events ({names}) FROM STDIN") as copy:
            for lead_id, row in zip(ids, rows, strict=True):
                copy.write_row([organization_id, lead_id, "lead_created", f'{{"source": "{row[6]}"}}', user_id, stamp])
        conn.commit()
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (the best is kept)")
    parser.add_argument("--segments", type=int, default=len(SEGMENTS), help=f"active dynamic segments (at most {len(SEGMENTS)})")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one more import")
    args = parser.parse_args()

    name = create_database()
    database_url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    app = None
    try:
        app = build_app(name)
        organization_id, user_id = prepare(app, args.segments)
        content = csv_of(args.rows)
        empty_leads(app)
        time_import(app, organization_id, user_id, csv_of(500))  # warm-up: imports, caches, connections
        measures = {
            "import": lambda: time_import(app, organization_id, user_id, content),
            "copy": lambda: time_copy(database_url, content, organization_id),
            "copy_all": lambda: time_copy_all(database_url, content, organization_id, user_id),
        }
        times = {name: [] for name in measures}
        for attempt in range(args.repeat):
            order = list(measures) if attempt % 2 == 0 else list(reversed(measures))
            for which in order:
                empty_leads(app)
                times[which].append(measures[which]())
            figures = ", ".join(f"{which} {times[which][-1]:.2f} s" for which in measures)
            print(f"run {attempt + 1}: {figures}", flush=True)
        if args.profile:
            empty_leads(app)
            time_import(app, organization_id, user_id, content, profile=True)
    finally:
        if app is not None:
            from webapp.extensions import db

            with app.app_context():
                db.engine.dispose()
        drop_database(name)
    ours, floor, writes = min(times["import"]), min(times["copy"]), min(times["copy_all"])
    ratio = ours / floor
    verdict = "ok" if ratio <= TARGET else "MISSED"
    lines = [
        ("COPY into leads (the baseline)", floor, ""),
        ("COPY of leads + tags + lead_created events", writes, f"{writes / floor:.1f}x COPY (the writes' floor)"),
        ("CSV import (run_import, whole job)", ours, f"{ratio:.1f}x COPY  target <= {TARGET:g}x  {verdict}"),
    ]
    print()
    print(f"rows: {args.rows:,}, active dynamic segments: {args.segments}, best of {args.repeat}")
    for label, seconds, note in lines:
        print(f"{label:44} {seconds:8.3f} s {args.rows / seconds:>10,.0f} rows/s  {note}".rstrip())


if __name__ == "__main__":
    main()
