"""The single place that scopes queries to the acting organization (SPEC §3).

The acting organization is chosen once per request (session or bearer token) and kept on ``g``.
Views and services ask for rows through ``scoped()`` and ``get_or_404()``; another organization's
row is simply not found.
"""

from flask import abort, g
from sqlalchemy import select

from .extensions import db
from .validation import is_row_id


def current_org_id() -> int:
    organization_id = g.get("organization_id")
    if organization_id is None:
        raise RuntimeError("no acting organization: the request is not authenticated")
    return organization_id


def scoped(model, *criteria):
    """``select(model)`` limited to the acting organization."""
    return select(model).where(model.organization_id == current_org_id(), *criteria)


def get_scoped(model, object_id) -> object | None:
    """The object with this id in the acting organization, or None."""
    try:
        object_id = int(object_id)
    except (TypeError, ValueError):
        return None
    if not is_row_id(object_id):
        return None
    return db.session.scalar(scoped(model, model.id == object_id))


def get_or_404(model, object_id):
    obj = get_scoped(model, object_id)
    if obj is None:
        abort(404)
    return obj


def ids_in_org(model, ids, organization_id: int) -> set[int]:
    """Which of these ids belong to the organization (ids from request bodies are checked here)."""
    ids = {int(i) for i in ids if is_row_id(int(i))}  # a larger number names no row (and would overflow the query)
    if not ids:
        return set()
    found = db.session.scalars(select(model.id).where(model.organization_id == organization_id, model.id.in_(ids)))
    return set(found)
