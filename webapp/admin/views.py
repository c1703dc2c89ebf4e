"""Users and the audit log, for admins."""
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length

from ..audit import audit
from ..auth.access import ADMIN, roles_required
from ..extensions import db
from ..htmx import render_page_or_fragment
from ..models import AuditLog, User
from ..models.org import ROLES
from ..tenancy import get_or_404, scoped

bp = Blueprint("admin", __name__, url_prefix="/admin")
PER_PAGE = 50


class UserForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email()])
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
            user = User(organization_id=g.organization_id, email=email, name=form.name.data.strip(),
                        role=form.role.data)
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
    user = get_or_404(User, user_id)
    if user.id == g.user.id:
        flash("You cannot deactivate yourself.", "error")
    else:
        user.is_active = not user.is_active
        audit("update", user, {"is_active": user.is_active})
        db.session.commit()
    return redirect(url_for("admin.users"))


@bp.get("/audit")
@roles_required(*ADMIN)
def audit_log():
    page = max(request.args.get("page", 1, type=int), 1)
    action = request.args.get("action", "")
    query = scoped(AuditLog)
    if action:
        query = query.where(AuditLog.action == action)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    entries = db.session.scalars(query.order_by(AuditLog.id.desc()).limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    pages = max((total + PER_PAGE - 1) // PER_PAGE, 1)
    return render_page_or_fragment("admin/audit.html", "entries", entries=entries, page=page, pages=pages,
                                   action=action, total=total)
