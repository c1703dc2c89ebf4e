"""Read replicas (``DATABASE_READ_URL``): read-only pages read from a streaming standby.

``@reads_from_replica`` on a view (the innermost decorator, so that sign-in and roles are checked on
the primary) runs it with ``db.session`` replaced by a session whose plain SELECTs go to the replica.
Everything else still goes to the primary: flushes, INSERT / UPDATE / DELETE, ``SELECT ... FOR UPDATE``
and text SQL (which may have effects, like ``pg_cancel_backend``). A read after a write in the same
view does not see the write, so the decorator belongs only on views that read.

The replica is used while it answers and is behind by at most ``DATABASE_READ_MAX_LAG_SECONDS``; each
process measures the lag at most once per ``DATABASE_READ_LAG_CHECK_SECONDS``. Otherwise, and without
``DATABASE_READ_URL`` (or on SQLite), views read from the primary exactly as they would without a
replica. The switch either way is logged once.
"""

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import wraps

from flask import Flask, current_app
from flask_sqlalchemy.session import Session
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.sql.selectable import GenerativeSelect

from .extensions import db

log = logging.getLogger(__name__)

_EXTENSION = "leadflow_replica"
# A standby that has replayed all it received is not behind, however long ago the primary last wrote.
LAG_QUERY = text(
    "SELECT CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
    " ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END"
)


class Replica:
    """The replica's engine and this process's latest reading of whether it may be read."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._lock = threading.Lock()
        self._checked_at = float("-inf")
        self._usable = True  # what was last logged: the first fallback is logged, a healthy start is not

    def usable(self, max_lag: float, check_every: float) -> bool:
        with self._lock:
            if time.monotonic() - self._checked_at >= check_every:
                self._note(self._measure(max_lag))
                self._checked_at = time.monotonic()
            return self._usable

    def recheck(self) -> None:
        """Forget the reading: the next ``usable()`` measures again."""
        with self._lock:
            self._checked_at = float("-inf")

    def _measure(self, max_lag: float) -> str | None:
        """None when the replica may be read, else why not."""
        try:
            with self.engine.connect() as conn:
                lag = conn.scalar(LAG_QUERY)
        except OperationalError as exc:
            return f"the replica is unreachable ({exc.orig or exc})"
        if lag is None:
            return "the replica's lag is unknown (nothing replayed yet)"
        if lag > max_lag:
            return f"the replica is {float(lag):.1f} s behind (limit {max_lag:g} s)"
        return None

    def _note(self, reason: str | None) -> None:
        if reason and self._usable:
            log.warning("reading from the primary: %s", reason)
        elif reason is None and not self._usable:
            log.warning("reading from the replica again")
        self._usable = reason is None


def init_replica(app: Flask) -> None:
    """Create the replica's engine when ``DATABASE_READ_URL`` is set (never beside SQLite)."""
    url = app.config.get("DATABASE_READ_URL")
    if not url:
        return
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite") or url.startswith("sqlite"):
        log.warning("DATABASE_READ_URL is ignored: SQLite has no replicas")
        return
    # A replica that does not answer must not hold a request for long: it falls back to the primary.
    engine = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 2})
    app.extensions[_EXTENSION] = Replica(engine)


def replica_of(app: Flask) -> Replica | None:
    return app.extensions.get(_EXTENSION)


class ReplicaSession(Session):
    """A session that sends plain SELECTs to the replica and everything else to the primary."""

    def __init__(self, db, replica: Engine, **kwargs):
        super().__init__(db, **kwargs)
        self.replica = replica

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        if bind is None and not self._flushing and isinstance(clause, GenerativeSelect) and clause._for_update_arg is None:
            return self.replica
        return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)


@contextmanager
def reading_from_replica() -> Iterator[bool]:
    """Within the block ``db.session`` reads from the replica if it may be read; yields whether it does.

    The block's session is closed at its end: what it loaded is detached, and what it did not commit is
    dropped. Nested blocks share the outer one's session."""
    replica = replica_of(current_app)
    outer = db.session()
    config = current_app.config
    if (
        replica is None
        or isinstance(outer, ReplicaSession)
        or not replica.usable(config["DATABASE_READ_MAX_LAG_SECONDS"], config["DATABASE_READ_LAG_CHECK_SECONDS"])
    ):
        yield isinstance(outer, ReplicaSession)
        return
    session = ReplicaSession(replica=replica.engine, **db.session.session_factory.kw)
    db.session.registry.set(session)
    try:
        yield True
    finally:
        session.close()
        db.session.registry.set(outer)


def reads_from_replica(view):
    """Run a read-only view on the replica (see the module's docstring); if the replica fails during
    the view, run it again on the primary."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        on_replica = False
        try:
            with reading_from_replica() as on_replica:
                return view(*args, **kwargs)
        except OperationalError:
            if not on_replica:
                raise
            replica_of(current_app).recheck()
            return view(*args, **kwargs)

    return wrapper
