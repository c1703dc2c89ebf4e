"""CSV import of leads, run as a background job: all rows valid, or nothing imported.

Progress and errors are written through a separate connection so that the page can show them
while the import's own transaction is still open.
"""
import csv
import io

from sqlalchemy import update

from ..extensions import db
from ..models import ImportJob
from ..validation import ValidationFailed
from .services import create_leads, validate_lead

PROGRESS_EVERY = 250
CHUNK = 1000
MAX_ERRORS_KEPT = 500
COLUMNS = ("first_name", "last_name", "email", "phone", "status", "priority", "source", "insurance_type",
           "state", "city", "value_estimate", "tags", "email_opt_out")


def parse_rows(content: str) -> tuple[list[dict], list[dict]]:
    """Rows as dicts of known columns; unknown header columns are an error of the file."""
    reader = csv.DictReader(io.StringIO(content))
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
        if "email_opt_out" in row:
            row["email_opt_out"] = (row["email_opt_out"] or "").strip().lower() in ("1", "true", "yes", "y")
        rows.append(row)
    return rows, []


def run_import(import_id: int) -> None:
    """The job: validate every row, then create all leads in one transaction."""
    job = db.session.get(ImportJob, import_id)
    if job is None or job.status not in ("pending", "running"):
        return
    _progress(import_id, status="running")
    rows, errors = parse_rows(job.content)
    _progress(import_id, total_rows=len(rows))
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
            _progress(import_id, processed_rows=index + 1)
    if errors or not rows:
        db.session.rollback()
        errors = errors or [{"row": 1, "field": "file", "message": "the file has no data rows"}]
        _progress(import_id, status="failed", errors=errors[:MAX_ERRORS_KEPT], processed_rows=len(rows))
        return
    organization_id, user_id = job.organization_id, job.user_id
    _progress(import_id, processed_rows=len(rows))
    created = 0
    for start in range(0, len(clean), CHUNK):
        created += len(create_leads(organization_id, clean[start:start + CHUNK], user_id))
        if db.engine.dialect.name != "sqlite":  # SQLite locks the file while this transaction writes
            _progress(import_id, created_count=created)
    db.session.execute(update(ImportJob).where(ImportJob.id == import_id).values(
        status="completed", created_count=created, processed_rows=len(rows), content=""))
    db.session.commit()


def _progress(import_id: int, **values) -> None:
    """Write progress in its own short transaction (visible at once, whatever the import does)."""
    with db.engine.begin() as conn:
        conn.execute(update(ImportJob).where(ImportJob.id == import_id).values(**values))
