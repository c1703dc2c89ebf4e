"""The suppression list (SPEC §17): emails, domains and phone numbers nobody may contact, and CSV
imports of it (a national do-not-call file of millions of numbers among them)."""

from datetime import datetime
from typing import Literal

from flask import g, jsonify, request, url_for
from pydantic import BaseModel

from ..extensions import db
from ..models import Suppression, SuppressionImport
from ..models.suppressions import IMPORT_STATUSES, SUPPRESSION_KINDS, SUPPRESSION_REASONS
from ..suppressions.importer import MAX_IMPORT_BYTES, create_import, import_summary
from ..suppressions.services import SuppressionFields, add_suppression, check_suppression, remove_suppression, suppression_list_query
from ..tenancy import get_or_404
from . import bp
from .auth import CONFIGURE, READ, api_auth
from .common import PAGE_QUERY, Out, created, dump, json_body, no_content, page_envelope, paginate
from .docs import documented
from .errors import ApiError

TAG = "suppressions"


class SuppressionOut(Out):
    id: int
    kind: Literal[SUPPRESSION_KINDS]
    value: str
    reason: Literal[SUPPRESSION_REASONS]
    source: str
    message_id: int | None
    created_at: datetime


class ImportProblem(BaseModel):
    row: int | None
    message: str


class SuppressionImportOut(BaseModel):
    id: int
    status: Literal[IMPORT_STATUSES]
    filename: str
    total: int
    processed: int
    imported: int
    error_count: int
    errors: list[ImportProblem]
    created_at: datetime


LIST_QUERY = {
    **PAGE_QUERY,
    "q": {"type": "string", "maxLength": 200},
    "kind": {"type": "string", "enum": list(SUPPRESSION_KINDS)},
    "reason": {"type": "string", "enum": list(SUPPRESSION_REASONS)},
}
UPLOAD = {
    "file": {
        "type": "string",
        "format": "binary",
        "description": "A CSV with the header kind,value,reason, or a single column of phone numbers (with or without a header): "
        f"each suppressed as dnc. At most {MAX_IMPORT_BYTES // (1024 * 1024)} MB.",
    }
}


@bp.get("/suppressions")
@api_auth(*READ)
@documented(
    "List the suppression list, newest first (q: a part of the value)", response=page_envelope(SuppressionOut), query=LIST_QUERY, tag=TAG
)
def list_suppressions():
    return jsonify(paginate(suppression_list_query(g.organization_id, request.args), SuppressionOut))


@bp.post("/suppressions")
@api_auth(*CONFIGURE)
@documented(
    "Suppress an email address, a phone number or a domain (201); a value already on the list is answered with its entry, unchanged (200)",
    body=SuppressionFields,
    response=SuppressionOut,
    status=201,
    responses={200: {"description": "The value was on the list already: its entry, unchanged", "response": SuppressionOut}},
    tag=TAG,
)
def create_suppression():
    entry, is_new = add_suppression(g.organization_id, check_suppression(json_body()), source="api")
    body = dump(SuppressionOut, entry)
    db.session.commit()
    if not is_new:
        return jsonify(body)
    return created(body, url_for("api.get_suppression", suppression_id=entry.id))


@bp.get("/suppressions/<int:suppression_id>")
@api_auth(*READ)
@documented("An entry of the suppression list", response=SuppressionOut, tag=TAG)
def get_suppression(suppression_id):
    return jsonify(dump(SuppressionOut, get_or_404(Suppression, suppression_id)))


@bp.delete("/suppressions/<int:suppression_id>")
@api_auth(*CONFIGURE)
@documented("Take an entry off the suppression list", status=204, tag=TAG)
def delete_suppression(suppression_id):
    remove_suppression(get_or_404(Suppression, suppression_id))
    db.session.commit()
    return no_content()


@bp.post("/suppressions/import")
@api_auth(*CONFIGURE)
@documented(
    "Import a CSV of suppressions in the background: valid rows are kept, bad rows reported (202, Location: the import)",
    upload=UPLOAD,
    response=SuppressionImportOut,
    status=202,
    tag=TAG,
)
def import_suppressions():
    upload = request.files.get("file")
    if upload is None:
        raise ApiError(422, "file: is required (a multipart/form-data field)", errors=[{"field": "file", "message": "is required"}])
    content = upload.read(MAX_IMPORT_BYTES + 1)
    if len(content) > MAX_IMPORT_BYTES:
        raise ApiError(413, f"The file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB")
    job = create_import(g.organization_id, g.user.id, upload.filename or "suppressions.csv", content)
    body = SuppressionImportOut.model_validate(import_summary(job)).model_dump(mode="json")
    db.session.commit()
    response = jsonify(body)
    response.status_code = 202
    response.headers["Location"] = url_for("api.get_suppression_import", suppression_import_id=job.id)
    return response


@bp.get("/suppressions/import/<int:suppression_import_id>")
@api_auth(*READ)
@documented(
    "An import of suppressions: its status, progress and the problems of its rows (the first 1,000)", response=SuppressionImportOut, tag=TAG
)
def get_suppression_import(suppression_import_id):
    job = get_or_404(SuppressionImport, suppression_import_id)
    return jsonify(SuppressionImportOut.model_validate(import_summary(job)).model_dump(mode="json"))
