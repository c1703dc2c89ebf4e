"""Real worker processes racing over scheduled tasks on PostgreSQL, and one killed mid-task."""

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from tests.factories import make_org
from tests.jobs import task_worker_helpers as helpers
from webapp.extensions import db
from webapp.models import ScheduledTask, utcnow
from webapp.scheduled_tasks.definitions import create_task

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HIGH, LOW = 90, 10


def start_worker(test_env, worker_id: str, batch: int, mode: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "tests.jobs.task_worker_helpers", worker_id, str(batch), mode]
    return subprocess.Popen(command, cwd=REPO_ROOT, env={**os.environ, **test_env})


def release_workers(count: int, timeout: float = 60) -> None:
    """Wait until ``count`` workers have built their app, then let them all start at once."""
    client = helpers.redis_client()
    deadline = time.monotonic() + timeout
    while int(client.get(helpers.READY) or 0) < count:
        assert time.monotonic() < deadline, "worker processes did not start"
        time.sleep(0.05)
    client.set(helpers.GO, 1)


def wait_for(condition, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.1)


def executions() -> dict[int, int]:
    return {int(k): int(v) for k, v in helpers.redis_client().hgetall(helpers.EXECUTIONS).items()}


def tasks() -> list[ScheduledTask]:
    db.session.expire_all()
    return db.session.scalars(select(ScheduledTask).order_by(ScheduledTask.id)).all()


@pytest.fixture(autouse=True)
def _worker_task_types(extra_task_types):
    extra_task_types(*helpers.TEST_TASK_TYPES)


@pytest.fixture
def org(session):
    return make_org()


def test_four_workers_run_each_of_a_thousand_tasks_exactly_once_by_priority(test_env, org):
    for n in range(1000):  # interleaved, so that id order says nothing about priority
        create_task(org.id, "test_record", {"n": n}, priority=HIGH if n % 2 else LOW)
    db.session.commit()
    worker_ids = [f"racer-{n}" for n in range(4)]
    workers = [start_worker(test_env, worker_id, 10, "burst") for worker_id in worker_ids]
    try:
        release_workers(len(workers))
        for worker in workers:
            assert worker.wait(timeout=180) == 0
    finally:
        for worker in workers:
            worker.kill()

    all_tasks = tasks()
    assert executions() == {task.id: 1 for task in all_tasks}
    assert {(task.status, task.attempts) for task in all_tasks} == {("completed", 1)}
    runs_per_worker = {}
    for worker_id in worker_ids:
        order = [int(p) for p in helpers.redis_client().lrange(helpers.order_key(worker_id), 0, -1)]
        assert order == sorted(order, reverse=True), f"{worker_id} ran a low-priority task before a high one"
        runs_per_worker[worker_id] = len(order)
    assert sum(runs_per_worker.values()) == 1000
    assert sum(1 for n in runs_per_worker.values() if n) > 1, f"no race happened: {runs_per_worker}"
    # Across workers, a low task can only start while other workers' last high batches are in flight.
    last_high_start = max(task.started_at for task in all_tasks if task.priority == HIGH)
    early_lows = sum(1 for task in all_tasks if task.priority == LOW and task.started_at < last_high_start)
    assert early_lows <= 3 * 10


def test_a_task_whose_worker_is_killed_is_taken_again_after_its_timeout(test_env, org):
    long_task = create_task(org.id, "test_sleep_once", {"seconds": 120}, priority=100, timeout_seconds=3)
    others = [create_task(org.id, "test_record", {"n": n}) for n in range(20)]
    db.session.commit()

    doomed = start_worker(test_env, "doomed", 1, "forever")
    try:
        release_workers(1)
        wait_for(lambda: helpers.redis_client().llen(helpers.STARTED) > 0, 60, "the long task never started")
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=10)
    finally:
        doomed.kill()
    stranded = db.session.get(ScheduledTask, long_task.id)
    assert (stranded.status, stranded.locked_by) == ("running", "doomed")
    stranded_at = stranded.started_at

    rescuer = start_worker(test_env, "rescuer", 5, "forever")
    try:
        wait_for(lambda: all(task.status == "completed" for task in tasks()), 60, "tasks were lost")
        rescuer.send_signal(signal.SIGTERM)
        assert rescuer.wait(timeout=30) == 0
    finally:
        rescuer.kill()

    rescued = db.session.get(ScheduledTask, long_task.id)
    assert rescued.attempts == 2
    assert [(a["worker"], a["outcome"]) for a in rescued.attempt_history] == [("doomed", "timed_out"), ("rescuer", "completed")]
    retaken_at = datetime.fromisoformat(rescued.attempt_history[1]["started_at"])
    assert retaken_at > stranded_at + timedelta(seconds=3)
    assert executions() == {task.id: 1 for task in [long_task, *others]}
    assert rescued.finished_at <= utcnow()
