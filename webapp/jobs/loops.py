"""The background loops: threads of each worker (``worker.py``), or of the embedded web process.

Two loops: the scheduled-task loop claims due tasks from the database; the sweep loop calls each
sweeper of ``features.Wiring.sweepers``, which finds work whose job was lost — with a dead worker or
a restarted Redis — and queues it again.

A row untouched for a while is not necessarily lost: its job may be waiting behind a backlog. Jobs
that sweepers may look for carry the ids of their rows in their RQ job id (``job_id_for``), and a
sweeper skips the rows of jobs still waiting in a queue (``waiting_id_ranges``); without this, every
sweep during a long backlog queued the same work again, and the duplicates made the backlog longer.
"""

import logging
import threading
import uuid

from flask import current_app
from sqlalchemy import and_

from ..extensions import db
from ..features import wiring
from . import QUEUES, rq_queue

log = logging.getLogger(__name__)


def job_id_for(kind: str, first_id: int, last_id: int) -> str:
    """An RQ job id naming the rows ``first_id..last_id`` of ``kind`` that the job works on."""
    return f"{kind}-{first_id}-{last_id}-{uuid.uuid4().hex[:12]}"


def waiting_id_ranges(kind: str) -> list[tuple[int, int]]:
    """Merged ``(first, last)`` id ranges of the ``kind`` rows that jobs still waiting in a queue will
    handle (none without Redis). A job already taken by a worker is not waiting: if that worker died,
    its rows are found stalled as before."""
    if not current_app.config.get("REDIS_URL"):
        return []
    ranges = []
    for queue in QUEUES:
        for job_id in rq_queue(queue).get_job_ids():
            parts = job_id.split("-")
            if len(parts) == 4 and parts[0] == kind and parts[1].isdigit() and parts[2].isdigit():
                ranges.append((int(parts[1]), int(parts[2])))
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def not_waiting(column, kind: str):
    """A SQL condition: the row's id is not covered by a job still waiting in a queue."""
    return and_(True, *(~column.between(first, last) for first, last in waiting_id_ranges(kind)))


def start_task_loop(app, worker_id: str):
    """Start the scheduled-task and sweep loops in daemon threads; returns a function that stops them."""
    from ..scheduled_tasks.execution import run_worker_loop

    stop = threading.Event()
    threading.Thread(target=run_worker_loop, args=(worker_id, stop), kwargs={"app": app}, name="leadflow-scheduler", daemon=True).start()
    threading.Thread(target=_sweep_loop, args=(app, stop), name="leadflow-sweeper", daemon=True).start()
    return stop.set


def run_sweepers() -> int:
    """Call every sweeper once; returns how many stalled items were requeued."""
    found = 0
    for sweeper in wiring().sweepers:
        try:
            found += sweeper.function() or 0
        except Exception:
            db.session.rollback()
            log.exception("sweeper for %s failed", sweeper.name)
    return found


def _sweep_loop(app, stop: threading.Event) -> None:
    interval = app.config.get("SWEEP_INTERVAL_SECONDS", 30)
    while not stop.wait(interval):
        with app.app_context():
            try:
                run_sweepers()
            finally:
                db.session.remove()
