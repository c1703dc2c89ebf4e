"""Request parsing and response shapes shared by every API resource."""

import hashlib
import re

from flask import g, json, jsonify, request
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import BadRequest

from ..extensions import db
from ..models import IdempotencyRecord
from ..models.base import utcnow
from ..pagination import paginate as paginate_query
from ..validation import WHITESPACE
from .errors import ApiError

MAX_PAGE = 1_000_000  # keeps the row offset within a 64-bit integer whatever per_page is
# What ``json_body`` lets through in a string: no NUL (the database cannot store it), stated on every
# text of a request body (``api.docs``). Lone UTF-16 surrogates are refused too; JSON text without
# them is what I-JSON (RFC 7493) requires, and regex engines of other languages cannot name them.
STORABLE_TEXT = "^[^\\x00]*$"
STORABLE_NON_BLANK_TEXT = f"^[^\\x00]*[^{WHITESPACE}\\x00][^\\x00]*$"  # not blank as str.strip() sees it
PAGE_QUERY = {"page": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}, "per_page": {"type": "integer", "minimum": 1, "maximum": 200}}


class Out(BaseModel):
    """Response models read attributes from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


def json_body() -> dict:
    """The request's JSON object; 400 when it is not JSON, 422 when it is not an object."""
    data = json_value()
    if not isinstance(data, dict):
        raise ApiError(422, "The body must be a JSON object", errors=[{"field": "body", "message": "must be an object"}])
    return data


def json_value():
    """The request's JSON value, of any type (a body that may be a list); 400 when it is not JSON, 422
    for text the database cannot store."""
    try:
        data = request.get_json(force=True)
    except BadRequest as exc:
        # Outside debug mode Flask hides the decoder's reason behind a generic 400; it is the cause.
        reason = (getattr(exc.__cause__, "description", None) or "").removeprefix("Failed to decode JSON object: ")
        raise ApiError(400, f"The body is not valid JSON: {reason}" if reason else "The body is not valid JSON") from None
    bad = _unstorable_text(data)
    if bad is not None:
        message = "must not contain NUL characters or unpaired surrogates"
        raise ApiError(422, f"{bad}: {message}", errors=[{"field": bad, "message": message}])
    return _whole_numbers_as_integers(data)


def _whole_numbers_as_integers(value):
    """``5.0`` is the integer 5, as JSON Schema reads it (the document's integers admit it)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, dict):
        return {key: _whole_numbers_as_integers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_whole_numbers_as_integers(item) for item in value]
    return value


def _unstorable_text(value, path: str = "") -> str | None:
    """The path of the first string the database cannot store (NUL, lone surrogates), or None."""
    if isinstance(value, str):
        if "\x00" in value:
            return path or "body"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path or "body"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _unstorable_text(key, path or "body") or _unstorable_text(item, f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _unstorable_text(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def check_query(schemas: dict) -> None:
    """Hold the query string to the document: each documented parameter that is given appears once
    and satisfies its schema there (a callable schema is built when asked, e.g. the app's task types);
    otherwise a 422 naming it. Parameters the document does not name are ignored."""
    errors = []
    for name, schema in schemas.items():
        schema = schema() if callable(schema) else schema
        values = request.args.getlist(name)
        if len(values) > 1:
            errors.append({"field": name, "message": "give it once"})
        elif values:
            problem = best_match(Draft202012Validator(schema).iter_errors(_typed(values[0], schema.get("type"))))
            if problem is not None:
                errors.append({"field": name, "message": _QUERY_MESSAGES.get(problem.validator, problem.message)})
    if errors:
        raise ApiError(422, "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors)


_QUERY_MESSAGES = {"type": "is not of the documented type", "pattern": "is not in the documented form"}


def _typed(raw: str, kind: str | None):
    """A query value as the JSON value it stands for, when it spells one of its type."""
    if kind == "integer" and re.fullmatch(r"-?\d{1,20}", raw):
        return int(raw)
    if kind == "boolean" and raw in ("true", "false"):
        return raw == "true"
    return raw


def int_arg(name: str, default: int, minimum: int = 1, maximum: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(422, f"'{name}' must be an integer", errors=[{"field": name, "message": "must be an integer"}]) from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum else f"at least {minimum}"
        raise ApiError(422, f"'{name}' must be {bound}", errors=[{"field": name, "message": f"must be {bound}"}])
    return value


def paginate(query, out_model: type[Out] | None = None, *, item=None) -> dict:
    """The list envelope ``{"items", "total", "page", "per_page"}`` for a select().

    Each item is ``out_model`` of a selected object, or ``item(row)`` (a model) for a select of
    several entities. ``page`` and ``per_page`` out of bounds are a 422; a page past the last is empty.
    """
    page = int_arg("page", 1, maximum=MAX_PAGE)
    per_page = int_arg("per_page", 50, maximum=200)
    result = paginate_query(query, page, per_page, clamp=False, rows=item is not None)
    items = [item(row).model_dump(mode="json") for row in result.items] if item else [dump(out_model, obj) for obj in result.items]
    return {"items": items, "total": result.total, "page": result.page, "per_page": result.per_page}


def dump(out_model: type[Out], obj) -> dict:
    return out_model.model_validate(obj).model_dump(mode="json")


def created(body: dict, location: str):
    response = jsonify(body)
    response.status_code = 201
    response.headers["Location"] = location
    return response


def no_content():
    return "", 204


def page_envelope(item_model: type[BaseModel]) -> type[BaseModel]:
    """A response model ``{"items": [item], "total", "page", "per_page"}`` for the document."""
    from pydantic import create_model

    return create_model(f"{item_model.__name__}Page", items=(list[item_model], ...), total=(int, ...), page=(int, ...), per_page=(int, ...))


IDEMPOTENCY_HEADER = {"Idempotency-Key": {"type": "string", "maxLength": 200, "pattern": "^[\\x20-\\x7e]*$"}}


def replay_idempotent(handler):
    """Honour ``Idempotency-Key``: a repeat with the same body returns the first response (SPEC §12)."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        return handler()
    if len(key) > 200 or not key.isprintable():
        raise ApiError(
            422,
            "Idempotency-Key must be at most 200 printable characters",
            errors=[{"field": "Idempotency-Key", "message": "at most 200 printable characters"}],
        )
    body_hash = hashlib.sha256(request.get_data() + request.path.encode()).hexdigest()
    scoped_key = f"{g.user.id}:{key}"
    record = db.session.scalar(
        select(IdempotencyRecord).where(IdempotencyRecord.organization_id == g.organization_id, IdempotencyRecord.key == scoped_key)
    )
    if record is not None and (utcnow() - record.created_at).total_seconds() < 24 * 3600:
        if record.request_hash != body_hash:
            raise ApiError(409, "This Idempotency-Key was used with another body")
        response = jsonify(record.response_body)
        response.status_code = record.status_code
        if record.location:
            response.headers["Location"] = record.location
        response.headers["Idempotent-Replayed"] = "true"
        return response
    if record is not None:
        db.session.delete(record)
        db.session.flush()
    response = handler(commit=False)
    db.session.add(
        IdempotencyRecord(
            organization_id=g.organization_id,
            key=scoped_key,
            request_hash=body_hash,
            status_code=response.status_code,
            response_body=json.loads(response.get_data()),
            location=response.headers.get("Location"),
        )
    )
    try:
        db.session.commit()
    except IntegrityError:  # the same key raced in from another request: that one wins
        db.session.rollback()
        raise ApiError(409, "A request with this Idempotency-Key is already being processed") from None
    return response
