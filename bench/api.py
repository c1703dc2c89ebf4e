"""Lead API throughput against a bare Flask endpoint, same machine, same run (the CSV import against
COPY is ``bench/import.py``).

    .venv/bin/python bench/api.py [--seconds 10] [--connections 4]

Creates its own PostgreSQL database (``leadflow_bench_<random>``, tables by ``db.create_all()``,
dropped afterwards) and uses Redis DB 13. Serves Leadflow and ``bench/bare_app.py`` with the same
gunicorn settings (2 sync workers) and loads them with ``wrk`` (or, without it, Python threads with
keep-alive sessions). Prints, with their targets:

- single-lead ``POST /api/v1/leads`` per second against the bare endpoint's requests per second (>= 0.3);
- leads per second through ``POST /api/v1/leads/bulk`` (1000 per request) against single creates (>= 20x).
"""

import argparse
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import psycopg  # noqa: E402
import redis  # noqa: E402
import requests  # noqa: E402

from bench.common import PG_ADMIN_URL, create_bench_admin  # noqa: E402

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/") + "/13"
GUNICORN = [sys.executable, "-m", "gunicorn", "-w", "2", "--log-level", "warning"]
BULK_SIZE = 1000
STATES = [("TX", "Austin"), ("CA", "San Diego"), ("FL", "Miami"), ("NY", "Buffalo"), ("IL", "Chicago")]
TARGETS = {"single": 0.3, "bulk": 20.0}


def lead(n: int) -> dict:
    state, city = STATES[n % len(STATES)]
    return {
        "first_name": f"Bench{n}",
        "last_name": "Lead",
        "email": f"bench{n}@example.com",
        "phone": "512-555-0100",
        "status": "new",
        "priority": "medium",
        "source": "website",
        "insurance_type": "auto",
        "state": state,
        "city": city,
        "value_estimate": 1000 + n % 500,
        "tags": ["bench", f"batch{n % 3}"],
    }


# --- the database, the app and the servers --------------------------------------------------------------


def create_database() -> tuple[str, str]:
    name = f"leadflow_bench_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return name, f"{base}/{name}"


def drop_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def prepare_app(env: dict):
    """Tables through the app, an organization, an admin and a token."""
    os.environ.update(env)
    from webapp import create_app
    from webapp.api.auth import issue_token
    from webapp.extensions import db

    app = create_app()
    with app.app_context():
        user = create_bench_admin()
        db.session.commit()
        with app.test_request_context():
            token = issue_token(user)[0]
        ids = (user.organization_id, user.id)
    return app, token, ids


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(app_spec: str, env: dict, ready_path: str, chdir: str = ROOT) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [*GUNICORN, "-b", f"127.0.0.1:{port}", "--chdir", chdir, app_spec],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        if process.poll() is not None:
            raise SystemExit(f"gunicorn {app_spec} exited:\n{process.stderr.read().decode()}")
        try:
            requests.get(base + ready_path, timeout=5)
            return process, base
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit(f"gunicorn {app_spec} did not start")


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


# --- load -------------------------------------------------------------------------------------------------


def load(url: str, body: str, headers: dict, seconds: float, connections: int) -> float:
    """Successful requests per second; every response must be a 2xx."""
    if shutil.which("wrk"):
        return _load_with_wrk(url, body, headers, seconds, connections)
    return _load_with_threads(url, body, headers, seconds, connections)


def _load_with_wrk(url, body, headers, seconds, connections) -> float:
    with tempfile.TemporaryDirectory() as folder:
        body_path = os.path.join(folder, "body.json")
        with open(body_path, "w") as handle:
            handle.write(body)
        script = os.path.join(folder, "post.lua")
        with open(script, "w") as handle:
            handle.write('wrk.method = "POST"\n')
            handle.write(f'local f = io.open("{body_path}", "rb")\nwrk.body = f:read("*a")\nf:close()\n')
            for name, value in {"Content-Type": "application/json", **headers}.items():
                handle.write(f'wrk.headers["{name}"] = "{value}"\n')
        output = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "60s", "-s", script, url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    failures = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if failures or (errors and int(errors.group(4))):
        raise SystemExit(f"failed requests under load:\n{output}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))


def _load_with_threads(url, body, headers, seconds, connections) -> float:
    done, failures = [0] * connections, []
    stop = time.perf_counter() + seconds

    def client(slot: int) -> None:
        with requests.Session() as session:
            while time.perf_counter() < stop:
                response = session.post(url, data=body, headers={"Content-Type": "application/json", **headers})
                if response.status_code >= 300:
                    failures.append(response.status_code)
                done[slot] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(slot,)) for slot in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"{len(failures)} failed requests under load: {sorted(set(failures))}")
    return sum(done) / (time.perf_counter() - started)


# --- the run ------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10, help="load duration of each HTTP measure")
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()

    name, admin_url = create_database()
    env = {
        "DATABASE_URL": admin_url.replace("postgresql://", "postgresql+psycopg://"),
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": secrets.token_hex(32),
        "LEADFLOW_BACKGROUND_SCHEDULER": "0",
        "FLASK_DEBUG": "0",
    }
    servers = []
    results = {}
    try:
        app, token, (organization_id, user_id) = prepare_app(env)
        leadflow, leadflow_url = start_server("webapp:create_app()", env, "/api/v1/openapi.json")
        bare, bare_url = start_server("bare_app:app", env, "/", chdir=os.path.join(ROOT, "bench"))
        servers += [leadflow, bare]
        auth = {"Authorization": f"Bearer {token}"}
        one = json.dumps(lead(1))
        bulk = json.dumps({"leads": [lead(n) for n in range(BULK_SIZE)]})
        print(
            f"load: {'wrk' if shutil.which('wrk') else 'Python threads'}, {args.connections} connections, "
            f"{args.seconds:g} s each, gunicorn -w 2 (sync)",
            flush=True,
        )
        for url, body, headers in ((bare_url + "/leads", one, {}), (leadflow_url + "/api/v1/leads", one, auth)):
            load(url, body, headers, 2, args.connections)  # warm-up: imports, connection pools
        results["bare_rps"] = load(bare_url + "/leads", one, {}, args.seconds, args.connections)
        results["single_rps"] = load(leadflow_url + "/api/v1/leads", one, auth, args.seconds, args.connections)
        bulk_connections = min(args.connections, 2)
        load(leadflow_url + "/api/v1/leads/bulk", bulk, auth, 2, bulk_connections)
        results["bulk_lps"] = BULK_SIZE * load(leadflow_url + "/api/v1/leads/bulk", bulk, auth, args.seconds, bulk_connections)
    finally:
        for server in servers:
            stop_server(server)
        try:
            from webapp.extensions import db

            with app.app_context():
                db.engine.dispose()
        except Exception:  # the app may not exist if preparing it failed
            pass
        drop_database(name)
        redis.Redis.from_url(REDIS_URL).flushdb()
    report(results)


def report(results: dict) -> None:
    lines = [("measure", "figure", "ratio", "target", "")]
    single = results["single_rps"] / results["bare_rps"]
    bulk = results["bulk_lps"] / results["single_rps"]
    lines += [
        ("bare Flask POST (req/s)", f"{results['bare_rps']:,.0f}", "", "", ""),
        (
            "POST /api/v1/leads (leads/s)",
            f"{results['single_rps']:,.0f}",
            f"{single:.2f}x bare",
            f">= {TARGETS['single']}",
            "ok" if single >= TARGETS["single"] else "MISSED",
        ),
        (
            f"POST /api/v1/leads/bulk x{BULK_SIZE} (leads/s)",
            f"{results['bulk_lps']:,.0f}",
            f"{bulk:.1f}x single",
            f">= {TARGETS['bulk']:g}",
            "ok" if bulk >= TARGETS["bulk"] else "MISSED",
        ),
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(5)]
    print()
    for line in lines:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


if __name__ == "__main__":
    main()
