"""Lead pages: list with filters, detail with timeline, create/edit, CSV import."""

import re
from urllib.parse import quote

from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select

from ..audit import audit
from ..auth.access import CONFIGURE, READ, WORK, roles_required
from ..campaigns.services import campaign_options
from ..extensions import db
from ..features import wiring
from ..htmx import render_page_or_fragment
from ..models import ImportJob, Lead, LeadEvent, User
from ..models.leads import INSURANCE_TYPES, PRIORITIES, SOURCES, STATUSES
from ..pagination import paginate, requested_page
from ..replica import reads_from_replica
from ..tenancy import get_or_404, scoped
from ..validation import ValidationFailed
from . import importer
from .duplicates import DuplicatesRejected, receive_lead
from .forms import ImportForm, ImportStartForm, LeadForm
from .lookup import suggest_leads
from .services import delete_lead, lead_list_query, update_lead, validate_lead

bp = Blueprint("leads", __name__, url_prefix="/leads")
PER_PAGE = 25
FILTER_NAMES = ("q", "status", "priority", "source", "insurance_type", "state", "tag")
MAX_IMPORT_BYTES = 20 * 1024 * 1024
LISTBOX_ID = re.compile(r"[A-Za-z][\w-]{0,60}")


def current_filters() -> dict:
    return {name: request.args.get(name, "").strip() for name in FILTER_NAMES if request.args.get(name, "").strip()}


@bp.get("/")
@roles_required(*READ)
@reads_from_replica
def index():
    filters = current_filters()
    query = lead_list_query(g.organization_id, filters).order_by(Lead.created_at.desc(), Lead.id.desc())
    leads = paginate(query, requested_page(), PER_PAGE)
    return render_page_or_fragment(
        "leads/index.html",
        "results",
        **leads.context("leads"),
        filters=filters,
        statuses=STATUSES,
        priorities=PRIORITIES,
        sources=SOURCES,
        insurance_types=INSURANCE_TYPES,
    )


@bp.get("/search")
@roles_required(*READ)
def search():
    """The options of a lead combobox (``templates/_macros/lead_combobox.html``): the organization's
    leads matching ``q``; ``listbox`` is the id of the list they go into (each option's id starts with it)."""
    q = request.args.get("q", "")
    listbox = request.args.get("listbox", "")
    listbox = listbox if LISTBOX_ID.fullmatch(listbox) else "lead-options"
    leads = suggest_leads(g.organization_id, q)
    response = render_template("leads/_suggestions.html", leads=leads, q=q.strip(), listbox=listbox)
    return response, 200, {"Vary": "HX-Request"}


def _fill_choices(form: LeadForm) -> None:
    users = db.session.scalars(scoped(User, User.is_active.is_(True)).order_by(User.name)).all()
    form.campaign_id.choices = campaign_options(g.organization_id)
    form.assigned_to_id.choices = [("", "Unassigned")] + [(str(u.id), u.display_name) for u in users]


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*WORK)
def create():
    form = LeadForm()
    _fill_choices(form)
    if form.validate_on_submit():
        try:
            lead, duplicate_of = receive_lead(g.organization_id, validate_lead(form.lead_data(), g.organization_id), current_user.id)
            audit("update" if duplicate_of else "create", lead, {"via": "form", **({"duplicate_of": duplicate_of} if duplicate_of else {})})
            db.session.commit()
            flash("This lead was already there: it is updated with the new details." if duplicate_of else "Lead created.", "success")
            return redirect(url_for("leads.detail", lead_id=lead.id))
        except ValidationFailed as exc:
            db.session.rollback()
            form.show_errors(exc.errors)
        except DuplicatesRejected as exc:
            db.session.rollback()
            duplicate = exc.duplicates[0]
            form.show_errors([{"field": duplicate.matched_on[0], "message": f"{duplicate.describe(str)}: duplicates are refused"}])
    status = 422 if form.is_submitted() else 200
    return render_template("leads/form.html", form=form, lead=None), status


@bp.get("/<int:lead_id>")
@roles_required(*READ)
def detail(lead_id):
    lead = get_or_404(Lead, lead_id)
    events = db.session.scalars(
        select(LeadEvent).where(LeadEvent.lead_id == lead.id).order_by(LeadEvent.created_at.desc(), LeadEvent.id.desc()).limit(200)
    ).all()
    return render_template("leads/detail.html", lead=lead, events=events, panels=detail_panels(lead))


def detail_panels(lead: Lead) -> list:
    """The cards other features add to the lead page (``features.Wiring.lead_panels``).

    A panel returns HTML it rendered itself (render_template escapes what it interpolates)."""
    return [Markup(panel(lead)) for panel in wiring().lead_panels]


@bp.route("/<int:lead_id>/edit", methods=["GET", "POST"])
@roles_required(*WORK)
def edit(lead_id):
    lead = get_or_404(Lead, lead_id)
    form = LeadForm(obj=lead)
    _fill_choices(form)
    if request.method == "GET":
        form.tags.data = ", ".join(lead.tags)
        form.campaign_id.data = str(lead.campaign_id or "")
        form.assigned_to_id.data = str(lead.assigned_to_id or "")
        form.value_estimate.data = "" if lead.value_estimate is None else f"{lead.value_estimate:.2f}"
    if form.validate_on_submit():
        try:
            values = validate_lead(form.lead_data(), g.organization_id, partial=True)
            events = update_lead(lead, values, current_user.id)
            audit("update", lead, {e.event_type: e.data for e in events})
            db.session.commit()
            flash("Lead saved." if events else "Nothing changed.", "success")
            return redirect(url_for("leads.detail", lead_id=lead.id))
        except ValidationFailed as exc:
            db.session.rollback()
            form.show_errors(exc.errors)
    status = 422 if form.is_submitted() else 200
    return render_template("leads/form.html", form=form, lead=lead), status


@bp.post("/<int:lead_id>/delete")
@roles_required(*WORK)
def delete(lead_id):
    lead = get_or_404(Lead, lead_id)
    audit("delete", lead, {"email": lead.email})
    delete_lead(lead)
    db.session.commit()
    flash("Lead deleted.", "success")
    return redirect(url_for("leads.index"))


@bp.route("/import", methods=["GET", "POST"])
@roles_required(*CONFIGURE, "agent")
def import_csv():
    form = ImportForm()
    if form.validate_on_submit():
        content, problem = _uploaded_text(form.file.data)
        if problem:
            form.file.errors.append(problem)
        else:
            job = ImportJob(
                organization_id=g.organization_id,
                user_id=current_user.id,
                filename=form.file.data.filename or "upload.csv",
                content=content,
                status="mapping",
            )
            db.session.add(job)
            db.session.flush()
            audit("create", job, {"filename": job.filename})
            db.session.commit()
            return redirect(url_for("leads.import_mapping", import_id=job.id))
    recent = db.session.scalars(scoped(ImportJob).order_by(ImportJob.id.desc()).limit(10)).all()
    return render_template("leads/import.html", form=form, recent=recent), 422 if form.is_submitted() else 200


def _uploaded_text(upload) -> tuple[str, str | None]:
    """The uploaded CSV as text, or the reason it cannot be imported."""
    raw = upload.read(MAX_IMPORT_BYTES + 1)
    if len(raw) > MAX_IMPORT_BYTES:
        return "", "The file is larger than 20 MB."
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return "", "The file is not UTF-8 text."
    if "\x00" in content:
        return "", "The file contains NUL characters: is it a spreadsheet rather than CSV text?"
    if not content.strip():
        return "", "The file is empty."
    return content, None


@bp.route("/import/<int:import_id>/mapping", methods=["GET", "POST"])
@roles_required(*CONFIGURE, "agent")
def import_mapping(import_id):
    """Match the file's columns to lead fields, choose what happens to rows with problems, start."""
    job = get_or_404(ImportJob, import_id)
    if job.status != "mapping":
        return redirect(url_for("leads.import_status", import_id=job.id))
    form = ImportStartForm()
    try:
        header, rows = importer.read_csv(job.content, limit=importer.PREVIEW_ROWS)
    except importer.UnreadableFile as exc:
        return render_template("leads/import_mapping.html", job=job, form=form, problem=str(exc)), 422
    mapping, errors = importer.guess_mapping(header), []
    if form.is_submitted():
        mapping = [request.form.get(f"column-{position}") or None for position in range(len(header))]
        if form.validate():
            try:
                importer.start_import(job, mapping, form.mode.data)
                audit("update", job, {"status": "pending", "mode": form.mode.data, "mapping": dict(zip(header, mapping, strict=True))})
                db.session.commit()
                return redirect(url_for("leads.import_status", import_id=job.id))
            except ValidationFailed as exc:
                db.session.rollback()
                errors = exc.errors
        else:
            errors = [{"field": name, "message": "; ".join(messages)} for name, messages in form.errors.items()]
    columns = [
        {"position": p, "name": name, "field": mapping[p], "examples": [row[p] for row in rows if p < len(row) and row[p].strip()][:3]}
        for p, name in enumerate(header)
    ]
    status = 422 if form.is_submitted() else 200
    context = {"job": job, "form": form, "columns": columns, "header": header, "rows": rows, "fields": importer.FIELDS}
    return render_template("leads/import_mapping.html", **context, errors={e["field"]: e["message"] for e in errors}), status


@bp.get("/import/<int:import_id>")
@roles_required(*READ)
def import_status(import_id):
    job = get_or_404(ImportJob, import_id)
    if job.status == "mapping" and not request.headers.get("HX-Request"):
        return redirect(url_for("leads.import_mapping", import_id=job.id))
    return render_page_or_fragment("leads/import_status.html", "progress", job=job)


@bp.get("/import/<int:import_id>/rejected.csv")
@roles_required(*READ)
def import_rejected_rows(import_id):
    """The rows a finished import rejected: their original cells, row number and problems (only the
    header when there are none, or none yet)."""
    job = get_or_404(ImportJob, import_id)
    rejected = job.content if job.outcome and job.rejected_count and job.content else "row,error\r\n"
    name = job.filename.rsplit(".", 1)[0] or "import"
    return Response(
        rejected,
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}-rejected-rows.csv"},
    )
