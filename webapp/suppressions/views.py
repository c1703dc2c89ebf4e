"""The suppression list page (SPEC §17): search, add and remove entries, import a CSV and follow its
progress. Thin: the services check and store; the same rules as the API."""

from flask import Blueprint, flash, g, redirect, request, url_for
from flask_login import current_user

from ..auth.access import CONFIGURE, READ, roles_required
from ..extensions import db
from ..htmx import render_page_or_fragment
from ..models import Suppression, SuppressionImport
from ..models.suppressions import SUPPRESSION_KINDS, SUPPRESSION_REASONS
from ..pagination import paginate, requested_page
from ..tenancy import get_or_404, scoped
from ..validation import ValidationFailed
from .forms import KIND_LABELS, REASON_LABELS, SuppressionForm, SuppressionImportForm
from .importer import MAX_ERRORS_KEPT, MAX_IMPORT_BYTES, create_import
from .services import add_suppression, check_suppression, remove_suppression, suppression_list_query

bp = Blueprint("suppressions", __name__, url_prefix="/suppressions")
PER_PAGE = 50
FILTER_NAMES = ("q", "kind", "reason")


def current_filters() -> dict:
    return {name: request.args.get(name, "").strip() for name in FILTER_NAMES if request.args.get(name, "").strip()}


@bp.get("/")
@roles_required(*READ)
def index(form: SuppressionForm | None = None, import_form: SuppressionImportForm | None = None, status: int = 200):
    filters = current_filters()
    entries = paginate(suppression_list_query(g.organization_id, filters), requested_page(), PER_PAGE)
    imports = db.session.scalars(scoped(SuppressionImport).order_by(SuppressionImport.id.desc()).limit(5)).all()
    response = render_page_or_fragment(
        "suppressions/index.html",
        "results",
        **entries.context("entries"),
        filters=filters,
        form=form or SuppressionForm(formdata=None),
        import_form=import_form or SuppressionImportForm(formdata=None),
        imports=imports,
        kinds=SUPPRESSION_KINDS,
        reasons=SUPPRESSION_REASONS,
        kind_labels=KIND_LABELS,
        reason_labels=REASON_LABELS,
        max_megabytes=MAX_IMPORT_BYTES // (1024 * 1024),
    )
    response.status_code = status
    return response


@bp.post("/")
@roles_required(*CONFIGURE)
def add():
    form = SuppressionForm()
    if form.validate_on_submit():
        try:
            entry, is_new = add_suppression(g.organization_id, check_suppression(form.suppression_data()), source="page")
            value = entry.value
            db.session.commit()
            flash(f"{value} is on the suppression list." if is_new else f"{value} was on the suppression list already.", "success")
            return redirect(url_for("suppressions.index"))
        except ValidationFailed as exc:
            db.session.rollback()
            form.show_errors(exc.errors)
    return index(form=form, status=422)


@bp.post("/<int:suppression_id>/delete")
@roles_required(*CONFIGURE)
def remove(suppression_id):
    entry = get_or_404(Suppression, suppression_id)
    value = entry.value
    remove_suppression(entry)
    db.session.commit()
    if request.headers.get("HX-Request"):
        return "", 200, {"Vary": "HX-Request"}  # the row is swapped for nothing
    flash(f"{value} is no longer on the suppression list.", "success")
    return redirect(url_for("suppressions.index"))


@bp.post("/import")
@roles_required(*CONFIGURE)
def import_file():
    form = SuppressionImportForm()
    if form.validate_on_submit():
        upload = form.file.data
        content = upload.read(MAX_IMPORT_BYTES + 1)
        if len(content) > MAX_IMPORT_BYTES:
            form.file.errors.append(f"The file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB.")
        elif not content.strip():
            form.file.errors.append("The file is empty.")
        else:
            job = create_import(g.organization_id, current_user.id, upload.filename or "suppressions.csv", content)
            db.session.commit()
            return redirect(url_for("suppressions.import_status", suppression_import_id=job.id))
    return index(import_form=form, status=422)


@bp.get("/import/<int:suppression_import_id>")
@roles_required(*READ)
def import_status(suppression_import_id):
    job = get_or_404(SuppressionImport, suppression_import_id)
    return render_page_or_fragment("suppressions/import_status.html", "progress", job=job, max_errors=MAX_ERRORS_KEPT)
