"""Who may see which page: the acting organization and role checks for the browser."""

from functools import wraps

from flask import abort, g, session
from flask_login import current_user, login_required

from ..extensions import db, login_manager
from ..models import Organization
from ..models.base import MAX_ID
from ..validation import is_row_id
from .sessions import signed_in_user

READ = ("admin", "marketer", "agent", "viewer")
WORK = ("admin", "marketer", "agent")
CONFIGURE = ("admin", "marketer")
ADMIN = ("admin",)


@login_manager.user_loader
def load_user(user_id: str):
    return signed_in_user(int(user_id)) if user_id.isdigit() and is_row_id(int(user_id)) else None


def bind_acting_organization() -> None:
    """For a signed-in user: their organization, or the one a superuser switched to."""
    if current_user.is_authenticated:
        g.user = current_user._get_current_object()
        org_id = current_user.organization_id
        if current_user.is_superuser and session.get("acting_organization_id"):
            if db.session.get(Organization, session["acting_organization_id"]) is not None:
                org_id = session["acting_organization_id"]
        g.organization_id = org_id


def names_impossible_id(view_args: dict) -> bool:
    """Whether a path id is out of the range of ids: such an object does not exist (404)."""
    return any(isinstance(value, int) and not 0 <= value <= MAX_ID for value in view_args.values())


def roles_required(*roles: str):
    """Sign-in and one of ``roles`` (superusers pass); otherwise 403 for the signed-in."""

    def decorate(view):
        @wraps(view)
        @login_required
        def wrapper(*args, **kwargs):
            if not current_user.is_superuser and current_user.role not in roles:
                abort(403)
            if names_impossible_id(kwargs):
                abort(404)
            return view(*args, **kwargs)

        return wrapper

    return decorate


def can(*roles: str) -> bool:
    """For templates: may the current user do what these roles may?"""
    return current_user.is_authenticated and (current_user.is_superuser or current_user.role in roles)
