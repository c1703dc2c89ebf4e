"""CSV imports of the suppression list (SPEC §17): a background job that keeps the valid rows and
reports the others, fast enough for a national do-not-call file of millions of numbers.

A file is either a CSV whose header names the columns ``kind``, ``value`` and ``reason`` (in any
order), or a single column of phone numbers, with or without a header, all suppressed as ``dnc``.

The job reads the rows ``CHUNK`` at a time: each is checked and normalised in Python (the phone
helper has a fast path for plain US numbers), then, on PostgreSQL, copied into a temporary staging
table and moved into ``suppressions`` by one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``. Each
chunk commits with the import's progress, so a job started again (a dead worker: the sweeper
``requeue_stalled_suppression_imports``) goes on after the last chunk it finished, and a value
already on the list is skipped, never counted twice.
"""

import csv
import io
import logging
import re
from contextlib import contextmanager
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..audit import audit
from ..extensions import db
from ..jobs import enqueue
from ..models import Suppression, SuppressionImport, utcnow
from ..models.suppressions import SUPPRESSION_KINDS, SUPPRESSION_REASONS
from .services import normalise_value

CHUNK = 50_000
MAX_ERRORS_KEPT = 1000  # the first problems are kept and shown; ``error_count`` counts them all
MAX_IMPORT_BYTES = 100 * 1024 * 1024  # about eight million phone numbers
MAX_ATTEMPTS = 3
ADVISORY_LOCK_SPACE = 7302  # first key of pg_try_advisory_lock(space, import id); the lead import has 7301
COLUMNS = ("kind", "value", "reason")
NOT_SUPPRESSIONS = "the header must name the columns kind, value and reason (or the file is a single column of phone numbers)"
PHONES_REASON = "dnc"
_PLAIN_US_NUMBER = re.compile(r"1?([2-9]\d{2}[2-9]\d{6})")  # ten digits (eleven with the 1), as phones.e164_or_none reads them
STALLED = "the import stopped {attempts} times without finishing; the rows before it stopped are kept. Import the file again for the rest"
log = logging.getLogger(__name__)


class UnreadableFile(Exception):
    """The file is not a suppression CSV: the message says why."""


def create_import(organization_id: int, user_id: int | None, filename: str, content: bytes) -> SuppressionImport:
    """Keep the uploaded file and queue its job (once the caller commits); audited."""
    job = SuppressionImport(
        organization_id=organization_id, user_id=user_id, filename=(filename or "suppressions.csv")[:300], content=content, errors=[]
    )
    db.session.add(job)
    db.session.flush()
    audit("import", job, {"filename": job.filename, "bytes": len(content)})
    enqueue(run_suppression_import, job.id)
    return job


def import_summary(job: SuppressionImport) -> dict:
    """What the API answers and the page shows of an import."""
    return {
        "id": job.id,
        "status": job.status,
        "filename": job.filename,
        "total": job.total,
        "processed": job.processed,
        "imported": job.imported,
        "error_count": job.error_count,
        "errors": job.errors or [],
        "created_at": job.created_at,
    }


# --- reading the file -------------------------------------------------------------------------------


def decoded(content: bytes) -> str:
    """The file as text: UTF-8 (with or without a byte-order mark), else Latin-1 (any bytes are)."""
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return content.decode("latin-1")


def read_rows(content: str) -> tuple[bool, list[int], list]:
    """``(phones only, line numbers, rows)`` of the data rows, blank lines left out. Phones only: a
    single column of numbers (its header, if any, left out), each row its cell (a tuple of cells
    when a row has more); otherwise each row the cells of the header's ``kind``, ``value`` and
    ``reason`` columns, in that order. Raises UnreadableFile.

    Two flat lists rather than a pair per row: a DNC file has millions of rows, and millions of small
    objects cost more to allocate and to garbage-collect than the rest of the reading."""
    if '"' not in content and "," not in content:  # one column, no quoting: no CSV parser needed
        lines = [line.strip() for line in content.splitlines()]
        numbers = [number for number, line in enumerate(lines, start=1) if line]
        rows = [line for line in lines if line]
        if not rows:
            raise UnreadableFile("the file is empty")
        first = (rows[0],)
    else:
        try:
            parsed = [(number, row) for number, row in enumerate(csv.reader(io.StringIO(content)), start=1) if any(c.strip() for c in row)]
        except csv.Error as exc:
            raise UnreadableFile(f"the file cannot be read as CSV: {exc}") from None
        if not parsed:
            raise UnreadableFile("the file is empty")
        first = parsed[0][1]
        names = [cell.strip().lower() for cell in first]
        if set(COLUMNS) <= set(names):
            positions = [names.index(name) for name in COLUMNS]
            rows = [tuple(row[p] if p < len(row) else "" for p in positions) for _, row in parsed[1:]]
            return False, [number for number, _ in parsed[1:]], rows
        if len(first) > 1 and any(cell.strip() for cell in first[1:]):
            raise UnreadableFile(NOT_SUPPRESSIONS)
        numbers = [number for number, _ in parsed]
        rows = [row[0].strip() if not any(cell.strip() for cell in row[1:]) else tuple(row) for _, row in parsed]
    if not any(character.isdigit() for character in first[0]):
        numbers, rows = numbers[1:], rows[1:]  # a header ("phone")
    return True, numbers, rows


def check_row(row, phones_only: bool) -> tuple[tuple[str, str, str] | None, str | None]:
    """``((kind, value, reason), None)`` for a good row, ``(None, problem)`` for a bad one."""
    if phones_only:
        if not isinstance(row, str):
            return None, "one phone number per row is expected"
        value, problem = normalise_value("phone", row)
        return (("phone", value, PHONES_REASON), None) if value else (None, f"{_shown(row)} {problem}")
    kind, raw, reason = row[0].strip().lower(), row[1], row[2].strip().lower()
    if kind not in SUPPRESSION_KINDS:
        return None, f"kind: {_shown(row[0])} is not one of {', '.join(SUPPRESSION_KINDS)}"
    if reason not in SUPPRESSION_REASONS:
        return None, f"reason: {_shown(row[2])} is not one of {', '.join(SUPPRESSION_REASONS)}"
    value, problem = normalise_value(kind, raw)
    return ((kind, value, reason), None) if value else (None, f"value: {_shown(raw)} {problem}")


def _shown(cell: str) -> str:
    cell = cell.strip()
    return f"“{cell[:60]}…”" if len(cell) > 60 else f"“{cell}”"


# --- the job ----------------------------------------------------------------------------------------


def run_suppression_import(import_id: int) -> None:
    """The job: check and store the rows chunk by chunk, from where a previous attempt stopped."""
    job = db.session.get(SuppressionImport, import_id)
    if job is None or job.status not in ("queued", "running"):
        return
    with _lock(import_id) as locked:
        if not locked:
            return  # the same import is running in another worker: it will finish it
        try:
            _run(job)
        except Exception:
            db.session.rollback()
            log.exception("suppression import %s failed", import_id)
            _finish(import_id, "failed", error="the import failed unexpectedly; the rows before it stopped are kept")
            raise


def _run(job: SuppressionImport) -> None:
    import_id, organization_id, done = job.id, job.organization_id, job.processed
    errors, error_count, imported = list(job.errors or []), job.error_count, job.imported
    _set(import_id, status="running", attempts=job.attempts + 1)
    try:
        phones_only, numbers, rows = read_rows(decoded(job.content))
    except UnreadableFile as exc:
        return _finish(import_id, "failed", error=str(exc))
    _set(import_id, total=len(rows))
    source = f"import #{import_id}"
    for start in range(done, len(rows), CHUNK):
        good = {}  # (kind, value) -> reason: the first row of a value in the chunk speaks for it
        for number, row in zip(numbers[start : start + CHUNK], rows[start : start + CHUNK], strict=True):
            plain = _PLAIN_US_NUMBER.fullmatch(row) if phones_only and isinstance(row, str) else None
            if plain:  # the bulk of a DNC file: the answer of normalise_value, without its other checks
                good.setdefault(("phone", "+1" + plain.group(1)), PHONES_REASON)
                continue
            checked, problem = check_row(row, phones_only)
            if checked:
                good.setdefault(checked[:2], checked[2])
            else:
                error_count += 1
                if len(errors) < MAX_ERRORS_KEPT:
                    errors.append({"row": number, "message": problem})
        imported += _store(organization_id, good, source)
        done = min(start + CHUNK, len(rows))
        values = {"processed": done, "imported": imported, "error_count": error_count, "errors": errors}
        db.session.execute(update(SuppressionImport).where(SuppressionImport.id == import_id).values(**values))
        db.session.commit()  # the chunk's rows and the progress that says they are in, together
    _finish(import_id, "completed")


_INSERT_STAGED = (
    "INSERT INTO suppressions (organization_id, kind, value, reason, source, created_at, updated_at) "
    "SELECT :organization_id, kind, value, reason, :source, :now, :now FROM suppression_staging ORDER BY kind, value "
    "ON CONFLICT DO NOTHING"
)


def _store(organization_id: int, rows: dict[tuple[str, str], str], source: str) -> int:
    """Put the checked rows (``{(kind, value): reason}``) on the list, skipping values already on it;
    returns how many were new.

    On PostgreSQL: COPY into a staging table, then one INSERT of its rows sorted as the unique index
    is (its pages are then written in order), skipping the values already there. (An anti-join instead
    of ON CONFLICT is planned with the table's statistics from before the import, which a long import
    outgrows: it re-read the whole list for every chunk.)"""
    if not rows:
        return 0
    now = utcnow()
    if db.engine.dialect.name != "postgresql":
        before = _count(organization_id)
        values = [{"organization_id": organization_id, "kind": k, "value": v, "reason": r, "source": source} for (k, v), r in rows.items()]
        db.session.execute(sqlite_insert(Suppression).values(created_at=now, updated_at=now).on_conflict_do_nothing(), values)
        return _count(organization_id) - before
    connection = db.session.connection().connection.driver_connection  # the session's transaction
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS suppression_staging (kind text, value text, reason text) ON COMMIT DELETE ROWS")
        with cursor.copy("COPY suppression_staging (kind, value, reason) FROM STDIN") as copy:
            if all(kind == "phone" for kind, _ in rows):  # E.164 numbers need no escaping: one block of text
                copy.write("".join(f"phone\t{value}\t{reason}\n" for (_, value), reason in rows.items()))
            else:
                for (kind, value), reason in rows.items():
                    copy.write_row((kind, value, reason))
    parameters = {"organization_id": organization_id, "source": source, "now": now}
    return db.session.execute(text(_INSERT_STAGED), parameters).rowcount


def _count(organization_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(Suppression).where(Suppression.organization_id == organization_id))


def _set(import_id: int, **values) -> None:
    db.session.execute(update(SuppressionImport).where(SuppressionImport.id == import_id).values(**values))
    db.session.commit()


def _finish(import_id: int, status: str, error: str | None = None) -> None:
    """End the import; its file is no longer needed."""
    values = {"status": status, "content": b""}
    if error:
        job = db.session.get(SuppressionImport, import_id)
        values["errors"] = [*(job.errors or []), {"row": None, "message": error}][: MAX_ERRORS_KEPT + 1]
        values["error_count"] = job.error_count + 1
    _set(import_id, **values)


@contextmanager
def _lock(import_id: int):
    """Yields whether this job holds the import: a session advisory lock on a connection of its own
    (the job commits per chunk), so that a job run twice at once imports once. SQLite has one writer
    at a time: no lock needed."""
    if db.engine.dialect.name != "postgresql":
        yield True
        return
    with db.engine.connect() as connection:
        locked = bool(connection.scalar(select(func.pg_try_advisory_lock(ADVISORY_LOCK_SPACE, import_id))))
        connection.commit()
        try:
            yield locked
        finally:
            if locked:
                connection.scalar(select(func.pg_advisory_unlock(ADVISORY_LOCK_SPACE, import_id)))
                connection.commit()


def requeue_stalled_suppression_imports() -> int:
    """Imports whose job was lost (a dead worker, a restarted Redis) are queued again; one that stopped
    ``MAX_ATTEMPTS`` times is failed, keeping the rows it stored. A second job for an import still
    running does nothing: it cannot take the lock."""
    cutoff = utcnow() - timedelta(seconds=current_app.config["STALLED_AFTER_SECONDS"])
    stalled = db.session.execute(
        select(SuppressionImport.id, SuppressionImport.attempts).where(
            SuppressionImport.status.in_(("queued", "running")), SuppressionImport.updated_at < cutoff
        )
    ).all()
    retried = [import_id for import_id, attempts in stalled if attempts < MAX_ATTEMPTS]
    for import_id in retried:
        enqueue(run_suppression_import, import_id)
    if retried:
        db.session.execute(update(SuppressionImport).where(SuppressionImport.id.in_(retried)).values(updated_at=utcnow()))
    for import_id, attempts in stalled:
        if attempts >= MAX_ATTEMPTS:
            job = db.session.get(SuppressionImport, import_id)
            job.status, job.content, job.error_count = "failed", b"", job.error_count + 1
            job.errors = [*(job.errors or []), {"row": None, "message": STALLED.format(attempts=attempts)}]
    if stalled:
        db.session.commit()
    return len(retried)
