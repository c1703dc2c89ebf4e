"""Email templates: CRUD, earlier versions (and restore), preview (SPEC §6, §9, §12)."""

from datetime import datetime
from typing import Annotated, Any

from flask import g, jsonify, request, url_for
from pydantic import BaseModel, ConfigDict, Strict

from ..audit import audit
from ..email_templates import services
from ..email_templates.services import TemplateChanges, TemplateIn
from ..extensions import db
from ..models import EmailTemplate, EmailTemplateVersion, Lead
from ..models.email import TEMPLATE_TYPES
from ..tenancy import get_or_404, get_scoped, scoped
from ..validation import RowId, StrictModel, ValidationFailed, parse
from . import bp
from .auth import CONFIGURE, READ, api_auth
from .common import PAGE_QUERY, Out, created, dump, json_body, no_content, page_envelope, paginate
from .docs import documented
from .errors import ApiError
from .examples import SEED_TEMPLATE

TAG = "email templates"
BASE = "/automations/email-templates"
LIST_QUERY = {**PAGE_QUERY, "template_type": {"type": "string", "enum": list(TEMPLATE_TYPES)}, "is_active": {"type": "boolean"}}


class EmailTemplateOut(Out):
    id: int
    organization_id: int
    name: str
    slug: str
    subject: str
    body_html: str
    body_text: str
    template_type: str
    is_active: bool
    track_opens: bool
    track_clicks: bool
    version: int
    created_at: datetime
    updated_at: datetime


class EmailTemplateVersionOut(Out):
    id: int
    organization_id: int
    template_id: int
    version: int
    subject: str
    body_html: str
    body_text: str
    saved_by_id: int | None
    restored_from: int | None
    created_at: datetime
    updated_at: datetime


_LEAD_AND_CONTEXT = {"required": ["lead_id", "context"], "properties": {"lead_id": {"type": "integer"}, "context": {"type": "object"}}}


class PreviewIn(StrictModel):
    """Render for one of the organization's leads, or for the given variables (not both); with neither, for sample data."""

    model_config = ConfigDict(json_schema_extra={"not": _LEAD_AND_CONTEXT})
    lead_id: Annotated[RowId, Strict()] | None = None
    context: dict[str, Any] | None = None


class PreviewOut(BaseModel):
    subject: str
    html: str
    text: str
    missing_variables: list[str]


@bp.get(BASE)
@api_auth(*READ)
@documented("List email templates", response=page_envelope(EmailTemplateOut), query=LIST_QUERY, tag=TAG)
def list_email_templates():
    criteria = []
    template_type = request.args.get("template_type")
    if template_type:
        if template_type not in TEMPLATE_TYPES:
            raise ApiError(
                422,
                f"template_type must be one of {', '.join(TEMPLATE_TYPES)}",
                errors=[{"field": "template_type", "message": "unknown template type"}],
            )
        criteria.append(EmailTemplate.template_type == template_type)
    is_active = request.args.get("is_active")
    if is_active is not None:
        if is_active.lower() not in ("true", "false", "1", "0"):
            raise ApiError(422, "is_active must be true or false", errors=[{"field": "is_active", "message": "must be true or false"}])
        criteria.append(EmailTemplate.is_active.is_(is_active.lower() in ("true", "1")))
    return jsonify(paginate(scoped(EmailTemplate, *criteria).order_by(EmailTemplate.id), EmailTemplateOut))


@bp.post(BASE)
@api_auth(*CONFIGURE)
@documented(
    "Create an email template", body=TemplateIn, example=SEED_TEMPLATE, response=EmailTemplateOut, status=201, errors=(409,), tag=TAG
)
def create_email_template():
    values = services.validate_template_fields(json_body(), partial=False)
    template = EmailTemplate(organization_id=g.organization_id)
    services.save_template(template, values, g.user.id)
    audit("create", template, {"name": template.name, "slug": template.slug})
    db.session.commit()
    return created(dump(EmailTemplateOut, template), url_for("api.get_email_template", template_id=template.id))


@bp.get(f"{BASE}/<int:template_id>")
@api_auth(*READ)
@documented("Get an email template", response=EmailTemplateOut, tag=TAG)
def get_email_template(template_id):
    return jsonify(dump(EmailTemplateOut, get_or_404(EmailTemplate, template_id)))


@bp.put(f"{BASE}/<int:template_id>")
@api_auth(*CONFIGURE)
@documented("Change the given fields of an email template", body=TemplateChanges, response=EmailTemplateOut, errors=(409,), tag=TAG)
def update_email_template(template_id):
    template = get_or_404(EmailTemplate, template_id)
    changes = services.save_template(template, services.validate_template_fields(json_body(), partial=True), g.user.id)
    if changes:
        audit("update", template, changes)
    db.session.commit()
    return jsonify(dump(EmailTemplateOut, template))


@bp.delete(f"{BASE}/<int:template_id>")
@api_auth(*CONFIGURE)
@documented("Delete an email template (409 while an automation uses it)", status=204, errors=(409,), tag=TAG)
def delete_email_template(template_id):
    template = get_or_404(EmailTemplate, template_id)
    services.delete_template(template)
    audit("delete", template, {"name": template.name})
    db.session.commit()
    return no_content()


@bp.get(f"{BASE}/<int:template_id>/versions")
@api_auth(*READ)
@documented("The template's earlier versions, newest first", response=page_envelope(EmailTemplateVersionOut), query=PAGE_QUERY, tag=TAG)
def list_email_template_versions(template_id):
    template = get_or_404(EmailTemplate, template_id)
    query = scoped(
        EmailTemplateVersion, EmailTemplateVersion.template_id == template.id, EmailTemplateVersion.version < template.version
    ).order_by(EmailTemplateVersion.version.desc())
    return jsonify(paginate(query, EmailTemplateVersionOut))


@bp.post(f"{BASE}/<int:template_id>/versions/<int:version>/restore")
@api_auth(*CONFIGURE)
@documented("Make an earlier version current again (saved as a new version)", response=EmailTemplateOut, tag=TAG)
def restore_email_template_version(template_id, version):
    template = get_or_404(EmailTemplate, template_id)
    saved = services.get_version(template, version) if version < template.version else None
    if saved is None:
        raise ApiError(404, "Not found")
    changes = services.restore_version(template, saved, g.user.id)
    if changes:
        audit("update", template, {**changes, "restored_from": version})
    db.session.commit()
    return jsonify(dump(EmailTemplateOut, template))


@bp.post(f"{BASE}/<int:template_id>/preview")
@api_auth(*READ)
@documented(
    "Render the template for a lead, given variables or sample data; nothing is saved or sent", body=PreviewIn, response=PreviewOut, tag=TAG
)
def preview_email_template(template_id):
    template = get_or_404(EmailTemplate, template_id)
    body = parse(PreviewIn, json_body())
    if body.lead_id is not None and body.context is not None:
        raise ValidationFailed([{"field": "context", "message": "give lead_id or context, not both"}])
    if body.context is not None:
        context = body.context
    else:
        lead = get_scoped(Lead, body.lead_id) if body.lead_id is not None else None
        if body.lead_id is not None and lead is None:
            raise ValidationFailed([{"field": "lead_id", "message": "no such lead"}])
        context = services.preview_context(g.organization_id, lead)
    result = services.preview(
        template.template_type, template.subject, template.body_html, template.body_text, context, (template.id, template.version)
    )
    return jsonify(result)
