"""All models, importable from one place (Alembic autogenerate sees them here)."""

from .automations import Automation, AutomationAction, AutomationRun, AutomationRunStep, AutomationVersion  # noqa: F401
from .base import utcnow  # noqa: F401
from .consents import LeadConsent  # noqa: F401
from .email import EmailTemplate, EmailTemplateVersion, OutboxMessage  # noqa: F401
from .leads import (  # noqa: F401
    Campaign,
    IdempotencyRecord,
    ImportJob,
    Lead,
    LeadEvent,
    LeadTag,
)
from .org import AuditLog, Notification, Organization, User, UserSession  # noqa: F401
from .scheduled_tasks import ScheduledTask  # noqa: F401
from .segments import LeadSegment, Segment, SegmentRefresh, SegmentRule, SegmentSnapshot  # noqa: F401
from .suppressions import Suppression, SuppressionImport  # noqa: F401
from .tasks import Task  # noqa: F401
