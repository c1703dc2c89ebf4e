"""Duplicates on arrival (SPEC §17): single lead creates through the API with the contact policy's ``dedupe``
on against the same creates with it off, on an organization with many leads.

    .venv/bin/python bench/dedupe.py [--leads 100000] [--creates 150] [--repeat 6]

Creates its own database (``leadflow_bench_<random>``, tables by ``db.create_all()``, dropped
afterwards; ``TEST_POSTGRES_ADMIN_URL`` as for the tests) with one organization, its admin and
``--leads`` leads (COPY; emails and E.164 phones, created over the last 60 days), then, in this process
through the Flask test client, alternating rounds so that caches and a busy machine favour neither:

- off: ``POST /api/v1/leads`` of new leads (a fresh email and phone each), the policy without ``dedupe``:
  the baseline;
- on: the same with ``dedupe`` = match on email and phone, 30 days, merge: every create first looks
  for a lead to merge into (one indexed query) and finds none, as for most arrivals.

Prints the median rate of ``--repeat`` rounds of each, their ratio (target >= 0.8), the rate of arrivals
that are duplicates (merged into an existing lead, for reading) and the plan of the match query.
Never part of the test suite.
"""

import argparse
import io
import os
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.common import PG_ADMIN_URL, create_bench_admin, create_database, drop_database  # noqa: E402

TARGET = 0.8  # dedupe on / off, single creates per second
DEDUPE = {"match_on": ["email", "phone"], "window_days": 30, "action": "merge"}


def build_app(database: str):
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    os.environ.update(
        {
            "DATABASE_URL": f"{base}/{database}",
            "SECRET_KEY": "bench-secret-of-the-dedupe-benchmark-only",
            "LEADFLOW_BACKGROUND_SCHEDULER": "0",
        }
    )
    os.environ.pop("REDIS_URL", None)
    from webapp import create_app

    return create_app({"RATELIMIT_ENABLED": False})


def phone_of(n: int) -> str:
    return f"+1512{200 + n // 10_000 % 800:03d}{n % 10_000:04d}"


def prepare(app, leads: int) -> tuple[int, str]:
    """The organization, its admin (a token) and ``leads`` leads written by COPY, then ANALYZE."""
    from webapp.api.auth import issue_token
    from webapp.extensions import db

    with app.app_context():
        user = create_bench_admin()
        db.session.commit()
        with app.test_request_context():
            token = issue_token(user)[0]
        organization_id = user.organization_id
        now = datetime.now(timezone.utc)
        out = io.StringIO()
        for n in range(leads):
            created = now - timedelta(minutes=n * 60 * 24 * 60 // max(leads, 1))
            out.write(
                f"{organization_id}\tOld{n}\tLead\told{n}@example.com\t{phone_of(n)}\tnew\tmedium\tf\t{created.isoformat()}\t{created.isoformat()}\n"
            )
        connection = db.session.connection().connection.driver_connection
        columns = "organization_id, first_name, last_name, email, phone, status, priority, email_opt_out, created_at, updated_at"
        with connection.cursor() as cursor, cursor.copy(f"COPY leads ({columns}) FROM STDIN") as copy:
            copy.write(out.getvalue())
        db.session.commit()
        db.session.execute(db.text("ANALYZE leads"))
        db.session.commit()
    return organization_id, token


def set_dedupe(app, organization_id: int, dedupe) -> None:
    from webapp.extensions import db
    from webapp.models import Organization

    with app.app_context():
        organization = db.session.get(Organization, organization_id)
        organization.contact_policy = {**(organization.contact_policy or {}), "dedupe": dedupe}
        db.session.commit()


def creates_per_second(client, token: str, first: int, count: int, duplicates: bool = False) -> float:
    """``count`` single creates; new leads (``first`` onwards), or duplicates of the old ones."""
    headers = {"Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    for n in range(first, first + count):
        if duplicates:
            body = {"first_name": f"Again{n}", "email": f"OLD{n}@example.com", "city": "Austin"}
        else:
            body = {
                "first_name": f"New{n}",
                "last_name": "Lead",
                "email": f"new{n}@example.com",
                "phone": phone_of(500_000 + n),
                "state": "TX",
            }
        response = client.post("/api/v1/leads", json=body, headers=headers)
        if response.status_code != (200 if duplicates else 201):
            raise SystemExit(f"unexpected answer {response.status_code}: {response.get_data(as_text=True)}")
    return count / (time.perf_counter() - started)


def match_plan(app, organization_id: int) -> str:
    from sqlalchemy import event

    from webapp.contactability.policy import Dedupe
    from webapp.extensions import db
    from webapp.leads.duplicates import existing_matches

    plans = []

    def explain(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().startswith("SELECT leads.id"):
            plans.append((statement, parameters))

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", explain)
        try:
            existing_matches(organization_id, [[("email", "old5@example.com"), ("phone", phone_of(5))]], Dedupe.model_validate(DEDUPE))
        finally:
            event.remove(db.engine, "before_cursor_execute", explain)
        statement, parameters = plans[0]
        connection = db.session.connection().connection.driver_connection
        rows = connection.execute(f"EXPLAIN {statement}", parameters).fetchall()
        db.session.rollback()
    return "\n".join(f"    {row[0]}" for row in rows)


def report(label: str, value: str, note: str = "") -> None:
    print(f"{label:52} {value:>14}  {note}".rstrip(), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--creates", type=int, default=150, help="single creates per round of each mode")
    parser.add_argument("--repeat", type=int, default=6, help="rounds, each mode once per round (in turn first)")
    args = parser.parse_args()

    database = create_database()
    try:
        app = build_app(database)
        started = time.perf_counter()
        organization_id, token = prepare(app, args.leads)
        report("organization's leads (COPY)", f"{args.leads:,}", f"{time.perf_counter() - started:.1f} s")
        client = app.test_client()
        creates_per_second(client, token, 0, 50)  # warm-up: imports, plans, connections
        rates = {"off": [], "on": []}
        first = 50
        for round_number in range(args.repeat):
            for mode in ("off", "on") if round_number % 2 == 0 else ("on", "off"):
                set_dedupe(app, organization_id, DEDUPE if mode == "on" else None)
                rates[mode].append(creates_per_second(client, token, first, args.creates))
                first += args.creates
        set_dedupe(app, organization_id, DEDUPE)
        merged = creates_per_second(client, token, 0, min(args.creates, args.leads), duplicates=True)
        off, on = statistics.median(rates["off"]), statistics.median(rates["on"])
        pairs = statistics.median(on_rate / off_rate for on_rate, off_rate in zip(rates["on"], rates["off"], strict=True))
        report("single creates/s, dedupe off (baseline)", f"{off:,.0f}", "median of " + ", ".join(f"{r:,.0f}" for r in rates["off"]))
        report(
            "single creates/s, dedupe on (email+phone, 30 d, merge)",
            f"{on:,.0f}",
            "median of " + ", ".join(f"{r:,.0f}" for r in rates["on"]),
        )
        report("duplicates merged/s (for reading)", f"{merged:,.0f}")
        report("ratio on / off (medians)", f"{on / off:.2f}x", f"target >= {TARGET}x: {'met' if on / off >= TARGET else 'NOT met'}")
        report("ratio on / off (median of the rounds' ratios)", f"{pairs:.2f}x")
        print("match query plan:\n" + match_plan(app, organization_id), flush=True)
    finally:
        drop_database(database)


if __name__ == "__main__":
    main()
