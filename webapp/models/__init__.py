"""All models, importable from one place (Alembic autogenerate sees them here)."""
from .base import utcnow  # noqa: F401
from .leads import (  # noqa: F401
    Campaign,
    IdempotencyRecord,
    ImportJob,
    Lead,
    LeadEvent,
    LeadTag,
    Task,
)
from .org import AuditLog, Notification, Organization, User  # noqa: F401
