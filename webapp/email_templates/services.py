"""Email templates: input checks, saving with versions, restore, diff and preview — for the API and
the pages alike. Services never commit; the caller owns the transaction."""

import difflib
from typing import Annotated, Literal

from pydantic import BeforeValidator, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Automation, AutomationAction, EmailTemplate, EmailTemplateVersion, Lead
from ..models.email import CONTENT_FIELDS
from ..text import SLUG_PATTERN, slugify
from ..validation import Conflict, StrictModel, ValidationFailed, at_most, parse, requires_one_of
from .delivery import lead_template_context, organization_sample_context, render_for_delivery
from .rendering import MAX_TEMPLATE_CHARS, TemplateRenderError, validate_template
from .unsubscribe import preview_unsubscribe_url


def _no_nul(value):
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _optional():
    """A field that may be left out but is never null: the placeholder default stays out of the document."""
    return Field(default=None, json_schema_extra=lambda schema: schema.pop("default", None))


# Field first, validator after: the other order leaves the pattern out of the API document.
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S"), BeforeValidator(_no_nul), at_most(200)]
Slug = Annotated[str, Field(min_length=1, max_length=200, pattern=SLUG_PATTERN), BeforeValidator(_no_nul), at_most(200)]
Subject = Annotated[str, Field(min_length=1, max_length=1000, pattern=r"\S"), BeforeValidator(_no_nul), at_most(1000)]
Body = Annotated[str, Field(max_length=MAX_TEMPLATE_CHARS), BeforeValidator(_no_nul), at_most(MAX_TEMPLATE_CHARS)]
TemplateType = Literal["marketing", "transactional", "notification"]


class TemplateChanges(StrictModel):
    """PUT: the given fields are replaced, the others kept. A change of the subject or a body is a new version."""

    name: Name = _optional()
    slug: Slug = _optional()
    subject: Subject = _optional()
    body_html: Body = _optional()
    body_text: Body = _optional()
    template_type: TemplateType = _optional()
    is_active: bool = _optional()
    track_opens: bool = _optional()
    track_clicks: bool = _optional()


class TemplateIn(TemplateChanges):
    """A new template (the seed's example). ``slug`` defaults to one derived from the name; when
    ``body_text`` is empty the text part is derived from the HTML."""

    model_config = ConfigDict(json_schema_extra=requires_one_of("body_html", "body_text", non_blank=True))

    name: Name
    subject: Subject
    body_html: Body = ""
    body_text: Body = ""
    template_type: TemplateType = "marketing"
    is_active: bool = True
    track_opens: bool = Field(default=True, description="Marketing emails to leads carry an open pixel (SPEC §16)")
    track_clicks: bool = Field(default=True, description="The links of marketing emails to leads go through a click URL")


def validate_template_fields(data: dict, *, partial: bool) -> dict:
    """The given fields, checked (all of a new template's, defaults included). Template syntax is
    checked by ``save_template`` on the merged result."""
    if partial:
        return parse(TemplateChanges, data).model_dump(exclude_unset=True)
    values = parse(TemplateIn, data).model_dump()
    if values.get("slug") is None:
        del values["slug"]
    return values


def save_template(template: EmailTemplate, values: dict, user_id: int | None = None, *, restored_from: int | None = None) -> dict:
    """Apply checked values; a change of the subject or a body is a new version (kept in
    ``email_template_versions``). Returns the changed fields as ``{field: [old, new]}``.

    Raises ValidationFailed (syntax errors, with their line) or Conflict (duplicate slug).
    """
    creating = template.id is None
    if creating and not values.get("slug"):
        values = {**values, "slug": slugify(values.get("name") or "", "template")}
    merged = {name: values.get(name, getattr(template, name)) or "" for name in CONTENT_FIELDS}
    errors = validate_template(merged["subject"], merged["body_html"], merged["body_text"])
    if not merged["subject"].strip():
        errors.insert(0, {"field": "subject", "message": "is required"})
    if not merged["body_html"].strip() and not merged["body_text"].strip():
        errors.append({"field": "body_html", "message": "an HTML or a text body is required"})
    if errors:
        raise ValidationFailed(errors)
    if "slug" in values and values["slug"] != template.slug and _slug_taken(template, values["slug"]):
        raise Conflict(f"an email template with the slug '{values['slug']}' already exists")

    changes = {}
    for name, value in values.items():
        old = getattr(template, name)
        if old != value:
            changes[name] = [old, value]
            setattr(template, name, value)
    content_changed = any(name in changes for name in CONTENT_FIELDS)
    if creating:
        template.version = 1
        template.is_active = True if template.is_active is None else template.is_active
        template.template_type = template.template_type or "marketing"
    elif content_changed:
        template.version += 1
        changes["version"] = [template.version - 1, template.version]
    if creating or content_changed:
        template.versions.append(
            EmailTemplateVersion(
                organization_id=template.organization_id,
                version=template.version,
                subject=template.subject,
                body_html=template.body_html or "",
                body_text=template.body_text or "",
                saved_by_id=user_id,
                restored_from=restored_from,
            )
        )
    db.session.add(template)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:  # the same slug saved at the same moment by another request
        raise Conflict(f"an email template with the slug '{template.slug}' already exists") from None
    return {name: [_short(old), _short(new)] for name, (old, new) in changes.items()}


def _short(value):
    return value[:200] + "…" if isinstance(value, str) and len(value) > 200 else value


def _slug_taken(template: EmailTemplate, slug: str) -> bool:
    query = select(EmailTemplate.id).where(EmailTemplate.organization_id == template.organization_id, EmailTemplate.slug == slug)
    if template.id is not None:
        query = query.where(EmailTemplate.id != template.id)
    return db.session.scalar(query) is not None


def earlier_versions(template: EmailTemplate) -> list[EmailTemplateVersion]:
    """The versions before the current one, newest first."""
    return db.session.scalars(
        select(EmailTemplateVersion)
        .where(EmailTemplateVersion.template_id == template.id, EmailTemplateVersion.version < template.version)
        .order_by(EmailTemplateVersion.version.desc())
    ).all()


def get_version(template: EmailTemplate, version: int) -> EmailTemplateVersion | None:
    return db.session.scalar(
        select(EmailTemplateVersion).where(EmailTemplateVersion.template_id == template.id, EmailTemplateVersion.version == version)
    )


def restore_version(template: EmailTemplate, version: EmailTemplateVersion, user_id: int | None = None) -> dict:
    """Make an earlier version's content current again, as a new version (history is never rewritten)."""
    values = {name: getattr(version, name) for name in CONTENT_FIELDS}
    if all(getattr(template, name) == value for name, value in values.items()):
        return {}
    return save_template(template, values, user_id, restored_from=version.version)


def automations_using(template: EmailTemplate) -> list[str]:
    """Names of the organization's automations with a send_email step that uses this template."""
    rows = db.session.execute(
        select(Automation.name, AutomationAction.configuration)
        .join(AutomationAction, AutomationAction.automation_id == Automation.id)
        .where(Automation.organization_id == template.organization_id, AutomationAction.action_type == "send_email")
    ).all()
    return sorted({name for name, config in rows if str((config or {}).get("template_id")) == str(template.id)})


def delete_template(template: EmailTemplate) -> None:
    """Delete a template no automation uses (its sent messages stay in the outbox)."""
    users = automations_using(template)
    if users:
        names = ", ".join(f"“{name}”" for name in users[:3]) + (" and others" if len(users) > 3 else "")
        raise Conflict(
            f"the template is used by the automation{'s' if len(users) > 1 else ''} {names}; deactivate it or change those steps first"
        )
    db.session.delete(template)


# --- diff and preview ----------------------------------------------------------------------------------


def version_diff(older: EmailTemplateVersion, newer) -> list[dict]:
    """Per changed part: ``{"field", "lines": [(kind, text)]}`` with kind "+", "-", " " or "@"."""
    parts = []
    for name in CONTENT_FIELDS:
        before, after = (getattr(older, name) or "").splitlines(), (getattr(newer, name) or "").splitlines()
        if before == after:
            continue
        lines = []
        for line in list(difflib.unified_diff(before, after, lineterm="", n=2))[2:]:
            lines.append((line[:1] if line[:1] in "+- " else "@", line[1:] if line[:1] in "+- " else line))
        parts.append({"field": name, "lines": lines})
    return parts


def preview_context(organization_id: int, lead: Lead | None) -> dict:
    """The variables a preview renders with: the lead's, or sample data; the unsubscribe link of a
    preview unsubscribes nobody."""
    context = lead_template_context(lead) if lead is not None else organization_sample_context(organization_id)
    context["unsubscribe_url"] = preview_unsubscribe_url()
    return context


def preview(template_type: str, subject: str, body_html: str, body_text: str, context: dict, cache_key=None) -> dict:
    """``{"subject", "html", "text", "missing_variables"}`` as the email would be sent; a template that
    does not compile or render raises ValidationFailed naming the part and line (the renderer checks
    the syntax as it compiles, and caches what it compiled)."""
    unsubscribe_link = context.get("unsubscribe_url") if isinstance(context.get("unsubscribe_url"), str) else None
    try:
        rendered = render_for_delivery(
            template_type, subject or "", body_html or "", body_text or "", context, cache_key, unsubscribe_link=unsubscribe_link
        )
    except TemplateRenderError as exc:
        raise ValidationFailed([exc.as_error() if exc.field else {"field": "body_html", "message": str(exc)}]) from None
    except TypeError as exc:  # a context value that is not plain data (from an API caller's context)
        raise ValidationFailed([{"field": "context", "message": str(exc)}]) from None
    return {"subject": rendered.subject, "html": rendered.html, "text": rendered.text, "missing_variables": rendered.missing_variables}
