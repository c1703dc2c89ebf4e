"""Scheduled-task throughput against RQ's, same machine, same run.

    .venv/bin/python bench/tasks.py [--tasks 5000] [--batch 10]

Creates its own PostgreSQL database (``leadflow_bench_<random>``, dropped afterwards) and uses Redis
DB 14. Measures no-op tasks completed per second by 1 and 2 worker processes running
``run_worker_loop`` in burst mode, and no-op RQ jobs per second by 1 and 2 ``SimpleWorker``
processes in burst mode, and prints the ratios. Workers are started and warmed up before the clock
starts; the clock stops when the last worker has nothing left to do.
"""

import argparse
import multiprocessing
import os
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import redis  # noqa: E402

from bench.common import PG_ADMIN_URL, create_database, drop_database  # noqa: E402

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/") + "/14"
WORKER_COUNTS = (1, 2)


def noop(*args) -> None:
    """The job and the task handler: does nothing, so that only the machinery is measured."""
    return None


def _no_errors(payload: dict, organization_id: int) -> list[dict]:
    return []


# --- worker processes (spawned: each re-imports this module) ------------------------------------


def task_worker(worker_id: str, batch: int, barrier) -> None:
    from webapp import create_app
    from webapp.features import TaskType, add_task_types
    from webapp.scheduled_tasks.execution import run_worker_loop

    app = create_app()
    add_task_types(app, TaskType("bench_noop", noop, _no_errors))
    with app.app_context():  # warm up: connection pool, imports
        from webapp.extensions import db

        db.session.execute(db.text("SELECT 1"))
        db.session.remove()
    barrier.wait()
    run_worker_loop(worker_id, threading.Event(), poll_interval=0.05, batch=batch, burst=True, app=app)


def rq_worker(worker_id: str, barrier) -> None:
    from rq import Queue, SimpleWorker

    connection = redis.Redis.from_url(REDIS_URL)
    worker = SimpleWorker([Queue("bench", connection=connection)], connection=connection, name=worker_id)
    connection.ping()
    barrier.wait()
    worker.work(burst=True, logging_level="WARNING")


def timed_workers(target, worker_args: list[tuple]) -> float:
    """Start the workers, release them together, and return the seconds until the last one exits."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(worker_args) + 1)
    processes = [context.Process(target=target, args=(*args, barrier)) for args in worker_args]
    for process in processes:
        process.start()
    barrier.wait(timeout=120)
    started = time.perf_counter()
    for process in processes:
        process.join()
    elapsed = time.perf_counter() - started
    if any(process.exitcode != 0 for process in processes):
        raise SystemExit(f"a worker failed: exit codes {[p.exitcode for p in processes]}")
    return elapsed


# --- the two systems ---------------------------------------------------------------------------


def run_scheduled_tasks(app, organization_id: int, count: int, workers: int, batch: int) -> float:
    from sqlalchemy import func, insert, select, text

    from webapp.extensions import db
    from webapp.models import ScheduledTask, utcnow

    with app.app_context():
        db.session.execute(text("TRUNCATE scheduled_tasks"))
        now = utcnow()
        rows = [
            {
                "organization_id": organization_id,
                "task_type": "bench_noop",
                "name": f"noop {n}",
                "payload": {},
                "scheduled_for": now,
                "priority": 50,
                "status": "pending",
                "attempts": 0,
                "max_attempts": 3,
                "timeout_seconds": 300,
                "attempt_history": [],
            }
            for n in range(count)
        ]
        db.session.execute(insert(ScheduledTask), rows)
        db.session.commit()
    elapsed = timed_workers(task_worker, [(f"bench-{workers}-{n}", batch) for n in range(workers)])
    with app.app_context():
        completed = db.session.scalar(select(func.count()).where(ScheduledTask.status == "completed"))
        db.session.remove()
    if completed != count:
        raise SystemExit(f"only {completed} of {count} tasks completed")
    return elapsed


def run_rq(count: int, workers: int) -> float:
    from rq import Queue

    connection = redis.Redis.from_url(REDIS_URL)
    connection.flushdb()
    queue = Queue("bench", connection=connection)
    for start in range(0, count, 1000):
        jobs = [Queue.prepare_data(noop) for _ in range(start, min(start + 1000, count))]
        queue.enqueue_many(jobs)
    elapsed = timed_workers(rq_worker, [(f"rq-bench-{workers}-{n}",) for n in range(workers)])
    finished = queue.finished_job_registry.count
    if finished != count:
        raise SystemExit(f"only {finished} of {count} RQ jobs finished")
    return elapsed


# --- setup, report ---------------------------------------------------------------------------


def build_app(database: str):
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    os.environ.update(
        {"DATABASE_URL": f"{base}/{database}", "REDIS_URL": REDIS_URL, "SECRET_KEY": "bench-secret", "LEADFLOW_BACKGROUND_SCHEDULER": "0"}
    )
    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import Organization

    app = create_app()
    with app.app_context():
        db.create_all()
        org = Organization(name="Bench", slug="bench")
        db.session.add(org)
        db.session.commit()
        return app, org.id


def report(count: int, batch: int, results: dict) -> None:
    print(f"\n{count} no-op jobs per run, scheduled-task batch {batch}, {os.cpu_count()} CPUs\n")
    print(f"{'workers':>7}  {'scheduled tasks/s':>17}  {'RQ jobs/s':>9}  {'ratio tasks/RQ':>14}")
    for workers in WORKER_COUNTS:
        tasks_rate = count / results[("tasks", workers)]
        rq_rate = count / results[("rq", workers)]
        print(f"{workers:>7}  {tasks_rate:>17.0f}  {rq_rate:>9.0f}  {tasks_rate / rq_rate:>14.2f}")
    scaling = results[("tasks", 1)] / results[("tasks", 2)]
    rq_scaling = results[("rq", 1)] / results[("rq", 2)]
    print(f"\nspeed-up from 1 to 2 workers: scheduled tasks x{scaling:.2f}, RQ x{rq_scaling:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=10)
    options = parser.parse_args()
    database = create_database()
    try:
        app, organization_id = build_app(database)
        results = {}
        for workers in WORKER_COUNTS:
            results[("tasks", workers)] = run_scheduled_tasks(app, organization_id, options.tasks, workers, options.batch)
            results[("rq", workers)] = run_rq(options.tasks, workers)
        with app.app_context():
            from webapp.extensions import db

            db.engine.dispose()
        report(options.tasks, options.batch, results)
    finally:
        redis.Redis.from_url(REDIS_URL).flushdb()
        drop_database(database)


if __name__ == "__main__":
    main()
