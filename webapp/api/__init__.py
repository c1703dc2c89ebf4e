"""The JSON API under /api/v1: bearer tokens, problem+json errors, an OpenAPI document."""

from flask import Blueprint, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from ..extensions import csrf, db
from ..validation import Conflict, ValidationFailed
from .docs import build_openapi
from .errors import ApiError, problem, problem_from_http_exception

bp = Blueprint("api", __name__, url_prefix="/api/v1")
docs_bp = Blueprint("api_docs", __name__)
csrf.exempt(bp)


@bp.get("/openapi.json")
def openapi_document():
    return jsonify(build_openapi())


@docs_bp.get("/api/docs")
def api_docs():
    return render_template("api_docs.html")


@bp.errorhandler(ApiError)
def handle_api_error(exc: ApiError):
    db.session.rollback()
    return problem(exc.status, exc.detail, exc.errors, exc.headers)


@bp.errorhandler(ValidationFailed)
def handle_validation(exc: ValidationFailed):
    db.session.rollback()
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in exc.errors[:5])
    return problem(exc.status, detail or "Validation failed", exc.errors)


@bp.errorhandler(Conflict)
def handle_conflict(exc: Conflict):
    db.session.rollback()
    return problem(409, str(exc))


def handle_http_error_under_api(exc: HTTPException):
    """App-wide: routing errors (404, 405) and 429 under /api are problem+json too."""
    if request.path.startswith("/api/"):
        db.session.rollback()
        return problem_from_http_exception(exc)
    return exc


from . import (  # noqa: E402,F401  (routes register on bp)
    auth_views,
    automations,
    campaigns,
    consents,
    contactability,
    email_events,
    email_stats,
    email_templates,
    leads,
    scheduled_tasks,
    segments,
    suppressions,
    tasks,
    users,
)
