"""Lead pages: list with filters, detail with timeline, create/edit, CSV import."""

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select

from ..audit import audit
from ..auth.access import CONFIGURE, READ, WORK, roles_required
from ..campaigns.services import campaign_options
from ..extensions import db
from ..features import wiring
from ..htmx import render_page_or_fragment
from ..jobs import enqueue
from ..models import ImportJob, Lead, LeadEvent, Task, User
from ..models.leads import INSURANCE_TYPES, PRIORITIES, SOURCES, STATUSES
from ..pagination import paginate, requested_page
from ..tenancy import get_or_404, scoped
from ..validation import ValidationFailed
from .forms import ImportForm, LeadForm
from .importer import run_import
from .services import create_lead, delete_lead, lead_list_query, update_lead, validate_lead

bp = Blueprint("leads", __name__, url_prefix="/leads")
PER_PAGE = 25
FILTER_NAMES = ("q", "status", "priority", "source", "insurance_type", "state", "tag")
MAX_IMPORT_BYTES = 20 * 1024 * 1024


def current_filters() -> dict:
    return {name: request.args.get(name, "").strip() for name in FILTER_NAMES if request.args.get(name, "").strip()}


@bp.get("/")
@roles_required(*READ)
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
            lead = create_lead(g.organization_id, validate_lead(form.lead_data(), g.organization_id), current_user.id)
            audit("create", lead, {"via": "form"})
            db.session.commit()
            flash("Lead created.", "success")
            return redirect(url_for("leads.detail", lead_id=lead.id))
        except ValidationFailed as exc:
            db.session.rollback()
            form.show_errors(exc.errors)
    status = 422 if form.is_submitted() else 200
    return render_template("leads/form.html", form=form, lead=None), status


@bp.get("/<int:lead_id>")
@roles_required(*READ)
def detail(lead_id):
    lead = get_or_404(Lead, lead_id)
    events = db.session.scalars(
        select(LeadEvent).where(LeadEvent.lead_id == lead.id).order_by(LeadEvent.created_at.desc(), LeadEvent.id.desc()).limit(200)
    ).all()
    tasks = db.session.scalars(scoped(Task, Task.lead_id == lead.id).order_by(Task.due_date)).all()
    return render_template("leads/detail.html", lead=lead, events=events, tasks=tasks, panels=detail_panels(lead))


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
            )
            db.session.add(job)
            db.session.flush()
            audit("create", job, {"filename": job.filename})
            enqueue(run_import, job.id, queue="high")
            db.session.commit()
            return redirect(url_for("leads.import_status", import_id=job.id))
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
    return content, None


@bp.get("/import/<int:import_id>")
@roles_required(*READ)
def import_status(import_id):
    job = get_or_404(ImportJob, import_id)
    return render_page_or_fragment("leads/import_status.html", "progress", job=job)
