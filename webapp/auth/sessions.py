"""Revocable sign-ins (SPEC §3): each browser sign-in is a ``UserSession`` row named by the session
cookie, and each API token carries its user's ``token_version``.

Signing out revokes that session; a password change revokes the user's other sessions and every
token; an admin's password reset and deactivation revoke all of them.
"""

import secrets

from flask import session
from flask_login import login_user, logout_user
from sqlalchemy import select, update

from ..extensions import db
from ..models import User, UserSession, utcnow

SESSION_KEY = "session_id"


def sign_in(user: User) -> None:
    """Start a browser session for ``user`` (the caller commits)."""
    row = UserSession(id=secrets.token_urlsafe(32), user_id=user.id)
    db.session.add(row)
    session[SESSION_KEY] = row.id
    login_user(user)


def sign_out() -> None:
    """End this browser's session: its cookie, even if kept, no longer signs anyone in (the caller commits)."""
    session_id = session.pop(SESSION_KEY, None)
    if session_id:
        db.session.execute(
            update(UserSession).where(UserSession.id == session_id, UserSession.revoked_at.is_(None)).values(revoked_at=utcnow())
        )
    logout_user()


def signed_in_user(user_id: int) -> User | None:
    """The active user ``user_id`` if this request's cookie names one of its sessions that was not
    revoked (one query: it runs on every signed-in request)."""
    return db.session.scalar(
        select(User)
        .join(UserSession, UserSession.user_id == User.id)
        .where(
            User.id == user_id,
            User.is_active.is_(True),
            UserSession.id == (session.get(SESSION_KEY) or ""),
            UserSession.revoked_at.is_(None),
        )
    )


def revoke_sign_ins(user: User, *, keep_this_session: bool = False) -> None:
    """Revoke the user's browser sessions (all, or all but this one) and every API token issued so far."""
    query = update(UserSession).where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
    if keep_this_session:
        query = query.where(UserSession.id != (session.get(SESSION_KEY) or ""))
    db.session.execute(query.values(revoked_at=utcnow()))
    user.token_version = (user.token_version or 0) + 1
