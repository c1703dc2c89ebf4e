"""One transaction doing the work of many: what the code inside it shares, and how it skips flushes.

The automation engine executes a batch of runs in one transaction (``automations.engine``). Inside
``batch()``:

- ``memo(key, compute)`` reads a thing once for the whole transaction (an email template, an
  organization's name) instead of once per run, and ``remember`` fills it in advance (whether the
  batch's leads' addresses are suppressed: one query for all);
- ``with_new_id(row)`` gives a new row its id from its table's sequence (drawn in blocks) without an
  INSERT, so that the rows of all runs are inserted together when the transaction flushes, in one
  statement per table;
- ``after_lead_changes`` collects the lead changes and runs their hooks once, at the end
  (``leads.changes``);
- ``in_batch()`` tells the executors that their rows' keys are new: an effect's row and its step's
  completion commit together, so no row exists under the key of a step still to execute. The unique
  index of each key guards the rule: a violation fails the batch, whose runs then go one at a time,
  looking for an earlier row first.
"""

import contextlib
import contextvars
from collections.abc import Callable

from sqlalchemy import text

from .extensions import db

IDS_PER_DRAW = 100
_batch: contextvars.ContextVar[dict | None] = contextvars.ContextVar("batch", default=None)
_ID_POOLS = "leadflow_id_pools"


@contextlib.contextmanager
def batch():
    token = _batch.set({})
    try:
        yield
    finally:
        _batch.reset(token)


def in_batch() -> bool:
    return _batch.get() is not None


def memo(key: tuple, compute: Callable):
    """``compute()``, once per batch for ``key`` (outside a batch: every time)."""
    memos = _batch.get()
    if memos is None:
        return compute()
    if key not in memos:
        memos[key] = compute()
    return memos[key]


def remember(key: tuple, value) -> None:
    """Give ``memo`` the value of ``key`` for this batch, read in advance with others (no-op outside a batch)."""
    memos = _batch.get()
    if memos is not None:
        memos[key] = value


def with_new_id(row):
    """Add a new ORM row to the session with its id set (PostgreSQL: drawn from the table's sequence,
    ``IDS_PER_DRAW`` at a time; elsewhere, as SQLite has no sequences: inserted now). Returns the row."""
    if db.session.get_bind().dialect.name != "postgresql":
        db.session.add(row)
        db.session.flush()
        return row
    table = row.__table__.name
    pools = db.session.info.setdefault(_ID_POOLS, {})
    if not pools.get(table):
        pools[table] = list(
            db.session.scalars(
                text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
                {"table": table, "n": IDS_PER_DRAW},
            )
        )
        pools[table].reverse()
    row.id = pools[table].pop()
    db.session.add(row)
    return row
