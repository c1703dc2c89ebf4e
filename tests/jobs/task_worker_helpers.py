"""Test-only task types and the entry point of worker subprocesses (used by test_task_workers.py).

Run as ``python -m tests.jobs.task_worker_helpers WORKER_ID BATCH burst|forever`` from the repo root
with DATABASE_URL and REDIS_URL in the environment. Executions are counted in Redis, outside the
task's transaction, so that a task run twice would be seen even if its second commit were refused.
"""

import functools
import os
import signal
import sys
import threading
import time

import redis

from webapp.features import TaskType, add_task_types

EXECUTIONS = "leadflow:test:executions"  # hash: task id → times its handler finished
STARTED = "leadflow:test:started"  # list of task ids whose handler began
READY = "leadflow:test:workers-ready"
GO = "leadflow:test:go"


@functools.cache
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(os.environ["REDIS_URL"])


def order_key(worker_id: str) -> str:
    return f"leadflow:test:order:{worker_id}"


def record_execution(task) -> dict:
    """The no-op task: counts its execution and the order in which its worker ran it."""
    pipe = redis_client().pipeline()
    pipe.hincrby(EXECUTIONS, task.id, 1)
    pipe.rpush(order_key(task.locked_by), task.priority)
    pipe.execute()
    return {"worker": task.locked_by}


def sleep_on_first_attempt(task) -> dict:
    """A long task: the first attempt sleeps (its worker is killed meanwhile), later ones finish."""
    redis_client().rpush(STARTED, task.id)
    if task.attempts == 1:
        time.sleep(task.payload.get("seconds", 60))
    return record_execution(task)


def any_payload(payload: dict, organization_id: int) -> list[dict]:
    return []


TEST_TASK_TYPES = (TaskType("test_record", record_execution, any_payload), TaskType("test_sleep_once", sleep_on_first_attempt, any_payload))


def main(worker_id: str, batch: int, mode: str) -> None:
    """Build the app, wait for the test's go signal, then work (burst: until nothing is due)."""
    from webapp import create_app
    from webapp.scheduled_tasks.execution import run_worker_loop

    app = create_app()
    add_task_types(app, *TEST_TASK_TYPES)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    client = redis_client()
    client.incr(READY)
    while not client.exists(GO):
        time.sleep(0.005)
    run_worker_loop(worker_id, stop, poll_interval=0.1, batch=batch, burst=mode == "burst", app=app)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
