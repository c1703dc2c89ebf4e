"""CSV import of leads, run as a background job: all rows valid, or nothing imported.

Progress and errors are written through a separate connection so that the page can show them
while the import's own transaction is still open.
"""

import csv
import io
import logging
from datetime import timedelta

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError

from ..extensions import db
from ..jobs import enqueue
from ..models import ImportJob
from ..models.leads import LEAD_INPUT_FIELDS
from ..validation import ValidationFailed
from .services import create_leads, validate_lead

PROGRESS_EVERY = 250
MAX_ATTEMPTS = 3  # jobs that may start one import; an import that stops every time is failed, not retried
UNREADABLE_FILE = "the import stopped {attempts} times without finishing; nothing was imported. Check the file, then import it again"
CHUNK = 1000
MAX_ERRORS_KEPT = 500
ADVISORY_LOCK_SPACE = 7301  # first key of pg_try_advisory_xact_lock(space, import id)
log = logging.getLogger(__name__)
COLUMNS = (*LEAD_INPUT_FIELDS, "email_opt_out")


def parse_rows(content: str) -> tuple[list[dict], list[dict]]:
    """Rows as dicts of known columns; unknown header columns and unreadable CSV are errors of the file."""
    reader = csv.DictReader(io.StringIO(content))
    try:
        return _read_rows(reader)
    except csv.Error as exc:
        message = str(exc)
        if "field larger than field limit" in message:
            message = f"a cell holds more than {csv.field_size_limit():,} characters"
        return [], [{"row": reader.line_num or 1, "field": "file", "message": f"the file cannot be read as CSV: {message}"}]


def _read_rows(reader: csv.DictReader) -> tuple[list[dict], list[dict]]:
    header = [h.strip() for h in (reader.fieldnames or [])]
    unknown = [h for h in header if h and h not in COLUMNS]
    if not header:
        return [], [{"row": 1, "field": "file", "message": "the file has no header row"}]
    if unknown:
        return [], [{"row": 1, "field": "header", "message": f"unknown column(s): {', '.join(unknown)}"}]
    reader.fieldnames = header
    rows = []
    for raw in reader:
        if None in raw:
            rows.append({"__error__": "the row has more cells than the header"})
            continue
        row = {k: v for k, v in raw.items() if k}
        if not (row.get("email_opt_out") or "").strip():
            row.pop("email_opt_out", None)  # blank: the default (yes/no/true/false/1/0 are read by the schema)
        rows.append(row)
    return rows, []


def run_import(import_id: int) -> None:
    """The job: validate every row, then create all leads in one transaction.

    An import that fails ends ``failed`` with a message for the person who uploaded it; nothing of it
    is imported."""
    job = db.session.get(ImportJob, import_id)
    if job is None or job.status not in ("pending", "running"):
        return
    if not _claim(import_id):
        return  # the same import is running in another worker: it will finish it
    _progress(import_id, best_effort=True, status="running", attempts=job.attempts + 1)
    try:
        _validate_and_create(job)
    except Exception:
        # Nothing is half-imported (one transaction), and the page must not wait for ever on "running".
        db.session.rollback()
        log.exception("import %s failed", import_id)
        _progress(
            import_id,
            status="failed",
            created_count=0,
            errors=[{"row": None, "field": "file", "message": "the import failed unexpectedly; nothing was imported, please try again"}],
        )
        raise


def _validate_and_create(job: ImportJob) -> None:
    import_id = job.id
    rows, errors = parse_rows(job.content)
    _progress(import_id, best_effort=True, total_rows=len(rows))
    clean = []
    for index, row in enumerate(rows):
        line = index + 2  # the header is line 1
        if "__error__" in row:
            errors.append({"row": line, "field": "row", "message": row["__error__"]})
            continue
        try:
            clean.append(validate_lead(row, job.organization_id))
        except ValidationFailed as exc:
            errors.extend({"row": line, **e} for e in exc.errors)
        if (index + 1) % PROGRESS_EVERY == 0:
            _progress(import_id, best_effort=True, processed_rows=index + 1)
    if errors or not rows:
        db.session.rollback()
        errors = errors or [{"row": 1, "field": "file", "message": "the file has no data rows"}]
        _progress(import_id, status="failed", errors=errors[:MAX_ERRORS_KEPT], processed_rows=len(rows))
        return
    organization_id, user_id = job.organization_id, job.user_id
    _progress(import_id, best_effort=True, processed_rows=len(rows))
    created = 0
    for start in range(0, len(clean), CHUNK):
        created += len(create_leads(organization_id, clean[start : start + CHUNK], user_id))
        if db.engine.dialect.name != "sqlite":  # SQLite locks the file while this transaction writes
            _progress(import_id, best_effort=True, created_count=created)
    db.session.execute(
        update(ImportJob)
        .where(ImportJob.id == import_id)
        .values(status="completed", created_count=created, processed_rows=len(rows), content="")
    )
    db.session.commit()


def _claim(import_id: int) -> bool:
    """Hold a lock on this import for the job's transaction, so that a job run twice imports once."""
    if db.engine.dialect.name != "postgresql":
        return True  # SQLite has one writer at a time
    return bool(db.session.scalar(select(func.pg_try_advisory_xact_lock(ADVISORY_LOCK_SPACE, import_id))))


def _progress(import_id: int, *, best_effort: bool = False, **values) -> None:
    """Write progress in its own short transaction (visible at once, whatever the import does).

    The import's transaction stays open meanwhile; if something that needs the whole table (a
    migration, a TRUNCATE) queues between the two, waiting here would never end: best-effort updates
    give up after a moment instead, and the final status is written when the import holds no lock.
    """
    try:
        with db.engine.begin() as conn:
            if best_effort and conn.dialect.name == "postgresql":
                conn.execute(text("SET LOCAL lock_timeout = '2s'"))
            conn.execute(update(ImportJob).where(ImportJob.id == import_id).values(**values))
    except DBAPIError:
        if not best_effort:
            raise
        log.warning("progress of import %s not recorded (lock timeout)", import_id)


def requeue_stalled_imports() -> int:
    """Imports whose job was lost (a dead worker, a restarted Redis) are queued again.

    A second job for an import that is in fact still running does nothing: it cannot take the lock.
    """
    from flask import current_app

    from ..models import utcnow

    cutoff = utcnow() - timedelta(seconds=current_app.config["STALLED_AFTER_SECONDS"])
    stalled = db.session.execute(
        select(ImportJob.id, ImportJob.attempts).where(ImportJob.status.in_(("pending", "running")), ImportJob.updated_at < cutoff)
    ).all()
    given_up = [import_id for import_id, attempts in stalled if attempts >= MAX_ATTEMPTS]
    retried = [import_id for import_id, attempts in stalled if attempts < MAX_ATTEMPTS]
    for import_id in retried:
        enqueue(run_import, import_id, queue="high")
    if retried:
        db.session.execute(update(ImportJob).where(ImportJob.id.in_(retried)).values(updated_at=utcnow()))
    for import_id, attempts in stalled:
        if import_id in given_up:
            error = {"row": None, "field": "file", "message": UNREADABLE_FILE.format(attempts=attempts)}
            db.session.execute(
                update(ImportJob).where(ImportJob.id == import_id).values(status="failed", errors=[error], content="", updated_at=utcnow())
            )
    if stalled:
        db.session.commit()
    return len(retried)
