"""Campaign pages: list, detail, create/edit."""

from flask import Blueprint, flash, g, redirect, render_template, url_for
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import DateTimeLocalField, DecimalField, SelectField, StringField, TextAreaField
from wtforms.validators import Optional

from ..audit import audit
from ..auth.access import CONFIGURE, READ, roles_required
from ..extensions import db
from ..features import wiring
from ..models import Campaign
from ..models.leads import CAMPAIGN_STATUSES
from ..tenancy import get_or_404
from ..validation import ValidationFailed
from .services import campaigns_with_lead_counts, delete_campaign, lead_count, save_campaign, validate_campaign

bp = Blueprint("campaigns", __name__, url_prefix="/campaigns")


class CampaignForm(FlaskForm):
    name = StringField("Name")
    description = TextAreaField("Description")
    status = SelectField("Status", choices=[(s, s.capitalize()) for s in CAMPAIGN_STATUSES])
    channel = StringField("Channel")
    starts_at = DateTimeLocalField("Starts", format="%Y-%m-%dT%H:%M", validators=[Optional()])
    ends_at = DateTimeLocalField("Ends", format="%Y-%m-%dT%H:%M", validators=[Optional()])
    budget = DecimalField("Budget ($)", validators=[Optional()])

    def values(self) -> dict:
        return {name: field.data for name, field in self._fields.items() if name != "csrf_token"}


@bp.get("/")
@roles_required(*READ)
def index():
    return render_template("campaigns/index.html", rows=campaigns_with_lead_counts(g.organization_id))


@bp.get("/<int:campaign_id>")
@roles_required(*READ)
def detail(campaign_id):
    campaign = get_or_404(Campaign, campaign_id)
    return render_template(
        "campaigns/detail.html",
        campaign=campaign,
        lead_count=lead_count(campaign),
        panels=[Markup(panel(campaign)) for panel in wiring().campaign_panels],
    )  # HTML the panel rendered


@bp.route("/new", methods=["GET", "POST"], defaults={"campaign_id": None})
@bp.route("/<int:campaign_id>/edit", methods=["GET", "POST"])
@roles_required(*CONFIGURE)
def edit(campaign_id):
    campaign = get_or_404(Campaign, campaign_id) if campaign_id else Campaign(organization_id=g.organization_id)
    form = CampaignForm(obj=campaign if campaign_id else None)
    if form.validate_on_submit():
        try:
            changes = save_campaign(campaign, validate_campaign(form.values(), partial=False))
            db.session.flush()
            audit("update" if campaign_id else "create", campaign, changes)
            db.session.commit()
            flash("Campaign saved.", "success")
            return redirect(url_for("campaigns.detail", campaign_id=campaign.id))
        except ValidationFailed as exc:
            db.session.rollback()
            for error in exc.errors:
                field = form._fields.get(error["field"]) or form.name
                field.errors = list(field.errors) + [error["message"]]
    return render_template(
        "campaigns/form.html", form=form, campaign=campaign if campaign_id else None
    ), 422 if form.is_submitted() else 200


@bp.post("/<int:campaign_id>/delete")
@roles_required(*CONFIGURE)
def delete(campaign_id):
    campaign = get_or_404(Campaign, campaign_id)
    audit("delete", campaign, {"name": campaign.name})
    delete_campaign(campaign)
    db.session.commit()
    flash("Campaign deleted.", "success")
    return redirect(url_for("campaigns.index"))
