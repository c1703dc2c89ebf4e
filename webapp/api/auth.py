"""Bearer tokens (JWT) and role checks for the API."""

import functools
import secrets
from datetime import timedelta
from functools import wraps

import jwt
from flask import current_app, g, request
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from ..auth.access import names_impossible_id
from ..extensions import db
from ..models import Organization, User, utcnow
from ..validation import is_row_id
from .common import check_query
from .errors import ApiError

READ = ("admin", "marketer", "agent", "viewer")
WORK = ("admin", "marketer", "agent")  # leads and tasks
CONFIGURE = ("admin", "marketer")  # segments, automations, templates, campaigns, scheduled tasks
ADMIN = ("admin",)


def issue_token(user: User) -> tuple[str, int]:
    expires_in = current_app.config["JWT_EXPIRES_SECONDS"]
    now = utcnow()
    claims = {"sub": str(user.id), "iat": now, "exp": now + timedelta(seconds=expires_in), "ver": user.token_version or 0}
    return jwt.encode(claims, current_app.config["SECRET_KEY"], algorithm="HS256"), expires_in


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == (email or "").strip().lower()))


def credentials_match(user: User | None, password: str) -> bool:
    """Is ``user`` active and is this its password? An unknown address (``None``) checks a dummy hash,
    so that the answer takes as long as for a known one and does not tell which addresses exist."""
    if user is None:
        check_password_hash(_dummy_password_hash(), password)
        return False
    return user.check_password(password) and user.is_active


@functools.cache
def _dummy_password_hash() -> str:
    return generate_password_hash(secrets.token_hex(16), method="scrypt")


def _user_from_token() -> User:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "A bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    try:
        claims = jwt.decode(token.strip(), current_app.config["SECRET_KEY"], algorithms=["HS256"], options={"require": ["exp", "sub"]})
        user_id = int(claims["sub"])
        if not is_row_id(user_id):
            raise ValueError("no such user")
    except jwt.ExpiredSignatureError:
        raise ApiError(401, "The token has expired", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None
    except (jwt.InvalidTokenError, ValueError):
        raise ApiError(401, "The token is invalid", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None
    user = db.session.get(User, user_id)
    if user is None or not user.is_active or claims.get("ver", 0) != (user.token_version or 0):  # revoked
        raise ApiError(401, "The token is invalid", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return user


def _acting_organization_id(user: User) -> int:
    requested = request.args.get("organization_id")
    if requested is None or not user.is_superuser:
        return user.organization_id
    if not requested.isdigit() or not is_row_id(int(requested)) or db.session.get(Organization, int(requested)) is None:
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
            check_query(getattr(view, "openapi", {}).get("query", {}))
            return view(*args, **kwargs)

        return wrapper

    return decorate
