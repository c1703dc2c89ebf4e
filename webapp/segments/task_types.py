"""The scheduled-task types that work on leads and segments: ``batch_operation`` and
``system_maintenance`` (SPEC §8, §12); ``features.build_wiring`` lists them.

Lead changes go through the lead service, so every change records its lead events. None of these
functions commits: they run inside the task's transaction.
"""

from datetime import timedelta

from sqlalchemy import select

from ..extensions import db
from ..features import wiring
from ..leads.services import apply_bulk_change
from ..models import Lead, ScheduledTask, Segment, utcnow
from ..models.base import MAX_ID
from ..models.leads import MAX_TAG_LENGTH, PRIORITIES, STATUSES
from ..models.scheduled_tasks import BATCH_OPERATIONS, MAINTENANCE_OPERATIONS, MAX_LEAD_IDS, MAX_PURGE_DAYS
from ..scheduled_tasks.definitions import PermanentTaskError
from ..tenancy import ids_in_org
from ..validation import is_row_id
from . import membership, services

# --- batch_operation -------------------------------------------------------------------------

_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
_LEAD_IDS = {"type": "array", "items": _ID, "minItems": 1, "maxItems": MAX_LEAD_IDS}
_VALUES = {
    "tag": {"type": "string", "minLength": 1, "maxLength": MAX_TAG_LENGTH, "pattern": r"\S"},
    "status": {"type": "string", "enum": list(STATUSES)},
    "priority": {"type": "string", "enum": list(PRIORITIES)},
}


def _batch_payload(operation: str, value_key: str | None, target: str) -> dict:
    properties = {"operation": {"type": "string", "const": operation}, target: _LEAD_IDS if target == "lead_ids" else _ID}
    if value_key:
        properties[value_key] = _VALUES[value_key]
    return {"type": "object", "properties": properties, "required": sorted(properties), "additionalProperties": False}


# What validate_batch_operation accepts: an operation, its value, and the leads (lead_ids, or the
# members of segment_id); refresh_segment takes a (dynamic) segment_id alone.
BATCH_OPERATION_PAYLOAD = {
    "oneOf": [
        _batch_payload(operation, value_key, target)
        for operation, value_key in BATCH_OPERATIONS.items()
        for target in (("lead_ids", "segment_id") if value_key else ("segment_id",))
    ]
}


def validate_batch_operation(payload: dict, organization_id: int) -> list[dict]:
    """Errors of a batch_operation payload (unknown keys and values name ``payload.<key>``)."""
    operation = payload.get("operation")
    if operation not in BATCH_OPERATIONS:
        return [_error("operation", f"must be one of: {', '.join(BATCH_OPERATIONS)}")]
    value_key = BATCH_OPERATIONS[operation]
    allowed = {"operation", "segment_id"} | ({value_key, "lead_ids"} if value_key else set())
    errors = _unknown_keys(payload, allowed, f"operation '{operation}'")
    if value_key:
        errors += _check_value(value_key, payload.get(value_key))
    errors += _check_target(payload, organization_id, operation)
    return errors


def run_batch_operation(task: ScheduledTask) -> dict:
    """Apply the operation to the given leads or segment members, or refresh the segment."""
    payload, organization_id = task.payload, task.organization_id
    operation = payload.get("operation")
    if operation not in BATCH_OPERATIONS:
        raise PermanentTaskError(f"payload.operation: unknown operation '{operation}'")
    if operation == "refresh_segment":
        segment_id = _required(payload, "segment_id")
        return {"operation": operation, **_refresh_segment(organization_id, segment_id)}
    value = _required(payload, BATCH_OPERATIONS[operation])
    lead_ids = _target_lead_ids(payload, organization_id)
    changed = apply_bulk_change(organization_id, lead_ids, operation, value, actor_id=task.created_by_id)
    return {"operation": operation, "targeted": len(lead_ids), "changed": changed}


def _target_lead_ids(payload: dict, organization_id: int) -> list[int]:
    if "lead_ids" not in payload:
        return membership.member_ids(organization_id, _required(payload, "segment_id"))
    lead_ids = payload["lead_ids"]
    if not isinstance(lead_ids, list) or not all(_is_id(i) for i in lead_ids):
        raise PermanentTaskError("payload.lead_ids: must be a list of lead ids")
    return sorted(set(lead_ids))


def _check_value(key: str, value) -> list[dict]:
    if value is None:
        return [_error(key, "required")]
    if key == "tag":
        if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_TAG_LENGTH:
            return [_error(key, f"must be a tag of 1 to {MAX_TAG_LENGTH} characters")]
        return []
    allowed = STATUSES if key == "status" else PRIORITIES
    if value not in allowed:
        return [_error(key, f"must be one of: {', '.join(allowed)}")]
    return []


def _check_target(payload: dict, organization_id: int, operation: str) -> list[dict]:
    """The leads to change: ``lead_ids`` or ``segment_id``, exactly one (refresh_segment: segment_id)."""
    has_leads, has_segment = "lead_ids" in payload, "segment_id" in payload
    if operation == "refresh_segment" or (has_segment and not has_leads):
        if not has_segment:
            return [_error("segment_id", "required")]
        return _check_segment_id(payload["segment_id"], organization_id, operation)
    if has_leads and has_segment:
        return [_error("segment_id", "give lead_ids or segment_id, not both")]
    if not has_leads:
        return [_error("lead_ids", "required (or segment_id)")]
    return _check_lead_ids(payload["lead_ids"], organization_id)


def _check_lead_ids(lead_ids, organization_id: int) -> list[dict]:
    if not isinstance(lead_ids, list) or not lead_ids or not all(_is_id(i) for i in lead_ids):
        return [_error("lead_ids", "must be a non-empty list of lead ids")]
    if len(lead_ids) > MAX_LEAD_IDS:
        return [_error("lead_ids", f"at most {MAX_LEAD_IDS} leads; use segment_id for more")]
    unknown = sorted(set(lead_ids) - ids_in_org(Lead, lead_ids, organization_id))
    if unknown:
        listed = ", ".join(str(i) for i in unknown[:10]) + (", …" if len(unknown) > 10 else "")
        return [_error("lead_ids", f"unknown lead ids: {listed}")]
    return []


def _check_segment_id(segment_id, organization_id: int, operation: str) -> list[dict]:
    if not _is_id(segment_id):
        return [_error("segment_id", "must be a segment id")]
    message = check_segment(organization_id, segment_id, operation)
    return [_error("segment_id", message)] if message else []


def check_segment(organization_id: int, segment_id: int, operation: str) -> str | None:
    """Why a task cannot work on this segment (an error for ``payload.segment_id``), or None."""
    segment = db.session.scalar(select(Segment).where(Segment.organization_id == organization_id, Segment.id == segment_id))
    if segment is None:
        return "no such segment"
    if operation == "refresh_segment" and not segment.is_dynamic:
        return "is a static segment: only dynamic segments are refreshed"
    return None


def _refresh_segment(organization_id: int, segment_id: int) -> dict:
    message = check_segment(organization_id, segment_id, "refresh_segment")
    if message:
        raise PermanentTaskError(f"payload.segment_id: {message}")
    refresh = services.refresh_now(db.session.get(Segment, segment_id), trigger="task")
    return {"entered": refresh.entered, "exited": refresh.exited, "member_count": refresh.member_count}


# --- system_maintenance ----------------------------------------------------------------------


SYSTEM_MAINTENANCE_PAYLOAD = {
    "oneOf": [
        {
            "type": "object",
            "properties": {
                "operation": {"type": "string", "const": "purge"},
                "older_than_days": {"type": "integer", "minimum": 1, "maximum": MAX_PURGE_DAYS},
            },
            "required": ["operation", "older_than_days"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {"operation": {"type": "string", "const": "refresh_dynamic_segments"}},
            "required": ["operation"],
            "additionalProperties": False,
        },
    ]
}


def validate_system_maintenance(payload: dict, organization_id: int) -> list[dict]:
    """Errors of a system_maintenance payload."""
    operation = payload.get("operation")
    if operation not in MAINTENANCE_OPERATIONS:
        return [_error("operation", f"must be one of: {', '.join(MAINTENANCE_OPERATIONS)}")]
    if operation == "refresh_dynamic_segments":
        return _unknown_keys(payload, {"operation"}, f"operation '{operation}'")
    errors = _unknown_keys(payload, {"operation", "older_than_days"}, f"operation '{operation}'")
    days = payload.get("older_than_days")
    if not _is_id(days) or days > MAX_PURGE_DAYS:
        errors.append(_error("older_than_days", f"must be a whole number of days from 1 to {MAX_PURGE_DAYS}"))
    return errors


def run_system_maintenance(task: ScheduledTask) -> dict:
    """Purge old finished work of the task's organization, or refresh its dynamic segments."""
    operation = task.payload.get("operation")
    if operation == "refresh_dynamic_segments":
        return {"operation": operation, **services.refresh_dynamic_segments(task.organization_id)}
    if operation != "purge":
        raise PermanentTaskError(f"payload.operation: unknown operation '{operation}'")
    days = _required(task.payload, "older_than_days")
    if not _is_id(days):
        raise PermanentTaskError("payload.older_than_days: must be a whole number of days")
    cutoff = utcnow() - timedelta(days=days)
    deleted = {name: purge(task.organization_id, cutoff) for name, purge in wiring().purgers.items()}
    return {"operation": operation, "older_than": cutoff.isoformat(), "deleted": deleted}


# --- helpers ---------------------------------------------------------------------------------


def _error(key: str, message: str) -> dict:
    return {"field": f"payload.{key}", "message": message}


def _unknown_keys(payload: dict, allowed: set[str], context: str) -> list[dict]:
    return [_error(key, f"unknown key for {context}") for key in payload if key not in allowed]


def _required(payload: dict, key: str):
    if payload.get(key) is None:
        raise PermanentTaskError(f"payload.{key}: required")
    return payload[key]


def _is_id(value) -> bool:
    return is_row_id(value)  # a larger number names no row (and would overflow the query)
