"""Users and the audit log, for admins."""

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, ValidationError

from ..audit import audit
from ..auth.access import ADMIN, roles_required
from ..auth.forms import MIN_PASSWORD_LENGTH
from ..auth.sessions import revoke_sign_ins
from ..extensions import db, htmx
from ..htmx import render_page_or_fragment
from ..models import AuditLog, User
from ..models.org import ROLES
from ..pagination import paginate, requested_page
from ..tenancy import get_or_404, scoped
from ..validation import user_email_problem
from .services import audit_objects, describe_changes

bp = Blueprint("admin", __name__, url_prefix="/admin")
PER_PAGE = 50


class UserForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=320)])

    def validate_email(self, field):
        if problem := user_email_problem(field.data.strip()):
            raise ValidationError(problem)

    name = StringField("Name", validators=[Length(max=200)])
    role = SelectField("Role", choices=[(r, r.capitalize()) for r in ROLES], default="agent")
    password = PasswordField("Password", validators=[DataRequired(), Length(min=8)])


@bp.route("/users", methods=["GET", "POST"])
@roles_required(*ADMIN)
def users():
    form = UserForm()
    if form.validate_on_submit():
        email = form.email.data.strip()
        if db.session.scalar(select(User.id).where(func.lower(User.email) == email.lower())):
            form.email.errors.append("A user with this email exists.")
        else:
            user = User(organization_id=g.organization_id, email=email, name=form.name.data.strip(), role=form.role.data)
            user.set_password(form.password.data)
            db.session.add(user)
            db.session.flush()
            audit("create", user, {"email": email, "role": user.role})
            db.session.commit()
            flash(f"{email} can now sign in.", "success")
            return redirect(url_for("admin.users"))
    people = db.session.scalars(scoped(User).order_by(User.name, User.email)).all()
    return render_template("admin/users.html", users=people, form=form), 422 if form.is_submitted() else 200


@bp.post("/users/<int:user_id>/toggle")
@roles_required(*ADMIN)
def toggle_user(user_id):
    """Deactivate or activate a user; an HTMX request gets the user's row back, swapped in place."""
    user = get_or_404(User, user_id)
    problem = None
    if user.id == g.user.id:
        problem = "You cannot deactivate yourself."
    else:
        user.is_active = not user.is_active
        if not user.is_active:
            revoke_sign_ins(user)  # every browser session and API token of the user ends now
        audit("update", user, {"is_active": [not user.is_active, user.is_active]})
        db.session.commit()
    if htmx:
        return render_page_or_fragment("admin/users.html", "user_row", user=user, problem=problem, toggled=problem is None)
    if problem:
        flash(problem, "error")
    return redirect(url_for("admin.users"))


@bp.post("/users/<int:user_id>/password")
@roles_required(*ADMIN)
def reset_password(user_id):
    """An admin sets a new password for a user: all of that user's sessions and tokens end."""
    user = get_or_404(User, user_id)
    password = request.form.get("password", "")
    if not MIN_PASSWORD_LENGTH <= len(password) <= 200:
        flash(f"A password has {MIN_PASSWORD_LENGTH} to 200 characters; {user.email}'s is unchanged.", "error")
        return redirect(url_for("admin.users"))
    user.set_password(password)
    revoke_sign_ins(user, keep_this_session=user.id == g.user.id)
    audit("update", user, {"password": "reset by an admin"})
    db.session.commit()
    flash(f"{user.email} has a new password; their sessions and API tokens are signed out.", "success")
    return redirect(url_for("admin.users"))


@bp.get("/audit")
@roles_required(*ADMIN)
def audit_log():
    action = request.args.get("action", "")
    query = scoped(AuditLog)
    if action:
        query = query.where(AuditLog.action == action)
    entries = paginate(query.order_by(AuditLog.id.desc()), requested_page(), PER_PAGE)
    objects = audit_objects(g.organization_id, entries.items)
    return render_page_or_fragment(
        "admin/audit.html", "entries", **entries.context("entries"), action=action, objects=objects, describe_changes=describe_changes
    )
