"""Email delivery through the whole pipeline against plain smtplib, same SMTP sink, same run.

    .venv/bin/python bench/emails.py [--emails 10000]

Creates its own PostgreSQL database (``leadflow_bench_<random>``, dropped afterwards), uses Redis DB
12, and starts an SMTP sink (aiosmtpd) in a process of its own that counts what arrives.

- ours: an automation whose one step sends a marketing template; N leads bulk-created through the
  API; two ``worker.py`` processes execute the runs (render, outbox) and send the messages. The workers
  start with RQ suspended (a deployment's workers are up before the leads come); the clock runs from
  the moment both are up and RQ is resumed until the sink has N messages (their start is printed
  apart, and a worker sees the resume within a second). Sending waits behind the runs (it is
  queued "low"), so the time to the first email is about the runs' time, and the rest is sending;
- smtplib: one connection to the same sink, the same message sent N times one after the other
  (``sendmail``): the message the pipeline sent to the first lead (multipart text and HTML, tracked
  links and pixel, List-Unsubscribe), built once more by the pipeline's own ``message_bytes`` (the
  same bytes but for the Date and the MIME boundary); the ceiling of any sender on this machine.

Prints both rates and the ratio (target >= 0.8), and the pipeline's sending phase on its own.
"""

import argparse
import multiprocessing
import os
import smtplib
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import redis  # noqa: E402

from bench.automations import REDIS_URL, activate_only, free_port, setup, start_workers, welcome_actions  # noqa: E402
from bench.common import create_database, drop_database  # noqa: E402

TARGET = 0.8


def sink_process(port: int, arrived, ready, first=None) -> None:
    """An SMTP server that only counts the messages it accepts (and notes when the first arrived)."""
    from aiosmtpd.controller import Controller

    class Count:
        async def handle_DATA(self, server, session, envelope):
            with arrived.get_lock():
                arrived.value += 1
                if arrived.value == 1 and first is not None:
                    first.value = time.time()
            return "250 OK"

    controller = Controller(Count(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    while True:
        time.sleep(3600)


def wait_for(arrived, count: int, started: float, what: str) -> float:
    while arrived.value < count:
        if time.perf_counter() - started > 900:
            raise SystemExit(f"timed out: {arrived.value} of {count} {what}")
        time.sleep(0.02)
    return time.perf_counter() - started


def workers_up(connection, count: int, started: float) -> None:
    """Wait until ``count`` workers are registered and waiting for RQ to be resumed."""
    from rq import Worker

    while sum(worker.get_state() == "suspended" for worker in Worker.all(connection=connection)) < count:
        if time.perf_counter() - started > 120:
            raise SystemExit("timed out: the workers did not start")
        time.sleep(0.05)


def ours(client, headers, template_id: int, count: int, arrived, first) -> tuple[float, float, float]:
    """Seconds until all ``count`` emails arrived and until the first did, from RQ's resume; and the
    seconds the workers took to start (not counted)."""
    from rq.suspension import resume, suspend

    activate_only(client, headers, "One email", welcome_actions(template_id)[:1])
    for start in range(0, count, 1000):
        leads = [{"first_name": f"Lead{n}", "email": f"lead{n}@example.com"} for n in range(start, min(start + 1000, count))]
        response = client.post("/api/v1/leads/bulk", headers=headers, json={"leads": leads})
        assert response.status_code == 201, response.get_json()
    connection = redis.Redis.from_url(REDIS_URL)
    suspend(connection)
    booting = time.perf_counter()
    workers = start_workers(2, burst=False)
    try:
        workers_up(connection, 2, booting)
        arrived.value = 0
        started, started_at = time.perf_counter(), time.time()
        resume(connection)
        seconds = wait_for(arrived, count, started, "emails from the pipeline")
        return seconds, first.value - started_at, started - booting
    finally:
        resume(connection)
        for worker in workers:
            worker.terminate()
            worker.wait()


def plain_smtplib(port: int, count: int, arrived, message: bytes) -> float:
    arrived.value = 0
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for n in range(count):
            smtp.sendmail("bench@example.com", [f"lead{n}@example.com"], message)
    return wait_for(arrived, count, started, "emails from smtplib")


def first_message(app) -> bytes:
    """The bytes the pipeline sent to the first lead, built again by the pipeline's own code."""
    from sqlalchemy import select

    from webapp.email_templates.mime import message_bytes
    from webapp.extensions import db
    from webapp.models import OutboxMessage

    with app.app_context():
        try:
            message = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id).limit(1)).one()
            return message_bytes(message, app.config["MAIL_DEFAULT_SENDER"])
        finally:
            db.session.remove()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=10_000)
    options = parser.parse_args()
    port = free_port()
    arrived, first, ready = multiprocessing.Value("i", 0), multiprocessing.Value("d", 0.0), multiprocessing.Event()
    sink = multiprocessing.get_context("fork").Process(target=sink_process, args=(port, arrived, ready, first), daemon=True)
    sink.start()
    ready.wait(30)
    database = create_database()
    redis.Redis.from_url(REDIS_URL).flushdb()
    try:
        app, client, headers, template_id = setup(database, port)
        ours_seconds, first_seconds, boot_seconds = ours(client, headers, template_id, options.emails, arrived, first)
        message = first_message(app)
        smtplib_seconds = plain_smtplib(port, options.emails, arrived, message)
    finally:
        sink.terminate()
        redis.Redis.from_url(REDIS_URL).flushdb()
        drop_database(database)
    ours_rate, smtplib_rate = options.emails / ours_seconds, options.emails / smtplib_seconds
    sending_seconds = ours_seconds - first_seconds
    print(f"\n{options.emails} emails to a local SMTP sink in another process ({len(message):,} bytes each, multipart text + HTML)\n")
    print(f"{'':56}{'per second':>12}{'seconds':>10}")
    print(f"{'Leadflow: runs, outbox, 2 workers sending':56}{ours_rate:>12.0f}{ours_seconds:>10.1f}")
    print(f"{'  of which: until the first email (runs: render, outbox)':56}{'':>12}{first_seconds:>10.1f}")
    print(f"{'  of which: sending (from the first email to the last)':56}{options.emails / sending_seconds:>12.0f}{sending_seconds:>10.1f}")
    print(f"{'  (before the clock: the two workers start)':56}{'':>12}{boot_seconds:>10.1f}")
    print(f"{'plain smtplib, one connection, the same message':56}{smtplib_rate:>12.0f}{smtplib_seconds:>10.1f}")
    print(f"\nratio Leadflow ÷ smtplib: {ours_rate / smtplib_rate:.2f}   (target >= {TARGET})")
    print(f"ratio Leadflow's sending ÷ smtplib: {options.emails / sending_seconds / smtplib_rate:.2f}")


if __name__ == "__main__":
    main()
