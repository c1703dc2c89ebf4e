"""Bearer tokens (JWT) and role checks for the API."""
from datetime import timedelta
from functools import wraps

import jwt
from flask import current_app, g, request
from sqlalchemy import func, select

from ..auth.access import names_impossible_id
from ..extensions import db
from ..models import Organization, User, utcnow
from .errors import ApiError

READ = ("admin", "marketer", "agent", "viewer")
WORK = ("admin", "marketer", "agent")  # leads and tasks
CONFIGURE = ("admin", "marketer")  # segments, automations, templates, campaigns, scheduled tasks
ADMIN = ("admin",)


def issue_token(user: User) -> tuple[str, int]:
    expires_in = current_app.config["JWT_EXPIRES_SECONDS"]
    now = utcnow()
    claims = {"sub": str(user.id), "iat": now, "exp": now + timedelta(seconds=expires_in)}
    return jwt.encode(claims, current_app.config["SECRET_KEY"], algorithm="HS256"), expires_in


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == (email or "").strip().lower()))


def _user_from_token() -> User:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "A bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    try:
        claims = jwt.decode(token.strip(), current_app.config["SECRET_KEY"], algorithms=["HS256"],
                            options={"require": ["exp", "sub"]})
        user_id = int(claims["sub"])
    except jwt.ExpiredSignatureError:
        raise ApiError(401, "The token has expired", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None
    except (jwt.InvalidTokenError, ValueError):
        raise ApiError(401, "The token is invalid", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None
    user = db.session.get(User, user_id)
    if user is None or not user.is_active:
        raise ApiError(401, "The token is invalid", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return user


def _acting_organization_id(user: User) -> int:
    requested = request.args.get("organization_id")
    if requested is None or not user.is_superuser:
        return user.organization_id
    if not requested.isdigit() or db.session.get(Organization, int(requested)) is None:
        raise ApiError(404, "Not found")
    return int(requested)


def api_auth(*roles: str):
    """Require a valid bearer token and one of ``roles``; sets ``g.user`` and the acting organization."""

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            user = _user_from_token()
            g.user = user
            g.organization_id = _acting_organization_id(user)
            if not user.is_superuser and user.role not in roles:
                raise ApiError(403, f"The {user.role} role may not do this")
            if names_impossible_id(kwargs):
                raise ApiError(404, "Not found")
            return view(*args, **kwargs)

        return wrapper

    return decorate
