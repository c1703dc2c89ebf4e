"""Contactability at scale (SPEC §17): the suppression list's import and the check on the send path.

    .venv/bin/python bench/contactability.py [--only import,check,dedupe] [--numbers 1000000]
        [--leads 1000000] [--suppressions 1000000] [--repeat 3] [--dedupe-leads 100000]

Creates its own database (``leadflow_bench_<random>``, tables by ``db.create_all()``, dropped
afterwards; ``TEST_POSTGRES_ADMIN_URL`` as for the tests) with one organization and its admin, then
runs each section asked for with ``--only`` (default: all), each printing its figures and its ratio
against a baseline measured in the same run:

- ``import``: a national DNC file of ``--numbers`` phone numbers (one column, US numbers written as
  ten digits, a few with dashes) through the real import job
  (``webapp.suppressions.importer.run_suppression_import``: decoding, normalising to E.164, the
  staging COPY and the insert that skips duplicates, progress per chunk) against PostgreSQL COPY of
  the same file into a bare one-column table: the floor of loading those bytes. Target <= 3x.
- ``check``: ``contactability_of_leads`` (``webapp.contactability.facts``), the check on the send
  path, for batches of 100 leads among ``--leads`` leads of which many have a phone or address on a
  list of ``--suppressions`` entries (phones, addresses, domains): the median per lead over the
  batches, for email alone and for every channel. Target <= 2 ms per lead. Baseline: the same
  batches' leads read by id (what the send path does anyway).
- ``dedupe``: single lead creation through the API with the contact policy's duplicate matching on
  (email and phone, 30 days, merge) against off, alternating rounds (``bench/dedupe.py``, its own
  database). Target >= 0.8x.

Each section starts from the tables as the previous one left them; alternating runs so that caches
and a busy machine favour neither. Never part of the test suite.
"""

import argparse
import os
import random
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import psycopg  # noqa: E402

from bench.common import PG_ADMIN_URL, create_bench_admin, create_database, drop_database  # noqa: E402

IMPORT_TARGET = 3.0  # x COPY of the same file
CHECK_TARGET_MS = 2.0  # per lead, median over batches of 100
BATCH = 100
CHECK_BATCHES = 200


def build_app(database: str):
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    os.environ.update({"DATABASE_URL": f"{base}/{database}", "SECRET_KEY": "bench-secret", "LEADFLOW_BACKGROUND_SCHEDULER": "0"})
    os.environ.pop("REDIS_URL", None)
    from webapp import create_app

    return create_app()


def prepare(app) -> int:
    """Tables, the organization and its admin; returns the organization's id."""
    from webapp.extensions import db

    with app.app_context():
        user = create_bench_admin()
        db.session.commit()
        return user.organization_id


def report(label: str, value: str, note: str = "") -> None:
    print(f"{label:58} {value:>16}  {note}".rstrip(), flush=True)


# --- section: import ---------------------------------------------------------------------------------


def dnc_file(numbers: int) -> bytes:
    """``numbers`` distinct US numbers, one per line, every tenth written with dashes."""
    rng = random.Random(7)
    lines = []
    for index, number in enumerate(rng.sample(range(800 * 800 * 10_000), numbers)):
        area, exchange, line = 200 + number // 8_000_000, 200 + number // 10_000 % 800, number % 10_000  # no 0 or 1 first
        lines.append(f"{area}-{exchange}-{line:04d}" if index % 10 == 0 else f"{area}{exchange}{line:04d}")
    return ("\n".join(lines) + "\n").encode()


def time_import_job(app, organization_id: int, content: bytes) -> tuple[float, int]:
    """The whole job on a fresh import of ``content``; returns (seconds, rows imported)."""
    from sqlalchemy import text

    from webapp.extensions import db
    from webapp.models import SuppressionImport
    from webapp.suppressions.importer import run_suppression_import

    with app.app_context():
        db.session.execute(text("TRUNCATE suppressions, suppression_imports"))
        job = SuppressionImport(organization_id=organization_id, filename="dnc.csv", content=content, errors=[])
        db.session.add(job)
        db.session.commit()
        import_id = job.id
        db.session.remove()
        started = time.perf_counter()
        run_suppression_import(import_id)
        elapsed = time.perf_counter() - started
        finished = db.session.get(SuppressionImport, import_id)
        assert finished.status == "completed", finished.errors[-1:]
        return elapsed, finished.imported


def time_bare_copy(database_url: str, content: bytes) -> float:
    """COPY of the same file into a bare one-column table: the floor of loading these bytes."""
    with psycopg.connect(database_url) as conn:
        conn.execute("DROP TABLE IF EXISTS bare_numbers")
        conn.execute("CREATE TABLE bare_numbers (value text)")
        conn.commit()
        started = time.perf_counter()
        with conn.cursor().copy("COPY bare_numbers (value) FROM STDIN") as copy:
            copy.write(content)
        conn.commit()
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE bare_numbers")
        conn.commit()
        return elapsed


def section_import(app, database_url: str, organization_id: int, args) -> None:
    content = dnc_file(args.numbers)
    time_import_job(app, organization_id, dnc_file(1000))  # warm-up: imports, caches, connections
    times = {"job": [], "copy": []}
    for attempt in range(args.repeat):
        order = ["job", "copy"] if attempt % 2 == 0 else ["copy", "job"]
        for which in order:
            if which == "job":
                seconds, imported = time_import_job(app, organization_id, content)
                assert imported == args.numbers, imported
            else:
                seconds = time_bare_copy(database_url, content)
            times[which].append(seconds)
        print(f"import run {attempt + 1}: job {times['job'][-1]:.2f} s, copy {times['copy'][-1]:.2f} s", flush=True)
    job, floor = min(times["job"]), min(times["copy"])
    ratio = job / floor
    print(f"\nimport: {args.numbers:,} numbers ({len(content) / 1e6:.1f} MB), best of {args.repeat}")
    report("COPY of the file into a bare one-column table (baseline)", f"{floor:.3f} s", f"{args.numbers / floor:,.0f} rows/s")
    verdict = "ok" if ratio <= IMPORT_TARGET else "MISSED"
    note = f"{args.numbers / job:,.0f} rows/s  {ratio:.1f}x COPY  target <= {IMPORT_TARGET:g}x  {verdict}"
    report("DNC import (run_suppression_import, whole job)", f"{job:.3f} s", note)


# --- section: check ----------------------------------------------------------------------------------


def fill_leads_and_suppressions(database_url: str, organization_id: int, leads: int, suppressions: int) -> None:
    """``leads`` leads (E.164 phones, addresses at 1,000 domains) and ``suppressions`` entries: a third
    phones, a third addresses, the rest domains (at most the domains there are, then more phones);
    about one lead in four is covered by one of them."""
    rng = random.Random(11)
    now = "2026-01-01T00:00:00+00:00"
    with psycopg.connect(database_url) as conn:
        conn.execute("TRUNCATE suppressions, leads CASCADE")
        with conn.cursor().copy(
            "COPY leads (organization_id, first_name, email, phone, status, priority, email_opt_out, created_at, updated_at) FROM STDIN"
        ) as copy:
            for n in range(leads):
                copy.write_row(
                    (organization_id, f"Lead{n}", f"lead{n}@d{n % 1000}.example.com", f"+1512{n:07d}", "new", "medium", False, now, now)
                )
        domains = min(suppressions // 100, 1000) // 4  # a quarter of the domains: a quarter of the addresses
        rows = [("domain", f"d{n * 4}.example.com") for n in range(domains)]
        remaining = suppressions - len(rows)
        emails = remaining // 2
        rows += [("email", f"lead{n}@d{n % 1000}.example.com") for n in rng.sample(range(leads * 4), emails)]  # a quarter exist
        rows += [("phone", f"+1512{n:07d}") for n in rng.sample(range(min(leads * 4, 9_999_999)), remaining - emails)]
        with conn.cursor().copy(
            "COPY suppressions (organization_id, kind, value, reason, source, created_at, updated_at) FROM STDIN"
        ) as copy:
            for kind, value in rows:
                copy.write_row((organization_id, kind, value, "dnc" if kind == "phone" else "manual", "bench", now, now))
        conn.commit()
        conn.execute("ANALYZE leads")
        conn.execute("ANALYZE suppressions")
        conn.commit()


def section_check(app, database_url: str, organization_id: int, args) -> None:
    from sqlalchemy import select

    from webapp.contactability.facts import contactability_of_leads
    from webapp.contactability.policy import organization_policy
    from webapp.extensions import db
    from webapp.models import Lead, utcnow

    started = time.perf_counter()
    fill_leads_and_suppressions(database_url, organization_id, args.leads, args.suppressions)
    print(
        f"\ncheck: {args.leads:,} leads and {args.suppressions:,} suppressions loaded in {time.perf_counter() - started:.1f} s", flush=True
    )
    rng = random.Random(13)
    with app.app_context():
        first, last = db.session.execute(select(db.func.min(Lead.id), db.func.max(Lead.id))).one()
        batches = [rng.sample(range(first, last + 1), BATCH) for _ in range(CHECK_BATCHES)]
        policy, now = organization_policy(organization_id), utcnow()
        per_lead = {"read": [], "email": [], "all": []}
        blocked = 0
        for ids in batches:
            db.session.expunge_all()
            began = time.perf_counter()
            leads = db.session.scalars(select(Lead).where(Lead.id.in_(ids))).all()
            per_lead["read"].append((time.perf_counter() - began) / BATCH)
            for which, channels in (("email", ("email",)), ("all", ("email", "sms", "phone"))):
                began = time.perf_counter()
                verdicts = contactability_of_leads(organization_id, leads, channels, now, policy)
                per_lead[which].append((time.perf_counter() - began) / BATCH)
            blocked += sum(1 for verdict in verdicts.values() if not verdict["allowed"])
        db.session.remove()
    median = {which: statistics.median(values) * 1000 for which, values in per_lead.items()}
    print(f"{CHECK_BATCHES} batches of {BATCH} leads; {blocked / (CHECK_BATCHES * BATCH * 3):.0%} of the verdicts blocked")
    report("reading the batch's leads by id (baseline)", f"{median['read']:.3f} ms/lead")
    for which, label in (("email", "contactability_of_leads, email"), ("all", "contactability_of_leads, email + sms + phone")):
        verdict = "ok" if median[which] <= CHECK_TARGET_MS else "MISSED"
        note = f"{median[which] / median['read']:.1f}x reading  target <= {CHECK_TARGET_MS:g} ms  {verdict}"
        report(label, f"{median[which]:.3f} ms/lead", note)


def section_dedupe(app, database_url: str, organization_id: int, args) -> None:
    """Single lead creation through the API with duplicate matching on against off: ``bench/dedupe.py``
    (its own database, an organization of ``--dedupe-leads`` leads). Target >= 0.8x."""
    print(f"\ndedupe: single lead creation, duplicate matching on vs off, {args.dedupe_leads:,} leads", flush=True)
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "dedupe.py"), "--leads", str(args.dedupe_leads)], check=True)


# --- the sections ------------------------------------------------------------------------------------
# A section is a function (app, database_url, organization_id, args) -> None that prints its figures;
# add one here and to SECTIONS to make it a choice of --only.

SECTIONS = {"import": section_import, "check": section_check, "dedupe": section_dedupe}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections to run, of: {', '.join(SECTIONS)}")
    parser.add_argument("--numbers", type=int, default=1_000_000, help="phone numbers in the DNC file (import)")
    parser.add_argument("--leads", type=int, default=1_000_000, help="leads (check)")
    parser.add_argument("--suppressions", type=int, default=1_000_000, help="suppression list entries (check)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the import and of its baseline (the best is kept)")
    parser.add_argument("--dedupe-leads", type=int, default=100_000, help="the organization's leads (dedupe)")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}: choose among {', '.join(SECTIONS)}")

    name = create_database()
    database_url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    app = None
    try:
        app = build_app(name)
        organization_id = prepare(app)
        for section in chosen:
            SECTIONS[section](app, database_url, organization_id, args)
    finally:
        if app is not None:
            from webapp.extensions import db

            with app.app_context():
                db.engine.dispose()
        drop_database(name)


if __name__ == "__main__":
    main()
