"""The admin page of the contact policy (SPEC §17): quiet hours, frequency caps, required consent, what a
blocked step does, the default time zone and duplicate handling. The API's rules, checked in one place
(``policy.update_contact_policy``)."""

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from ..audit import audit
from ..auth.access import CONFIGURE, READ, roles_required
from ..extensions import db
from ..models import Organization
from ..validation import ValidationFailed, timezone_names
from .policy import CHANNELS, MAX_CAPS, contact_policy, update_contact_policy

bp = Blueprint("contact_policy", __name__, url_prefix="/admin/contact-policy")
BLANK_CAP_ROWS = 2  # empty rows under the caps, to add new ones


@bp.get("/")
@roles_required(*READ)
def settings(policy: dict | None = None, errors: dict | None = None, status: int = 200):
    organization = db.session.get(Organization, g.organization_id)
    policy = policy or contact_policy(organization).model_dump(mode="json")
    caps = list(policy.get("frequency_caps") or [])
    caps += [{"channel": "email", "max": "", "per_days": ""}] * min(BLANK_CAP_ROWS, max(0, MAX_CAPS - len(caps)))
    page = render_template(
        "contactability/contact_policy.html",
        policy=policy,
        caps=caps,
        channels=CHANNELS,
        errors=errors or {},
        timezones=sorted(timezone_names()),
    )
    return page, status


@bp.post("/")
@roles_required(*CONFIGURE)
def save():
    submitted = policy_from_form(request.form)
    organization = db.session.get(Organization, g.organization_id)
    try:
        _, changes = update_contact_policy(organization, submitted)
    except ValidationFailed as exc:
        db.session.rollback()
        return settings(submitted, {error["field"]: error["message"] for error in exc.errors}, 422)
    if changes:
        audit("update", changes={"contact_policy": changes})
    db.session.commit()
    flash("The contact policy is saved.", "success")
    return redirect(url_for("contact_policy.settings"))


def policy_from_form(form) -> dict:
    """The submitted form as the API's body (numbers left as text when they are not numbers, so that
    the policy's rules name them)."""

    def number(value: str):
        value = (value or "").strip()
        return int(value) if value.isdigit() else value

    caps = []
    for channel, most, days in zip(form.getlist("cap_channel"), form.getlist("cap_max"), form.getlist("cap_per_days"), strict=False):
        if most.strip() or days.strip():
            caps.append({"channel": channel, "max": number(most), "per_days": number(days)})
    policy = {
        "quiet_hours": {"start": form.get("quiet_start", ""), "end": form.get("quiet_end", "")} if form.get("quiet_enabled") else None,
        "frequency_caps": caps,
        "require_consent": {channel: bool(form.get(f"consent_{channel}")) for channel in CHANNELS},
        "when_blocked": form.get("when_blocked", ""),
        "default_timezone": form.get("default_timezone", "").strip(),
        "dedupe": None,
    }
    if form.get("dedupe_enabled"):
        policy["dedupe"] = {
            "match_on": [name for name in ("email", "phone") if form.get(f"dedupe_{name}")],
            "window_days": number(form.get("dedupe_window_days", "")),
            "action": form.get("dedupe_action", ""),
        }
    return policy
