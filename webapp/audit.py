"""Audit log entries: who did what to which object (SPEC §3)."""

from flask import g, has_request_context

from .extensions import db
from .models import AuditLog


def audit(action: str, obj=None, changes: dict | None = None, *, organization_id=None, user_id=None) -> None:
    """Record an audit entry in the current transaction (the caller commits)."""
    if has_request_context():
        user = g.get("user")
        user_id = user_id if user_id is not None else (user.id if user else None)
        organization_id = organization_id or g.get("organization_id")
    db.session.add(
        AuditLog(
            organization_id=organization_id or getattr(obj, "organization_id", None),
            user_id=user_id,
            action=action,
            object_type=type(obj).__name__ if obj is not None else "",
            object_id=getattr(obj, "id", None),
            changes=_jsonable(changes or {}),
        )
    )


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
