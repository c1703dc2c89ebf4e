"""Task types by name: the handler that executes a task and the validator of its payload.

Features register their own types when they are imported, e.g. the automations module::

    register_task_type("delayed_automation", run_delayed_step, validate_delayed_step)

A handler takes the claimed ``ScheduledTask`` and returns a JSON-able result (or None); it raises
to fail the attempt (``PermanentTaskError`` to fail without retries). It runs inside the
transaction that marks the task completed, so it must not commit: its rows are kept only if the
attempt is still this worker's when it finishes.

A validator takes ``(payload, organization_id)`` and returns a list of ``{"field", "message"}``
with fields named ``payload.<key>``; it is called on create/update and again before each run.
"""
from collections.abc import Callable
from dataclasses import dataclass

from ..models import ScheduledTask
from ..models.scheduling import TASK_TYPES

Handler = Callable[[ScheduledTask], dict | None]
PayloadValidator = Callable[[dict, int], list[dict]]


class PermanentTaskError(Exception):
    """An error that no retry can fix (bad payload, missing object): the task fails at once."""


@dataclass(frozen=True)
class TaskType:
    name: str
    handler: Handler
    validate_payload: PayloadValidator


_task_types: dict[str, TaskType] = {}


def register_task_type(task_type: str, handler: Handler, validate_payload: PayloadValidator) -> None:
    """Make ``task_type`` known: tasks of it are validated and executed with these functions."""
    _task_types[task_type] = TaskType(task_type, handler, validate_payload)


def get_task_type(task_type: str) -> TaskType | None:
    """The registered task type of this name, or None."""
    return _task_types.get(task_type)


def registered_task_types() -> list[str]:
    """The names of every registered task type, sorted."""
    return sorted(_task_types)


def validate_payload(task_type: str, payload, organization_id: int) -> list[dict]:
    """The errors of a task's type and payload, as ``[{"field", "message"}]`` (empty when valid)."""
    known = get_task_type(task_type) if isinstance(task_type, str) else None
    if known is None and task_type in TASK_TYPES:
        return [{"field": "task_type", "message": f"task type '{task_type}' is not available yet"}]
    if known is None:
        expected = ", ".join(registered_task_types())
        return [{"field": "task_type", "message": f"unknown task type '{task_type}'; expected one of: {expected}"}]
    if not isinstance(payload, dict):
        return [{"field": "payload", "message": "must be an object"}]
    return known.validate_payload(payload, organization_id)
