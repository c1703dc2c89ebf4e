"""What the dashboard and the notification bell read, for one organization."""

from datetime import datetime

from sqlalchemy import func, select, update

from ..extensions import db
from ..models import Lead, LeadEvent, Notification, utcnow


def lead_counts(organization_id: int, since: datetime) -> tuple[int, int]:
    """How many leads the organization has, and how many of them arrived since ``since``."""
    count = select(func.count()).select_from(Lead).where(Lead.organization_id == organization_id)
    return db.session.scalar(count), db.session.scalar(count.where(Lead.created_at >= since))


def recent_activity(organization_id: int, limit: int = 15) -> list:
    """The latest lead events with their leads, newest first: rows of ``(LeadEvent, Lead)``."""
    return db.session.execute(
        select(LeadEvent, Lead)
        .join(Lead, Lead.id == LeadEvent.lead_id)
        .where(LeadEvent.organization_id == organization_id)
        .order_by(LeadEvent.created_at.desc(), LeadEvent.id.desc())
        .limit(limit)
    ).all()


def unread_notification_count(organization_id: int, user_id: int) -> int:
    """The number on the bell."""
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.organization_id == organization_id, Notification.user_id == user_id, Notification.read_at.is_(None))
        )
        or 0
    )


def latest_notifications(organization_id: int, user_id: int, limit: int = 50) -> list[Notification]:
    """The user's notifications in the organization, newest first."""
    return db.session.scalars(
        select(Notification)
        .where(Notification.organization_id == organization_id, Notification.user_id == user_id)
        .order_by(Notification.created_at.desc())
        .limit(limit)
    ).all()


def mark_notifications_read(organization_id: int, user_id: int) -> None:
    """Mark the user's unread notifications read (not committed)."""
    db.session.execute(
        update(Notification)
        .where(Notification.organization_id == organization_id, Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )
