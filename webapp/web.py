"""Request-wide behaviour of the browser app: acting organization, template helpers, errors, headers."""

from flask import Flask, current_app, render_template, request, send_from_directory
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from .api import handle_http_error_under_api
from .auth.access import bind_acting_organization, can
from .auth.views import all_organizations
from .dashboard.views import unread_count
from .extensions import db
from .features import wiring
from .jobs.loops import start_task_loop
from .leads.views import MAX_IMPORT_BYTES
from .suppressions.importer import MAX_IMPORT_BYTES as MAX_SUPPRESSION_IMPORT_BYTES

_embedded_scheduler_started = False
# Scripts only from our own files (no inline handlers, no eval: HTMX runs with allowEval off); inline
# style attributes are allowed. The email preview sets a stricter policy of its own.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'self'"
)
# Endpoints whose body may exceed MAX_CONTENT_LENGTH, and their own limit.
LARGE_BODY_ENDPOINTS = {
    "leads.import_csv": MAX_IMPORT_BYTES + 1024 * 1024,  # the CSV and the form around it
    "api.import_suppressions": MAX_SUPPRESSION_IMPORT_BYTES + 1024 * 1024,
    "suppressions.import_file": MAX_SUPPRESSION_IMPORT_BYTES + 1024 * 1024,
}


def install_web_hooks(app: Flask) -> None:
    app.before_request(bind_acting_organization)
    app.before_request(_start_embedded_scheduler_once)
    app.add_url_rule("/favicon.ico", "favicon", favicon)

    @app.context_processor
    def template_helpers():
        return {
            "can": can,
            "navigation": wiring().navigation,
            "admin_navigation": wiring().admin_navigation,
            "unread_notifications": unread_count,
            "all_organizations": all_organizations,
        }

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        under_api = handle_http_error_under_api(exc)
        if under_api is not exc:
            return under_api
        db.session.rollback()
        if exc.code in (404, 403, 405, 429, 400, 413):
            return render_template("error.html", error=exc), exc.code
        return exc

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception):
        if isinstance(exc, HTTPException):
            return http_error(exc)
        app.logger.exception("unhandled error on %s", request.path)
        db.session.rollback()
        if request.path.startswith("/api/"):
            from .api.errors import problem

            return problem(500, "An unexpected error occurred; it has been logged")
        return render_template("error.html", error=None), 500

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if request.endpoint != "static" and (current_user.is_authenticated or request.path.startswith("/api/")):
            response.headers["Cache-Control"] = "no-store"  # nobody's leads in a shared or back-button cache
        return response


def favicon():
    """Browsers ask for /favicon.ico on pages without a <link rel=icon> (the API document, error pages)."""
    return send_from_directory(current_app.static_folder, "favicon.svg", mimetype="image/svg+xml", max_age=86400)


def allow_large_uploads() -> None:
    limit = LARGE_BODY_ENDPOINTS.get(request.endpoint)
    if limit:
        request.max_content_length = limit


def _start_embedded_scheduler_once() -> None:
    """Embedded default (no Redis): delays and schedules fire from a thread of the web process."""
    global _embedded_scheduler_started
    if _embedded_scheduler_started:
        return
    _embedded_scheduler_started = True
    app = current_app._get_current_object()
    if not app.config["REDIS_URL"] and app.config["BACKGROUND_SCHEDULER"] and not app.testing:
        start_task_loop(app, "embedded")
