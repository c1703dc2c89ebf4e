"""Email delivery through the whole pipeline against plain smtplib, same SMTP sink, same run.

    .venv/bin/python bench/emails.py [--emails 10000]

Creates its own PostgreSQL database (``leadflow_bench_<random>``, dropped afterwards), uses Redis DB
12, and starts an SMTP sink (aiosmtpd) in a process of its own that counts what arrives.

- ours: an automation whose one step sends a marketing template; N leads bulk-created through the
  API; two ``worker.py`` processes execute the runs (render, outbox) and send the messages; the clock
  runs from the workers' start until the sink has N messages;
- smtplib: one connection to the same sink, N messages of the same size sent one after the other
  (``sendmail``), built once: the ceiling of any sender on this machine.

Prints both rates and the ratio (target >= 0.8).
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


def sink_process(port: int, arrived, ready) -> None:
    """An SMTP server that only counts the messages it accepts."""
    from aiosmtpd.controller import Controller

    class Count:
        async def handle_DATA(self, server, session, envelope):
            with arrived.get_lock():
                arrived.value += 1
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


def ours(client, headers, template_id: int, count: int, arrived) -> float:
    activate_only(client, headers, "One email", welcome_actions(template_id)[:1])
    for start in range(0, count, 1000):
        leads = [{"first_name": f"Lead{n}", "email": f"lead{n}@example.com"} for n in range(start, min(start + 1000, count))]
        response = client.post("/api/v1/leads/bulk", headers=headers, json={"leads": leads})
        assert response.status_code == 201, response.get_json()
    arrived.value = 0
    started = time.perf_counter()
    workers = start_workers(2, burst=False)
    try:
        return wait_for(arrived, count, started, "emails from the pipeline")
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait()


def plain_smtplib(port: int, count: int, arrived, size: int) -> float:
    body = ("Welcome to Bench Insurance. Thank you for your interest.\r\n" * (size // 58 + 1))[:size]
    arrived.value = 0
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for n in range(count):
            message = f"From: bench@example.com\r\nTo: lead{n}@example.com\r\nSubject: Welcome\r\n\r\n{body}"
            smtp.sendmail("bench@example.com", [f"lead{n}@example.com"], message)
    return wait_for(arrived, count, started, "emails from smtplib")


def message_size(app) -> int:
    from sqlalchemy import func, select

    from webapp.extensions import db
    from webapp.models import OutboxMessage

    with app.app_context():
        try:
            return int(db.session.scalar(select(func.avg(func.length(OutboxMessage.body_html) + func.length(OutboxMessage.body_text)))))
        finally:
            db.session.remove()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=10_000)
    options = parser.parse_args()
    port = free_port()
    arrived, ready = multiprocessing.Value("i", 0), multiprocessing.Event()
    sink = multiprocessing.get_context("fork").Process(target=sink_process, args=(port, arrived, ready), daemon=True)
    sink.start()
    ready.wait(30)
    database = create_database()
    redis.Redis.from_url(REDIS_URL).flushdb()
    try:
        app, client, headers, template_id = setup(database, port)
        ours_seconds = ours(client, headers, template_id, options.emails, arrived)
        size = message_size(app)
        smtplib_seconds = plain_smtplib(port, options.emails, arrived, size)
    finally:
        sink.terminate()
        redis.Redis.from_url(REDIS_URL).flushdb()
        drop_database(database)
    ours_rate, smtplib_rate = options.emails / ours_seconds, options.emails / smtplib_seconds
    print(f"\n{options.emails} emails to a local SMTP sink in another process ({size} characters of body each)\n")
    print(f"{'':52}{'per second':>12}{'seconds':>10}")
    print(f"{'Leadflow: runs, outbox, 2 workers sending':52}{ours_rate:>12.0f}{ours_seconds:>10.1f}")
    print(f"{'plain smtplib, one connection, messages built once':52}{smtplib_rate:>12.0f}{smtplib_seconds:>10.1f}")
    print(f"\nratio Leadflow ÷ smtplib: {ours_rate / smtplib_rate:.2f}   (target >= {TARGET})")


if __name__ == "__main__":
    main()
