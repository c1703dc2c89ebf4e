"""Automation throughput against RQ's own, and lead-to-email latency, in the same run.

    .venv/bin/python bench/automations.py [--leads 10000]

Creates its own PostgreSQL database (``leadflow_bench_<random>``, dropped afterwards), uses Redis DB
12 and a local SMTP sink (aiosmtpd). 1) With the two-step "Welcome Email Automation" active (send
an email, create a task), bulk-create N leads through the API, then let two ``worker.py`` processes
run everything: runs completed per second. 2) The same with a journey three flow actions deep
instead (an email, then a branch on the value, a split, a branch on the insurance type, down to a
tag or a task). 3) The same two workers' baseline: N no-op RQ jobs on two ``SimpleWorker``
processes. 4) Latency: with two workers idle, create single leads and time each from the API call
to its email arriving at the SMTP sink.
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
    return app, client, headers, template["id"]


def welcome_actions(template_id: int) -> list[dict]:
    return [
        {"action_type": "send_email", "configuration": {"template_id": template_id}},
        {"action_type": "create_task", "configuration": {"task_type": "follow_up", "title": "Follow up", "due_in_days": 2}},
    ]


def journey_actions(template_id: int) -> list[dict]:
    """An email, then branch (value) → split → branch (insurance type) → a tag or a task."""

    def rule(field, operator, value):
        return {"match_all_rules": True, "rules": [{"field": field, "operator": operator, "value": value}]}

    def tag(name):
        return {"action_type": "add_tag", "configuration": {"tag": name}}

    task = {"action_type": "create_task", "configuration": {"title": "Call {{ first_name }}", "due_in_days": 1}}
    by_type = {
        "action_type": "branch",
        "configuration": rule("insurance_type", "equals", "auto"),
        "branches": {"yes": [tag("auto")], "no": [task]},
    }
    weights = {"weights": {"a": 50, "b": 50}}
    split = {"action_type": "split", "configuration": weights, "branches": {"a": [by_type], "b": [tag("variant-b")]}}
    return [
        {"action_type": "send_email", "configuration": {"template_id": template_id}},
        {
            "action_type": "branch",
            "configuration": rule("value_estimate", "greater_than", 1000),
            "branches": {"yes": [split], "no": [task]},
        },
    ]


def activate_only(client, headers, name: str, actions: list[dict]) -> int:
    """Deactivate every automation, then create this one, active; returns its id."""
    for automation in client.get("/api/v1/automations", headers=headers).get_json()["items"]:
        response = client.put(f"/api/v1/automations/{automation['id']}", headers=headers, json={"is_active": False})
        assert response.status_code == 200, response.get_json()
    response = client.post(
        "/api/v1/automations", headers=headers, json={"name": name, "trigger_type": "lead_created", "is_active": True, "actions": actions}
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def start_workers(count: int, burst: bool) -> list[subprocess.Popen]:
    args = [sys.executable, "worker.py"] + (["--burst"] if burst else [])
    return [
        subprocess.Popen(args, cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(count)
    ]


def completed_runs(app, automation_id: int) -> int:
    from sqlalchemy import func, select

    from webapp.extensions import db
    from webapp.models import AutomationRun

    with app.app_context():
        try:
            completed = (AutomationRun.automation_id == automation_id, AutomationRun.status == "completed")
            return db.session.scalar(select(func.count()).select_from(AutomationRun).where(*completed))
        finally:
            db.session.remove()


def bulk_throughput(app, client, headers, automation_id: int, count: int, sink: Sink, prefix: str) -> tuple[float, float]:
    """Seconds until every run of the automation completed, and until every email arrived, with two workers."""
    types = ("auto", "home", "life")
    for start in range(0, count, 1000):
        leads = [
            {"first_name": f"Lead{n}", "email": f"{prefix}{n}@example.com", "value_estimate": n % 2000, "insurance_type": types[n % 3]}
            for n in range(start, min(start + 1000, count))
        ]
        response = client.post("/api/v1/leads/bulk", headers=headers, json={"leads": leads})
        assert response.status_code == 201, response.get_json()
    arrived_before = len(sink.arrived)
    started = time.perf_counter()
    workers = start_workers(2, burst=False)
    runs_done = emails_done = None
    try:
        while emails_done is None:
            now = time.perf_counter()
            if runs_done is None and completed_runs(app, automation_id) >= count:
                runs_done = now - started
            if len(sink.arrived) - arrived_before >= count:
                emails_done = now - started
            if now - started > 900:
                raise SystemExit(f"timed out: {completed_runs(app, automation_id)} runs, {len(sink.arrived) - arrived_before} emails")
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
    results = {}
    try:
        app, client, headers, template_id = setup(database, port)
        welcome = activate_only(client, headers, "Welcome Email Automation", welcome_actions(template_id))
        results["welcome automation (2 steps)"] = bulk_throughput(app, client, headers, welcome, options.leads, sink, "welcome")
        rq_seconds = run_rq(options.leads, 2)
        journey = activate_only(client, headers, "Three-level journey", journey_actions(template_id))
        results["journey (3 flow levels)"] = bulk_throughput(app, client, headers, journey, options.leads, sink, "journey")
        lat = latency(client, headers, sink, options.samples)
    finally:
        controller.stop()
        redis.Redis.from_url(REDIS_URL).flushdb()
        drop_database(database)
    rq_rate = options.leads / rq_seconds
    print(f"\n{options.leads} leads bulk-created per automation, 2 workers, SMTP sink\n")
    print(f"{'':44}{'per second':>12}{'seconds':>10}")
    for name, (runs_seconds, emails_seconds) in results.items():
        print(f"{name + ': runs completed':44}{options.leads / runs_seconds:>12.0f}{runs_seconds:>10.1f}")
        print(f"{name + ': emails at the sink':44}{options.leads / emails_seconds:>12.0f}{emails_seconds:>10.1f}")
    print(f"{'RQ no-op jobs, 2 SimpleWorkers':44}{rq_rate:>12.0f}{rq_seconds:>10.1f}\n")
    for name, (runs_seconds, _) in results.items():
        print(f"ratio runs/s ÷ RQ no-op jobs/s, {name}: {options.leads / runs_seconds / rq_rate:.2f}   (target >= 1.0)")
    print(
        f"lead creation → email at the sink, {len(lat)} single leads: median {statistics.median(lat) * 1000:.0f} ms, "
        f"max {max(lat) * 1000:.0f} ms   (target median <= 1000 ms)"
    )


if __name__ == "__main__":
    main()
