"""Automation throughput against RQ's own, and lead-to-email latency, in the same run.

    .venv/bin/python bench/automations.py [--leads 10000]

Creates its own PostgreSQL database (``leadflow_bench_<random>``, dropped afterwards), uses Redis DB
12 and a local SMTP sink (aiosmtpd). 1) With the two-step "Welcome Email Automation" active (send
an email, create a task), bulk-create N leads through the API, then let two ``worker.py`` processes
run everything: runs completed per second. 2) The same two workers' baseline: N no-op RQ jobs on
two ``SimpleWorker`` processes. 3) Latency: with two workers idle, create single leads and time
each from the API call to its email arriving at the SMTP sink.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import redis  # noqa: E402
from aiosmtpd.controller import Controller  # noqa: E402

from bench.common import PG_ADMIN_URL, create_bench_admin, create_database, drop_database  # noqa: E402
from bench.tasks import run_rq  # noqa: E402  (RQ's no-op baseline, on the same Redis server)

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/") + "/12"


class Sink:
    """An SMTP server that only counts messages and notes when each recipient's arrived."""

    def __init__(self):
        self.arrived: dict[str, float] = {}
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.arrived.setdefault(rcpt.lower(), time.perf_counter())
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def setup(database: str, smtp_port: int):
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    os.environ.update(
        {
            "DATABASE_URL": f"{base}/{database}",
            "REDIS_URL": REDIS_URL,
            "SECRET_KEY": "bench-secret",
            "LEADFLOW_BACKGROUND_SCHEDULER": "0",
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(smtp_port),
            "MAIL_DEFAULT_SENDER": "Bench <bench@example.com>",
        }
    )
    from webapp import create_app
    from webapp.api.auth import issue_token
    from webapp.extensions import db

    app = create_app()
    with app.app_context():
        user = create_bench_admin()
        db.session.commit()
        with app.test_request_context():
            token = issue_token(user)[0]
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    template = client.post(
        "/api/v1/automations/email-templates",
        headers=headers,
        json={
            "name": "Welcome Email",
            "slug": "welcome-email",
            "subject": "Welcome to {{company_name}} Insurance",
            "body_html": "<html><body><h1>Welcome {{first_name}}!</h1><p>Thank you for your interest.</p></body></html>",
            "body_text": "Welcome {{first_name}}!\n\nThank you for your interest.",
            "template_type": "marketing",
            "is_active": True,
        },
    ).get_json()
    automation = client.post(
        "/api/v1/automations",
        headers=headers,
        json={
            "name": "Welcome Email Automation",
            "trigger_type": "lead_created",
            "is_active": True,
            "actions": [
                {"action_type": "send_email", "configuration": {"template_id": template["id"]}},
                {"action_type": "create_task", "configuration": {"task_type": "follow_up", "title": "Follow up", "due_in_days": 2}},
            ],
        },
    )
    assert automation.status_code == 201, automation.get_json()
    return app, client, headers


def start_workers(count: int, burst: bool) -> list[subprocess.Popen]:
    args = [sys.executable, "worker.py"] + (["--burst"] if burst else [])
    return [
        subprocess.Popen(args, cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(count)
    ]


def completed_runs(app) -> int:
    from sqlalchemy import func, select

    from webapp.extensions import db
    from webapp.models import AutomationRun

    with app.app_context():
        try:
            return db.session.scalar(select(func.count()).select_from(AutomationRun).where(AutomationRun.status == "completed"))
        finally:
            db.session.remove()


def bulk_throughput(app, client, headers, count: int, sink: Sink) -> tuple[float, float]:
    """Seconds until every run completed, and until every email arrived, with two workers."""
    for start in range(0, count, 1000):
        leads = [{"first_name": f"Lead{n}", "email": f"lead{n}@example.com"} for n in range(start, min(start + 1000, count))]
        response = client.post("/api/v1/leads/bulk", headers=headers, json={"leads": leads})
        assert response.status_code == 201, response.get_json()
    started = time.perf_counter()
    workers = start_workers(2, burst=False)
    runs_done = emails_done = None
    try:
        while emails_done is None:
            now = time.perf_counter()
            if runs_done is None and completed_runs(app) >= count:
                runs_done = now - started
            if len(sink.arrived) >= count:
                emails_done = now - started
            if now - started > 900:
                raise SystemExit(f"timed out: {completed_runs(app)} runs, {len(sink.arrived)} emails")
            time.sleep(0.05)
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait()
    return runs_done, emails_done


def latency(client, headers, sink: Sink, samples: int) -> list[float]:
    workers = start_workers(2, burst=False)
    try:
        time.sleep(3)  # workers connected and idle
        results = []
        for n in range(samples):
            address = f"latency{n}@example.com"
            started = time.perf_counter()
            assert client.post("/api/v1/leads", headers=headers, json={"first_name": "L", "email": address}).status_code == 201
            while address not in sink.arrived:
                if time.perf_counter() - started > 30:
                    raise SystemExit(f"no email for {address} after 30 s")
                time.sleep(0.005)
            results.append(sink.arrived[address] - started)
            time.sleep(0.2)
        return results
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=20)
    options = parser.parse_args()
    sink = Sink()
    port = free_port()  # aiosmtpd's start() probes the port it was given: 0 cannot be probed
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    database = create_database()
    redis.Redis.from_url(REDIS_URL).flushdb()
    try:
        app, client, headers = setup(database, port)
        runs_seconds, emails_seconds = bulk_throughput(app, client, headers, options.leads, sink)
        rq_seconds = run_rq(options.leads, 2)
        lat = latency(client, headers, sink, options.samples)
    finally:
        controller.stop()
        redis.Redis.from_url(REDIS_URL).flushdb()
        drop_database(database)
    runs_rate, rq_rate = options.leads / runs_seconds, options.leads / rq_seconds
    print(f"\n{options.leads} leads bulk-created with the two-step welcome automation, 2 workers, SMTP sink\n")
    print(f"{'':34}{'per second':>12}{'seconds':>10}")
    print(f"{'automation runs completed':34}{runs_rate:>12.0f}{runs_seconds:>10.1f}")
    print(f"{'emails delivered to the sink':34}{options.leads / emails_seconds:>12.0f}{emails_seconds:>10.1f}")
    print(f"{'RQ no-op jobs, 2 SimpleWorkers':34}{rq_rate:>12.0f}{rq_seconds:>10.1f}")
    print(f"\nratio runs/s ÷ RQ no-op jobs/s: {runs_rate / rq_rate:.2f}   (target >= 1.0)")
    print(
        f"lead creation → email at the sink, {len(lat)} single leads: median {statistics.median(lat) * 1000:.0f} ms, "
        f"max {max(lat) * 1000:.0f} ms   (target median <= 1000 ms)"
    )


if __name__ == "__main__":
    main()
