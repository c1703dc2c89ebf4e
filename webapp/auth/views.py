"""Sign in, sign out, switch organization (superusers)."""
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from ..api.auth import find_user_by_email
from ..audit import audit
from ..extensions import db, limiter
from ..models import Organization
from .forms import LoginForm

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    if target and not urlsplit(target).netloc and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("dashboard.index")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("20/minute", methods=["POST"], deduct_when=lambda r: r.status_code != 302)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = find_user_by_email(form.email.data)
        if user and user.is_active and user.check_password(form.password.data):
            login_user(user)
            audit("login", user, {"via": "browser"}, user_id=user.id, organization_id=user.organization_id)
            db.session.commit()
            return redirect(_safe_next(request.args.get("next")))
        audit("login_failed", changes={"email": form.email.data, "via": "browser"},
              organization_id=user.organization_id if user else None)
        db.session.commit()
        form.password.errors.append("Wrong email or password.")
        return render_template("auth/login.html", form=form), 401
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    session.pop("acting_organization_id", None)
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.post("/switch-organization")
@login_required
def switch_organization():
    if not current_user.is_superuser:
        return redirect(url_for("dashboard.index"))
    org_id = request.form.get("organization_id", type=int)
    org = db.session.get(Organization, org_id) if org_id else None
    if org is None:
        flash("No such organization.", "error")
    else:
        session["acting_organization_id"] = org.id
        flash(f"You are now acting in {org.name}.", "success")
    return redirect(url_for("dashboard.index"))


def all_organizations():
    return db.session.scalars(select(Organization).order_by(Organization.name)).all()
