"""Template pages: the list, the editor with a live preview in a sandboxed iframe, versions with diff
and restore, "send me a test", activate/deactivate.

The preview iframe is served by ``frame`` (GET: the saved template or a version; POST: the editor's
unsaved content) with a Content-Security-Policy of its own, and shown in ``<iframe sandbox>``
without scripts or same-origin: the email's HTML can run nothing and reach nothing.
"""

import uuid

from flask import Blueprint, abort, flash, g, make_response, redirect, render_template, request, url_for
from flask_login import current_user
from jinja2_fragments.flask import render_block
from markupsafe import Markup
from sqlalchemy import func, select

from ..audit import audit
from ..auth.access import CONFIGURE, MAX_ID, READ, can, roles_required
from ..engagement.panels import template_results
from ..extensions import db, htmx
from ..htmx import render_page_or_fragment
from ..models import EmailTemplate, Lead, OutboxMessage
from ..models.email import CONTENT_FIELDS, SENT_STATUSES, TEMPLATE_TYPES
from ..tenancy import get_or_404, get_scoped, scoped
from ..validation import Conflict, ValidationFailed
from .delivery import queue_test_email
from .forms import STARTER_HTML, TYPE_LABELS, TemplateForm
from .rendering import LEAD_FIELDS, RenderedEmail
from .services import (
    delete_template,
    earlier_versions,
    get_version,
    preview,
    preview_context,
    restore_version,
    save_template,
    validate_template_fields,
    version_diff,
)

bp = Blueprint("email_templates", __name__, url_prefix="/email-templates")
LIST, NEW, EDITOR, FRAME = (
    "email_templates/index.html",
    "email_templates/new.html",
    "email_templates/editor.html",
    "email_templates/frame.html",
)
# The preview document: inline styles and images only; no scripts, fonts, frames, forms or base URL.
FRAME_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data: https:; base-uri 'none'; form-action 'none'"
VARIABLES = (*LEAD_FIELDS, "full_name", "company_name", "agent_name", "agent_email", "unsubscribe_url", "today")


def frame_response(html: str):
    """An email document for an ``<iframe sandbox>``: its own restrictive CSP, framable by the app only
    (X-Frame-Options SAMEORIGIN stays), never cached, no referrer for the links in it."""
    response = make_response(html)
    response.headers["Content-Security-Policy"] = FRAME_CSP
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


# --- the list ---------------------------------------------------------------------------------------


@bp.get("/")
@roles_required(*READ)
def index():
    template_type = request.args.get("template_type", "")
    criteria = [EmailTemplate.template_type == template_type] if template_type in TEMPLATE_TYPES else []
    templates = db.session.scalars(scoped(EmailTemplate, *criteria).order_by(EmailTemplate.name)).all()
    sent = dict(
        db.session.execute(
            select(OutboxMessage.template_id, func.count())
            .where(OutboxMessage.organization_id == g.organization_id, OutboxMessage.is_test.is_(False))
            .where(OutboxMessage.status.in_(SENT_STATUSES))
            .group_by(OutboxMessage.template_id)
        ).all()
    )
    return render_page_or_fragment(
        LIST, "results", templates=templates, sent=sent, type_labels=TYPE_LABELS, template_type=template_type if criteria else ""
    )


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*CONFIGURE)
def create():
    form = TemplateForm()
    if not form.is_submitted():
        form.subject.data = "Welcome to {{ company_name }}, {{ first_name | default('there') }}"
        form.body_html.data = STARTER_HTML
    if form.validate_on_submit():
        try:
            values = validate_template_fields(form.values(), partial=False)
            template = EmailTemplate(organization_id=g.organization_id)
            save_template(template, values, current_user.id)
            audit("create", template, {"name": template.name, "slug": template.slug})
            db.session.commit()
            flash("Template created. Edit it on the left; the preview follows every keystroke.", "success")
            return redirect(url_for("email_templates.editor", template_id=template.id))
        except ValidationFailed as exc:
            db.session.rollback()
            form.show_errors(exc.errors)
        except Conflict as exc:
            db.session.rollback()
            form.slug.errors = [str(exc)]
    return render_template(NEW, form=form, type_labels=TYPE_LABELS), 422 if form.is_submitted() else 200


# --- the editor -------------------------------------------------------------------------------------


def _chosen_lead() -> Lead | None:
    return get_scoped(Lead, request.values.get("lead_id")) if (request.values.get("lead_id") or "").isdigit() else None


def _render_preview(content: dict, lead: Lead | None) -> tuple[dict | None, list[dict]]:
    """The preview of editor content for the lead (or sample data): (result, []) or (None, errors)."""
    try:
        return preview(
            content["template_type"],
            content["subject"],
            content["body_html"],
            content["body_text"],
            preview_context(g.organization_id, lead),
        ), []
    except ValidationFailed as exc:
        return None, exc.errors


def _saved_content(template: EmailTemplate) -> dict:
    return {"template_type": template.template_type, **{name: getattr(template, name) for name in CONTENT_FIELDS}}


def _editor_context(template: EmailTemplate, form: TemplateForm | None = None, **extra) -> dict:
    form = form or TemplateForm(obj=template, formdata=None)
    lead = _chosen_lead()
    result, errors = _render_preview(form.content(), lead)
    return {
        "email_template": template,
        "form": form,
        "lead": lead,
        "versions": earlier_versions(template),
        "preview": result,
        "preview_errors": errors,
        "variables": VARIABLES,
        "type_labels": TYPE_LABELS,
        "can_edit": can(*CONFIGURE),
        "oob_head": False,
        **extra,
    }


def _section(template: EmailTemplate, block: str, status: int = 200, **extra):
    response = render_page_or_fragment(EDITOR, block, **_editor_context(template, **extra))
    response.status_code = status
    return response


@bp.get("/<int:template_id>")
@roles_required(*READ)
def editor(template_id):
    template = get_or_404(EmailTemplate, template_id)
    return render_template(EDITOR, **_editor_context(template), results=Markup(template_results(template)))  # HTML the card rendered


@bp.post("/<int:template_id>")
@roles_required(*CONFIGURE)
def save(template_id):
    template = get_or_404(EmailTemplate, template_id)
    form = TemplateForm()
    try:
        changes = save_template(template, validate_template_fields(form.values(), partial=True), current_user.id)
        if changes:
            audit("update", template, changes)
        db.session.commit()
    except (ValidationFailed, Conflict) as exc:
        db.session.rollback()
        if isinstance(exc, Conflict):
            form.slug.errors = [str(exc)]
        else:
            form.show_errors(exc.errors)
        if not htmx:
            return render_template(EDITOR, **_editor_context(template, form=form)), 422
        return _section(template, "editor", 422, form=form, error="Not saved: see the messages below.")
    notice = f"Saved as version {template.version}." if "version" in changes else "Saved." if changes else "Nothing changed."
    if not htmx:
        flash(notice, "success")
        return redirect(url_for("email_templates.editor", template_id=template.id))
    return _section(template, "editor", notice=notice, oob_head=True)


@bp.post("/<int:template_id>/preview")
@roles_required(*READ)
def preview_meta(template_id):
    """The preview's subject, warnings, errors and text part for the editor's unsaved content (HTMX)."""
    get_or_404(EmailTemplate, template_id)
    result, errors = _render_preview(TemplateForm().content(), _chosen_lead())
    response = make_response(render_block(EDITOR, "preview_meta", preview=result, preview_errors=errors))
    response.headers["Vary"] = "HX-Request"
    return response


@bp.route("/<int:template_id>/frame", methods=["GET", "POST"])
@roles_required(*READ)
def frame(template_id):
    """The email's HTML as the iframe shows it: GET the saved template (or ``?version=``), POST the
    editor's unsaved content; for ``?lead_id=`` or sample data."""
    template = get_or_404(EmailTemplate, template_id)
    if request.method == "POST":
        content = TemplateForm().content()
    elif (request.args.get("version") or "").isdigit():
        version = get_or_404_version(template, int(request.args["version"]))
        content = {"template_type": template.template_type, **{name: getattr(version, name) for name in CONTENT_FIELDS}}
    else:
        content = _saved_content(template)
    result, errors = _render_preview(content, _chosen_lead())
    if result is not None and result["html"]:
        return frame_response(result["html"])
    return frame_response(render_template(FRAME, result=result, errors=errors))


def get_or_404_version(template: EmailTemplate, number: int):
    version = get_version(template, number) if 0 < number <= MAX_ID else None
    if version is None:
        abort(404)
    return version


@bp.post("/<int:template_id>/test")
@roles_required(*CONFIGURE)
def send_test(template_id):
    """Send the editor's content, rendered as previewed, to the signed-in user."""
    template = get_or_404(EmailTemplate, template_id)
    form = TemplateForm()
    content = form.content()
    lead = _chosen_lead()
    result, errors = _render_preview(content, lead)
    if result is None:
        test = {"error": "; ".join(f"{e['field']}: {e['message']}" for e in errors)}
    else:
        rendered = RenderedEmail(result["subject"], result["html"], result["text"], result["missing_variables"])
        test = queue_test_email(
            organization_id=g.organization_id,
            user=current_user,
            template=template,
            rendered=rendered,
            lead_id=lead.id if lead else None,
            content_is_saved=content == _saved_content(template),
            key=f"test:{uuid.uuid4().hex}",
        )
        db.session.commit()
    if not htmx:
        flash(_test_notice(test), "error" if "error" in test else "success")
        return redirect(url_for("email_templates.editor", template_id=template.id))
    response = make_response(render_block(EDITOR, "test_result", test=test, notice=_test_notice(test)))
    response.status_code = 422 if "error" in test else 200
    return response


def _test_notice(test: dict) -> str:
    if "error" in test:
        return f"Not sent: {test['error']}"
    if test["status"] == "held":
        return f"Test email to {test['to']} is in the outbox, held: no mail server is configured."
    return f"Test email on its way to {test['to']}."


@bp.post("/<int:template_id>/active")
@roles_required(*CONFIGURE)
def set_active(template_id):
    template = get_or_404(EmailTemplate, template_id)
    active = request.form.get("is_active") in ("1", "true", "on")
    if template.is_active != active:
        audit("update", template, {"is_active": [template.is_active, active]})
        template.is_active = active
        db.session.commit()
    if not htmx:
        flash("Template activated." if active else "Template deactivated: automations skip it.", "success")
        return redirect(url_for("email_templates.editor", template_id=template.id))
    return _section(template, "template_head")


@bp.post("/<int:template_id>/delete")
@roles_required(*CONFIGURE)
def delete(template_id):
    template = get_or_404(EmailTemplate, template_id)
    try:
        delete_template(template)
    except Conflict as exc:
        db.session.rollback()
        flash(f"Not deleted: {exc}.", "error")
        return redirect(url_for("email_templates.editor", template_id=template_id))
    audit("delete", template, {"name": template.name})
    db.session.commit()
    flash(f"Template “{template.name}” deleted.", "success")
    return redirect(url_for("email_templates.index"))


# --- versions ---------------------------------------------------------------------------------------


@bp.get("/<int:template_id>/versions/<int:version>")
@roles_required(*READ)
def version_diff_view(template_id, version):
    """What changed from this version to the current one (HTMX: the diff block alone)."""
    template = get_or_404(EmailTemplate, template_id)
    older = get_or_404_version(template, version)
    return render_page_or_fragment(
        EDITOR, "diff", **_editor_context(template, diff={"version": older, "parts": version_diff(older, template)})
    )


@bp.post("/<int:template_id>/versions/<int:version>/restore")
@roles_required(*CONFIGURE)
def restore(template_id, version):
    template = get_or_404(EmailTemplate, template_id)
    older = get_or_404_version(template, version)
    changes = restore_version(template, older, current_user.id)
    if changes:
        audit("update", template, {**changes, "restored_from": version})
    db.session.commit()
    notice = (
        f"Version {version} restored as version {template.version}."
        if changes
        else f"Version {version} is the same as the current content."
    )
    if not htmx:
        flash(notice, "success")
        return redirect(url_for("email_templates.editor", template_id=template.id))
    return _section(template, "editor", notice=notice, oob_head=True)
