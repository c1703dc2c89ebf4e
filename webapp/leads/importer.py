"""CSV import of leads: columns matched to lead fields, then a background job.

An upload is kept as an ``ImportJob`` in ``mapping`` status; the person matches the file's columns
to lead fields (guessed from the headers) and chooses what happens to rows with problems: nothing
imported if any row is wrong (the default, SPEC §10), or the valid rows imported and the others
reported. The job then checks every row with the lead rules (``LeadRows``) and creates the
leads in one transaction, in set-based statements (``create_leads``). Rejected rows are kept as a
CSV of their original cells, their row number and their problems, to fix and import again.

Progress and errors are written through a separate connection so that the page can show them
while the import's own transaction is still open.
"""

import csv
import io
import itertools
import logging
import re
from datetime import timedelta

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError

from ..extensions import db
from ..jobs import enqueue
from ..models import ImportJob
from ..models.leads import LEAD_INPUT_FIELDS
from ..validation import ValidationFailed
from .consents import EVIDENCE_COLUMNS, IMPORT_COLUMNS, consents_from_columns
from .duplicates import Arrivals, receive_leads, sort_arrivals
from .services import LeadRows, create_leads

PROGRESS_EVERY = 1000
MAX_ATTEMPTS = 3  # jobs that may start one import; an import that stops every time is failed, not retried
UNREADABLE_FILE = "the import stopped {attempts} times without finishing; nothing was imported. Check the file, then import it again"
CHUNK = 5000
MAX_ERRORS_KEPT = 500  # shown on the page; the rejected-rows file has them all
PREVIEW_ROWS = 5
ADVISORY_LOCK_SPACE = 7301  # first key of pg_try_advisory_xact_lock(space, import id)
MODES = {
    "all_or_nothing": "Import nothing if any row has a problem",
    "valid_rows": "Import the valid rows and report the others",
}
# What a column can be imported as; the consent columns become the lead's consents (``leads.consents``).
FIELDS = (*LEAD_INPUT_FIELDS, "email_opt_out", *IMPORT_COLUMNS, *EVIDENCE_COLUMNS)
log = logging.getLogger(__name__)

# Header spellings of each field, compared without case, spaces or punctuation ("E-mail", "First Name").
SYNONYMS = {
    "first_name": ("firstname", "first", "givenname", "forename", "fname"),
    "last_name": ("lastname", "last", "surname", "familyname", "lname"),
    "email": ("email", "emailaddress", "mail", "emailaddr"),
    "phone": ("phone", "phonenumber", "telephone", "tel", "mobile", "cell", "cellphone", "mobilephone"),
    "status": ("status", "leadstatus", "stage"),
    "priority": ("priority",),
    "source": ("source", "leadsource", "origin"),
    "insurance_type": ("insurancetype", "insurance", "product", "coverage", "policytype", "lineofbusiness"),
    "state": ("state", "statecode", "st", "province"),
    "city": ("city", "town"),
    "value_estimate": ("valueestimate", "value", "estimatedvalue", "estimate", "premium", "amount", "dealvalue"),
    "tags": ("tags", "tag", "labels", "label"),
    "email_opt_out": ("emailoptout", "optout", "optedout", "unsubscribed", "donotemail"),
    "consent_email": ("consentemail", "emailconsent"),
    "consent_sms": ("consentsms", "smsconsent", "textconsent", "consenttext"),
    "consent_phone": ("consentphone", "phoneconsent", "callconsent", "consentcall"),
    "certificate_url": ("certificateurl", "trustedformurl", "trustedform", "trustedformcerturl", "xxtrustedformcerturl"),
    "leadid_token": ("leadidtoken", "jornayaleadid", "jornayatoken", "universalleadid"),
}
_FIELD_OF_HEADER = {spelling: field for field, spellings in SYNONYMS.items() for spelling in spellings}


class UnreadableFile(Exception):
    """The content cannot be read as a CSV with a header row: the message says why."""


# --- the file and its columns -----------------------------------------------------------------------


def _normalised(header: str) -> str:
    return re.sub(r"[^a-z0-9]", "", header.lower())


def guess_field(header: str) -> str | None:
    """The lead field a column header most likely means (``"E-mail"`` → ``email``), or None."""
    return _FIELD_OF_HEADER.get(_normalised(header))


def guess_mapping(header: list[str]) -> list[str | None]:
    """A field (or None: ignored) per column; each field goes to the first column that names it."""
    taken, mapping = set(), []
    for name in header:
        field = guess_field(name)
        mapping.append(field if field and field not in taken else None)
        taken.add(field)
    return mapping


def read_csv(content: str, limit: int | None = None) -> tuple[list[str], list[list[str]]]:
    """The header and the data rows of a file (the first ``limit`` non-blank ones only, when given:
    the rest of the file is not parsed); raises UnreadableFile."""
    reader = csv.reader(io.StringIO(content))
    try:
        header = next(reader, None)
        if limit is None:
            rows = list(reader)
        else:
            rows = list(itertools.islice((row for row in reader if _has_values(row)), limit))
    except csv.Error as exc:
        message = str(exc)
        if "field larger than field limit" in message:
            message = f"a cell holds more than {csv.field_size_limit():,} characters"
        raise UnreadableFile(f"the file cannot be read as CSV (line {reader.line_num or 1}): {message}") from None
    header = [name.strip() for name in header or []]
    if not any(header):
        raise UnreadableFile("the file has no header row")
    return header, rows


def _has_values(row: list[str]) -> bool:
    return any(cell.strip() for cell in row)


def mapping_errors(header: list[str], mapping: list[str | None]) -> list[dict]:
    """Why a chosen mapping cannot be used: unknown fields, a field chosen twice, nothing chosen."""
    errors = []
    columns_of = {}
    for position, field in enumerate(mapping):
        if field is None:
            continue
        if field not in FIELDS:
            errors.append({"field": f"column-{position}", "message": f"'{field}' is not a lead field"})
        columns_of.setdefault(field, []).append(position)
    for field, positions in columns_of.items():
        if len(positions) > 1:
            names = " and ".join(header[p] or f"column {p + 1}" for p in positions)
            for position in positions[1:]:
                errors.append({"field": f"column-{position}", "message": f"{field} is already chosen for {names}: choose it once"})
    if not columns_of:
        errors.append({"field": "mapping", "message": "choose a lead field for at least one column"})
    return errors


def start_import(job: ImportJob, mapping: list[str | None], mode: str) -> None:
    """Record the chosen mapping and mode and queue the job (on commit); raises ValidationFailed."""
    header, _ = read_csv(job.content, limit=0)
    mapping = (list(mapping) + [None] * len(header))[: len(header)]
    errors = mapping_errors(header, mapping)
    if mode not in MODES:
        errors.append({"field": "mode", "message": "choose what happens to rows with problems"})
    if errors:
        raise ValidationFailed(errors)
    job.options = {"mapping": mapping, "mode": mode}
    job.status = "pending"
    db.session.flush()
    enqueue(run_import, job.id, queue="high")


# --- the job ----------------------------------------------------------------------------------------


def run_import(import_id: int) -> None:
    """The job: check every row, then create the leads in one transaction.

    All-or-nothing: any row with a problem fails the import and nothing is imported. Valid rows: the
    valid rows are imported and the others reported (``rejected_count``, the rejected-rows file).
    An import that fails ends ``failed`` with a message for the person who uploaded it."""
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
    import_id, organization_id, user_id = job.id, job.organization_id, job.user_id
    try:
        header, rows = read_csv(job.content)
    except UnreadableFile as exc:
        return _fail(import_id, [{"row": 1, "field": "file", "message": str(exc)}])
    mapping = (job.options or {}).get("mapping") or guess_mapping(header)
    columns = [(position, field) for position, field in enumerate(mapping) if field and position < len(header)]
    if not columns:
        return _fail(import_id, [{"row": 1, "field": "header", "message": "no column of the file is matched to a lead field"}])
    numbered = [(index + 2, row) for index, row in enumerate(rows) if _has_values(row)]  # line 1: header
    if not numbered:
        return _fail(import_id, [{"row": 1, "field": "file", "message": "the file has no data rows"}])
    _progress(import_id, best_effort=True, total_rows=len(numbered))

    clean, rejected, errors = _check_rows(import_id, organization_id, header, columns, numbered)
    arrivals = sort_arrivals(organization_id, clean)  # duplicates on arrival (SPEC §17): none unless the policy looks
    if arrivals.action == "reject" and arrivals.duplicates:
        clean, arrivals = _reject_duplicates(clean, arrivals, numbered, rejected, errors, header, columns), Arrivals()
    if errors and (job.mode == "all_or_nothing" or not clean):
        return _fail(import_id, errors, rejected=(header, rejected), processed_rows=len(numbered))
    _progress(import_id, best_effort=True, processed_rows=len(numbered), rejected_count=len(rejected), errors=errors[:MAX_ERRORS_KEPT])

    created = 0
    if arrivals.duplicates:  # merged in order, each into the lead it duplicates
        created = len(receive_leads(organization_id, clean, user_id, arrivals).ids)
    else:
        for start in range(0, len(clean), CHUNK):
            created += len(create_leads(organization_id, clean[start : start + CHUNK], user_id))
            if db.engine.dialect.name != "sqlite":  # SQLite locks the file while this transaction writes
                _progress(import_id, best_effort=True, created_count=created)
    db.session.execute(
        update(ImportJob)
        .where(ImportJob.id == import_id)
        .values(
            status="completed",
            created_count=created,
            processed_rows=len(numbered),
            rejected_count=len(rejected),
            errors=errors[:MAX_ERRORS_KEPT],
            content=rejected_rows_csv(header, rejected),
        )
    )
    db.session.commit()


def _check_rows(import_id: int, organization_id: int, header: list[str], columns: list, numbered: list) -> tuple[list, list, list]:
    """Every row through the lead rules: the clean values, the rejected rows, and their errors."""
    width = len(header)
    column_of = {field: header[position] or f"column {position + 1}" for position, field in columns}
    lead_rows = LeadRows(organization_id)
    clean, rejected, errors = [], [], []
    for done, (line, row) in enumerate(numbered, start=1):
        if len(row) > width and _has_values(row[width:]):  # blank cells past the header are a trailing comma
            row_errors = [{"row": line, "field": "row", "column": None, "message": "the row has more cells than the header"}]
        else:
            data = {field: row[position] for position, field in columns if position < len(row)}
            if not (data.get("email_opt_out") or "").strip():
                data.pop("email_opt_out", None)  # blank: the default (yes/no/true/false/1/0 are read by the schema)
            try:
                clean.append(lead_rows.check(consents_from_columns(data)))
                row_errors = []
            except ValidationFailed as exc:
                row_errors = [{"row": line, **error, "column": column_of.get(error["field"])} for error in exc.errors]
        if row_errors:
            errors.extend(row_errors)
            rejected.append((line, row, row_errors))
        if done % PROGRESS_EVERY == 0:
            _progress(import_id, best_effort=True, processed_rows=done)
    return clean, rejected, errors


def _reject_duplicates(clean: list, arrivals: Arrivals, numbered: list, rejected: list, errors: list, header: list, columns: list) -> list:
    """Rows that the policy refuses as duplicates, reported like rows with problems (added to ``rejected``
    and ``errors``, in row order); returns the clean rows that remain."""
    rejected_lines = {line for line, _, _ in rejected}
    kept = [(line, row) for line, row in numbered if line not in rejected_lines]  # the clean rows' lines, in order
    column_of = {field: header[position] or f"column {position + 1}" for position, field in columns}
    for index, duplicate in arrivals.duplicates.items():
        line, row = kept[index]
        field = duplicate.matched_on[0]
        message = duplicate.describe(lambda earlier: f"row {kept[earlier][0]}")
        row_errors = [{"row": line, "field": field, "column": column_of.get(field), "message": message}]
        errors.extend(row_errors)
        rejected.append((line, row, row_errors))
    errors.sort(key=lambda error: error["row"] or 0)
    rejected.sort(key=lambda entry: entry[0])
    return [values for index, values in enumerate(clean) if index not in arrivals.duplicates]


def _fail(import_id: int, errors: list[dict], rejected: tuple | None = None, **values) -> None:
    """End the import ``failed``: nothing imported; the rejected rows kept to download."""
    db.session.rollback()
    content = rejected_rows_csv(*rejected) if rejected else ""
    rejected_count = len(rejected[1]) if rejected else 0
    _progress(import_id, status="failed", errors=errors[:MAX_ERRORS_KEPT], content=content, rejected_count=rejected_count, **values)


def error_text(error: dict) -> str:
    """``value_estimate: enter a number, like 1500 or 1500.50`` — the message naming its column."""
    name = error.get("column") or (error["field"] if error.get("field") not in (None, "row", "file", "header", "body") else None)
    return f"{name}: {error['message']}" if name else error["message"]


def rejected_rows_csv(header: list[str], rejected: list[tuple[int, list[str], list[dict]]]) -> str:
    """The rejected rows as a CSV: their original columns, then their row number and their problems."""
    if not rejected:
        return ""
    row_column = "row" if "row" not in header else "row (import)"
    error_column = "error" if "error" not in header else "error (import)"
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*header, row_column, error_column])
    width = len(header)
    for line, row, row_errors in rejected:
        cells = (row + [""] * width)[:width] if len(row) <= width else row
        writer.writerow([*cells, line, "; ".join(error_text(e) for e in row_errors)])
    return out.getvalue()


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
