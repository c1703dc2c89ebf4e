"""Users of the organization, and the caller."""

from datetime import datetime

from flask import g, jsonify

from ..models import User
from ..tenancy import scoped
from . import bp
from .auth import CONFIGURE, READ, api_auth
from .common import PAGE_QUERY, Out, dump, page_envelope, paginate
from .docs import documented


class UserOut(Out):
    id: int
    organization_id: int
    email: str
    name: str
    role: str
    is_active: bool
    is_superuser: bool
    created_at: datetime
    updated_at: datetime


@bp.get("/users")
@api_auth(*CONFIGURE)
@documented("List the organization's users", response=page_envelope(UserOut), query=PAGE_QUERY, tag="users")
def list_users():
    return jsonify(paginate(scoped(User).order_by(User.id), UserOut))


@bp.get("/users/me")
@api_auth(*READ)
@documented("The caller", response=UserOut, tag="users")
def current_user_view():
    return jsonify(dump(UserOut, g.user))
