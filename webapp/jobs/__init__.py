"""One interface for background work: ``enqueue(function, *ids)``.

With ``REDIS_URL`` set, jobs go to RQ and ``worker.py`` runs them; without it they run in a thread
of this process. Either way a job is handed over only after the transaction that asked for it
commits (a rolled-back request queues nothing), and jobs take ids, never objects.

The jobs, each next to the code it drives: ``leads.importer.run_import``,
``segments.services.run_refresh_job``, ``email_templates.delivery.send_outbox_messages``,
``automations.engine.execute_runs``. What runs periodically is declared in ``webapp.features``
and run by the loops of ``webapp.jobs.loops``.
"""

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from flask import Flask, current_app
from redis import Redis
from rq import Queue
from sqlalchemy import event
from sqlalchemy.orm import Session

from ..extensions import db

log = logging.getLogger(__name__)
QUEUES = ("high", "default", "low")  # a worker takes from them in this order
_PENDING = "leadflow_pending_jobs"
_executor: ThreadPoolExecutor | None = None


def enqueue(function: Callable, *args, queue: str = "default", job_id: str | None = None) -> None:
    """Run ``function(*args)`` in the background once the current transaction commits.

    ``function`` is a module-level function (RQ finds it again by its module and name)."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")
    if not callable(function) or "<" in function.__qualname__:
        raise ValueError(f"a job is a module-level function, not {function!r}")
    _pending_jobs().append((_transaction(), (function, args, queue, job_id)))


@dataclass
class _IdBatch:
    """The ids of ``kind`` rows queued by one transaction for ``function(ids)``."""

    function: Callable
    kind: str
    ids: list[int]
    queue: str = "default"
    at: datetime | None = None

    def as_job(self) -> tuple:
        from .loops import job_id_for

        return self.function, (sorted(self.ids),), self.queue, job_id_for(self.kind, min(self.ids), max(self.ids))


def enqueue_ids(function: Callable, kind: str, row_id: int, per_job: int = 100, queue: str = "default", at: datetime | None = None) -> None:
    """Run ``function(ids)`` once the transaction commits (or at ``at``, by RQ's scheduler), for this
    row and the other rows of ``kind`` that the same transaction queued for it at the same time: jobs
    of up to ``per_job`` ids, each named by its ids' range (``loops.job_id_for``, which the sweepers
    read). Without Redis a job for later is not run: the sweepers find its rows when they are due."""
    transaction, pending = _transaction(), _pending_jobs()
    for owner, job in reversed(pending):
        if owner is transaction and isinstance(job, _IdBatch) and (job.function, job.at) == (function, at) and len(job.ids) < per_job:
            job.ids.append(row_id)
            return
    pending.append((transaction, _IdBatch(function, kind, [row_id], queue, at)))


def _transaction():
    """The (nested) transaction that asks for a job: a rolled-back savepoint drops only its own jobs."""
    session = db.session()
    if not session.in_transaction():
        # Begin explicitly: a rollback of a transaction never begun fires no event, and the job would
        # wait in the session for whatever commits next.
        session.begin()
    return session.get_nested_transaction() or session.get_transaction()


def _pending_jobs() -> list:
    return db.session().info.setdefault(_PENDING, [])


_connections: dict[str, Redis] = {}


def redis_connection(app: Flask | None = None) -> Redis:
    """One Redis client (with its connection pool) per URL for the process: enqueueing is hot."""
    url = (app or current_app).config["REDIS_URL"]
    if url not in _connections:
        _connections[url] = Redis.from_url(url)
    return _connections[url]


def rq_queue(name: str = "default", app: Flask | None = None) -> Queue:
    return Queue(name, connection=redis_connection(app))


def _dispatch(app: Flask, jobs: list) -> None:
    for function, args, queue, job_id in jobs:
        if app.config.get("REDIS_URL"):
            rq_queue(queue, app).enqueue(function, *args, job_id=job_id, job_timeout=1800, result_ttl=3600, failure_ttl=7 * 24 * 3600)
        else:
            _in_process_executor().submit(_run_in_app, app, function, args)


def _schedule(app: Flask, batches: list[_IdBatch]) -> None:
    if not app.config.get("REDIS_URL"):
        return
    for batch in batches:
        function, args, queue, job_id = batch.as_job()
        rq_queue(queue, app).enqueue_at(batch.at, function, *args, job_id=job_id, job_timeout=1800, result_ttl=3600)


def _in_process_executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="leadflow-job")
    return _executor


def _run_in_app(app: Flask, function: Callable, args: tuple) -> None:
    with app.app_context():
        try:
            function(*args)
        except Exception:
            log.exception("background job %s%r failed", function.__qualname__, args)
        finally:
            db.session.remove()


_listening = False


def init_jobs(app: Flask) -> None:
    """Hand pending jobs over after each commit; drop them on rollback (listeners are global)."""
    global _listening
    if _listening:
        return
    _listening = True

    @event.listens_for(Session, "after_commit")  # the outermost commit only, never a savepoint's
    def _after_commit(session):
        pending = session.info.pop(_PENDING, None)
        if pending:
            app = current_app._get_current_object()
            later = [job for _, job in pending if isinstance(job, _IdBatch) and job.at is not None]
            now = [job for _, job in pending if not (isinstance(job, _IdBatch) and job.at is not None)]
            _dispatch(app, [job.as_job() if isinstance(job, _IdBatch) else job for job in now])
            _schedule(app, later)

    @event.listens_for(Session, "after_soft_rollback")
    def _after_rollback(session, previous_transaction):
        pending = session.info.get(_PENDING)
        if pending:
            session.info[_PENDING] = [(t, job) for t, job in pending if not _within(t, previous_transaction)]


def _within(transaction, ancestor) -> bool:
    """Is ``transaction`` the rolled-back ``ancestor`` or nested inside it?"""
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False
