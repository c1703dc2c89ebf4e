"""Organizations, users and the audit log (SPEC §3)."""

import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from .base import JSONType, OrgScopedMixin, TimestampMixin, UTCDateTime, utcnow

ROLES = ("admin", "marketer", "agent", "viewer")


def new_webhook_secret() -> str:
    """A random secret of 43 URL-safe characters (256 bits)."""
    return secrets.token_urlsafe(32)


class Organization(TimestampMixin, db.Model):
    __tablename__ = "organizations"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    # Signs the delivery events posted to /api/v1/email-events (SPEC §16; ``engagement.webhook_secret``).
    webhook_secret: Mapped[str | None] = mapped_column(String(100), default=new_webhook_secret)
    # At most this many emails a second, all workers together (SPEC §16; ``email_templates.throttle``); None: no limit.
    send_rate_per_second: Mapped[int | None] = mapped_column(Integer)
    # Quiet hours, frequency caps, consent, time zone (SPEC §17; ``contactability.policy``); None: the defaults.
    contact_policy: Mapped[dict | None] = mapped_column(JSONType)


class User(UserMixin, OrgScopedMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (Index("uq_users_email_lower", text("lower(email)"), unique=True),)
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(400))
    role: Mapped[str] = mapped_column(String(20), default="marketer")
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # API tokens carry the version they were issued under; raising it revokes every token issued before.
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    organization: Mapped[Organization] = relationship()

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password, method="scrypt")

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def display_name(self) -> str:
        return self.name or self.email


class UserSession(db.Model):
    """A signed-in browser session. The session cookie names it; once revoked, the cookie no longer
    signs anyone in (signing out, a password change, deactivation: SPEC §3)."""

    __tablename__ = "user_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # a random token
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditLog(db.Model):
    __tablename__ = "audit_logs"
    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(40))  # create, update, delete, trigger, login, login_failed
    object_type: Mapped[str] = mapped_column(String(60), default="")
    object_id: Mapped[int | None] = mapped_column(Integer)
    changes: Mapped[dict] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    user: Mapped[User | None] = relationship()


class Notification(OrgScopedMixin, db.Model):
    """An in-app notification for one user (the bell)."""

    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    message: Mapped[str] = mapped_column(String(1000))
    link: Mapped[str] = mapped_column(String(500), default="")
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
