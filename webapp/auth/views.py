"""Sign in, sign out, switch organization (superusers)."""

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from ..api.auth import credentials_match, find_user_by_email
from ..audit import audit
from ..extensions import db, limiter
from ..features import wiring
from ..models import Organization
from .forms import ChangePasswordForm, LoginForm
from .sessions import revoke_sign_ins, sign_in, sign_out

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None, user) -> str:
    if target and not urlsplit(target).netloc and target.startswith("/") and not target.startswith("//"):
        return target
    return landing_page(user)


def landing_page(user) -> str:
    """Where a user starts: their role's page (agents: "My tasks"), else the dashboard."""
    return url_for(wiring().landing_pages.get(user.role, "dashboard.index"))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("20/minute", methods=["POST"], deduct_when=lambda r: r.status_code != 302)
def login():
    if current_user.is_authenticated:
        return redirect(landing_page(current_user))
    form = LoginForm()
    if form.validate_on_submit():
        user = find_user_by_email(form.email.data)
        if credentials_match(user, form.password.data):
            sign_in(user)
            audit("login", user, {"via": "browser"}, user_id=user.id, organization_id=user.organization_id)
            db.session.commit()
            return redirect(_safe_next(request.args.get("next"), user))
        audit("login_failed", changes={"email": form.email.data, "via": "browser"}, organization_id=user.organization_id if user else None)
        db.session.commit()
        form.password.errors.append("Wrong email or password.")
        return render_template("auth/login.html", form=form), 401
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    sign_out()
    db.session.commit()
    session.pop("acting_organization_id", None)
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    """The signed-in user's account: changing the password signs out every other session and token."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        if not current_user.check_password(form.current_password.data):
            form.current_password.errors.append("This is not your current password.")
        else:
            current_user.set_password(form.new_password.data)
            revoke_sign_ins(current_user, keep_this_session=True)
            audit("update", current_user, {"password": "changed"}, user_id=current_user.id, organization_id=current_user.organization_id)
            db.session.commit()
            flash("Your password is changed; your other sessions and API tokens are signed out.", "success")
            return redirect(url_for("auth.account"))
    return render_template("auth/account.html", form=form), 422 if form.errors else 200


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
