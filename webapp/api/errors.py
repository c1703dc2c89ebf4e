"""problem+json (RFC 9457) for every failure under /api."""

from flask import Response, json
from werkzeug.exceptions import HTTPException

PROBLEM_TYPES = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    429: "too-many-requests",
}


class ApiError(Exception):
    def __init__(self, status: int, detail: str = "", errors: list[dict] | None = None, headers=None):
        super().__init__(detail)
        self.status, self.detail, self.errors, self.headers = status, detail, errors, headers or {}


def problem(status: int, detail: str = "", errors: list[dict] | None = None, headers=None, title=None) -> Response:
    from werkzeug.http import HTTP_STATUS_CODES

    body = {
        "type": f"/api/problems/{PROBLEM_TYPES.get(status, 'error')}",
        "title": title or HTTP_STATUS_CODES.get(status, "Error"),
        "status": status,
        "detail": detail or HTTP_STATUS_CODES.get(status, "Error"),
    }
    if errors is not None:
        body["errors"] = errors
    response = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def problem_from_http_exception(exc: HTTPException) -> Response:
    headers = {}
    if exc.code == 405 and exc.valid_methods:
        headers["Allow"] = ", ".join(exc.valid_methods)
    if exc.code == 429:
        response = exc.get_response()
        if response.headers.get("Retry-After"):
            headers["Retry-After"] = response.headers["Retry-After"]
        headers.setdefault("Retry-After", "60")
    detail = exc.description if exc.code not in (404, 500) else ""
    if exc.code == 404:
        detail = "Not found"
    return problem(exc.code or 500, detail, headers=headers)
