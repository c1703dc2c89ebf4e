"""The OpenAPI 3 document of the API, built from the views' own declarations.

A view declares its contract with ``@documented(...)``: request body and response models (pydantic),
query parameters, success status and the error statuses it may return. ``build_openapi()`` walks the
URL map, so a route cannot exist without appearing in the document.
"""

import json
import re
import typing

from flask import current_app
from pydantic import BaseModel

from ..auth.access import MAX_ID
from ..validation import BLANK
from .common import STORABLE_NON_BLANK_TEXT, STORABLE_TEXT

PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
COMMON_ERRORS = (400, 401, 403, 404, 405, 414, 422, 429)  # 414: a request line over the server's limit (webapp.serving)
NON_BLANK = r"\S"


def documented(
    summary: str,
    *,
    body: type[BaseModel] | None = None,
    response: type[BaseModel] | dict | None = None,
    status: int = 200,
    query: dict | None = None,
    required_query: tuple[str, ...] = (),
    errors: tuple[int, ...] = (),
    tag: str = "",
    public: bool = False,
    headers: dict | None = None,
    example: dict | None = None,
    responses: dict | None = None,
    upload: dict | None = None,
):
    """Attach the OpenAPI description of a view to it (``example``: a request body to show; ``responses``:
    answers besides ``status`` and the problems, ``{409: {"description", "response" (a model; none: a
    problem), "headers": {name: OpenAPI header object}}}``; ``upload``: the fields of a ``multipart/form-data``
    body, ``{name: schema}``, all required)."""

    def decorate(view):
        view.openapi = {
            "summary": summary,
            "body": body,
            "response": response,
            "status": status,
            "query": query or {},
            "required_query": required_query,
            "errors": errors,
            "tag": tag,
            "public": public,
            "headers": headers or {},
            "example": example,
            "responses": responses or {},
            "upload": upload,
        }
        return view

    return decorate


def _schema(model, components: dict) -> dict:
    if isinstance(model, dict):
        return model
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
    for name, sub in schema.pop("$defs", {}).items():
        components[name] = sub
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _input_schema(model, components: dict) -> dict:
    schema = _model_refs(model.model_json_schema(ref_template="#/components/schemas/{model}In", mode="validation"), "In")
    models = _models_within(model)
    for name, sub in schema.pop("$defs", {}).items():
        components[name + "In"] = _with_presence_rules(sub, models.get(name))
    components[model.__name__ + "In"] = _with_presence_rules(schema, model)
    return {"$ref": f"#/components/schemas/{model.__name__}In"}


def _model_refs(schema, suffix: str):
    """``{"$model": "RuleFields"}``, written in a schema's extra (a rule in a flow action's configuration),
    as the reference to that model's component (``RuleFieldsIn``); the body's own fields define it."""
    if isinstance(schema, list):
        return [_model_refs(item, suffix) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if set(schema) == {"$model"}:
        return {"$ref": f"#/components/schemas/{schema['$model']}{suffix}"}
    return {key: _model_refs(value, suffix) for key, value in schema.items()}


def _with_presence_rules(schema: dict, model) -> dict:
    """State a model's ``required_on_create`` fields as required and never null (see StrictModel)."""
    required = getattr(model, "required_on_create", ())
    for whole in (schema, *schema.get("oneOf", ()), *schema.get("anyOf", ())):  # the alternatives, written whole, too
        if required and "properties" in whole:
            whole["required"] = sorted(set(whole.get("required", [])) | set(required))
            for name in required:
                whole["properties"][name] = _not_null(whole["properties"][name])
    return schema


def _not_null(prop: dict) -> dict:
    """A property schema without its null alternative and its (null) default; text must not be blank
    (the services read blank text as no value)."""
    prop = {key: value for key, value in prop.items() if key != "default"}
    if "anyOf" in prop:
        kept = [alternative for alternative in prop.pop("anyOf") if alternative not in ({"type": "null"}, BLANK)]
        prop = {**prop, **kept[0]} if len(kept) == 1 else {**prop, "anyOf": kept}
    elif "type" not in prop and "$ref" not in prop:
        return {**prop, "not": {"type": "null"}}
    if prop.get("type") == "string" and not {"enum", "const", "pattern"} & set(prop):
        prop["pattern"] = NON_BLANK
    return prop


def _storable_text_only(schema):
    """Every text of a request body, and every key of a free-form object, is without NUL (``json_body``
    refuses it: the database cannot store it)."""
    if isinstance(schema, list):
        return [_storable_text_only(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {key: _storable_text_only(value) for key, value in schema.items()}
    if schema.get("type") == "string" and not {"enum", "const", "format"} & set(schema):
        # One pattern per text (generators do not intersect two); the others (slug, state code)
        # admit only storable characters already.
        schema["pattern"] = {None: STORABLE_TEXT, NON_BLANK: STORABLE_NON_BLANK_TEXT}.get(schema.get("pattern"), schema.get("pattern"))
    if schema.get("type") == "object" and "properties" not in schema and "propertyNames" not in schema:  # a split's names have theirs
        schema["propertyNames"] = {"pattern": STORABLE_TEXT}
    return schema


def _models_within(model) -> dict:
    """The pydantic models a model's fields refer to, by name (their schemas are its ``$defs``)."""
    found, stack = {}, [model]
    while stack:
        for field in stack.pop().model_fields.values():
            for candidate in _classes_in(field.annotation):
                if isinstance(candidate, type) and issubclass(candidate, BaseModel) and candidate.__name__ not in found:
                    found[candidate.__name__] = candidate
                    stack.append(candidate)
    return found


def _classes_in(annotation):
    """The annotation and every type nested in it (``list[Rule] | None`` gives ``Rule`` too)."""
    yield annotation
    for argument in typing.get_args(annotation):
        yield from _classes_in(argument)


def _update_schema(model, components: dict) -> dict:
    """The body of a PUT/PATCH: the same fields, none required and none with a default, since an
    update changes only the fields it is given (SPEC §12). A generated client that filled in the
    create defaults would silently change what the caller never sent (opt a lead back in to email).
    Items of a list that the update replaces whole (``rules[]``, ``actions[]``) keep theirs. Fields given
    only on create (``create_only``: a new lead's consents) are not in it."""
    _input_schema(model, components)
    # The alternatives of a new object (anyOf/oneOf) are not an update's: it may send any one field.
    schema = {key: value for key, value in components[model.__name__ + "In"].items() if key not in ("required", "anyOf", "oneOf")}
    never_null = (*getattr(model, "required_on_create", ()), *getattr(model, "never_null", ()))
    schema["properties"] = {
        name: _not_null(prop) if name in never_null else {k: v for k, v in prop.items() if k != "default"}
        for name, prop in schema["properties"].items()
        if name not in getattr(model, "create_only", ())
    }
    schema["title"] = f"{schema.get('title', model.__name__)} (update)"
    components[model.__name__ + "Update"] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}Update"}


def build_openapi() -> dict:
    components: dict = {"Problem": PROBLEM_SCHEMA}
    paths: dict = {}
    for rule in current_app.url_map.iter_rules():
        view = current_app.view_functions.get(rule.endpoint)
        spec = getattr(view, "openapi", None)
        if spec is None:
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        for method in methods:
            operation_id = rule.endpoint.replace(".", "_") + (f"_{method.lower()}" if len(methods) > 1 else "")
            paths.setdefault(path, {})[method.lower()] = _operation(rule, method, operation_id, spec, components)
    _link_creates_to_their_item(paths)
    components = {
        name: _storable_text_only(schema) if name.endswith(("In", "Update")) else schema
        for name, schema in _referenced(components, paths).items()
    }
    _hoist_named_objects(components)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Leadflow API",
            "version": "1.0.0",
            "description": "Segments, email templates and automations for insurance lead generation. "
            "Request bodies are I-JSON (RFC 7493): their text holds no NUL character and no unpaired surrogate. "
            "A number with a zero fraction (5.0) is the integer it equals, as JSON Schema reads it.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


def _hoist_named_objects(components: dict) -> None:
    """Objects written inline with a name of their own (``title``: the rule, step, trigger and task
    alternatives) become components of that name, referred to where they were. Client generators
    make one class of each (inline, openapi-python-client built the nested ones twice)."""

    def hoist(value, root: bool = False):
        if isinstance(value, list):
            return [hoist(item) for item in value]
        if not isinstance(value, dict):
            return value
        value = {key: hoist(item) for key, item in value.items()}
        name = value.get("title", "")
        if not root and "properties" in value and re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", name):
            assert components.setdefault(name, value) == value, f"two different schemas named {name}"
            return {"$ref": f"#/components/schemas/{name}"}
        return value

    for name in list(components):
        components[name] = hoist(components[name], root=True)


def _referenced(components: dict, paths: dict) -> dict:
    """Only the schemas that the operations use, directly or through other schemas."""
    used, pending = set(), _refs_in(paths)
    while pending:
        name = pending.pop()
        if name not in used:
            used.add(name)
            pending |= _refs_in(components[name])
    return {name: schema for name, schema in components.items() if name in used}


def _refs_in(value) -> set[str]:
    return set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(value)))


def _link_creates_to_their_item(paths: dict) -> None:
    """OpenAPI links from each create (201 on ``/things``) to the get, update and delete of
    ``/things/{thing_id}``, with the new id taken from the answer, so that clients and stateful
    testers need not guess how the operations chain."""
    for path, item in paths.items():
        created = item.get("post", {}).get("responses", {}).get("201")
        if created is None:
            continue
        for other, operations in paths.items():
            parameter = re.fullmatch(re.escape(path) + r"/\{(\w+_id)\}", other)
            if parameter is None:
                continue
            created["links"] = {
                f"{method.capitalize()}Created": {
                    "operationId": operation["operationId"],
                    "parameters": {parameter.group(1): "$response.body#/id"},
                }
                for method, operation in sorted(operations.items())
            }


def _operation(rule, method: str, operation_id: str, spec: dict, components: dict) -> dict:
    operation = {
        "summary": spec["summary"],
        "operationId": operation_id,
        "tags": [spec["tag"]] if spec["tag"] else [],
        "parameters": [],
        "responses": {},
    }
    for arg in sorted(rule.arguments):
        operation["parameters"].append(
            {"name": arg, "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID}}
        )
    for name, schema in spec["query"].items():
        schema = schema() if callable(schema) else schema  # built now: e.g. the app's task types
        operation["parameters"].append({"name": name, "in": "query", "required": name in spec["required_query"], "schema": schema})
    for name, schema in spec["headers"].items():
        operation["parameters"].append({"name": name, "in": "header", "required": False, "schema": schema})
    if spec["body"] is not None:
        body_schema = (_update_schema if method in ("PUT", "PATCH") else _input_schema)(spec["body"], components)
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body_schema}}}
        if spec["example"] is not None:
            operation["requestBody"]["content"]["application/json"]["examples"] = {
                "seed": {"summary": "The seed's example", "value": spec["example"]}
            }
    if spec["upload"]:
        form = {"type": "object", "required": sorted(spec["upload"]), "properties": spec["upload"]}
        operation["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": form}}}
    ok = {"description": "Success"}
    if spec["response"] is not None:
        ok["content"] = {"application/json": {"schema": _schema(spec["response"], components)}}
    operation["responses"][str(spec["status"])] = ok
    common = set(COMMON_ERRORS) - ({401, 403} if spec["public"] else set())
    errors = set(spec["errors"]) | common  # a public view may still declare a 401 of its own (wrong password)
    if spec["body"] is None and not spec["upload"]:
        errors -= {400}
    else:
        errors |= {413}  # a body over the size limit (MAX_CONTENT_LENGTH) is refused before it is read
    for code in sorted(errors):
        operation["responses"][str(code)] = {
            "description": "Problem",
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    for code, other in sorted(spec["responses"].items()):
        answer = {"description": other["description"]}
        if other.get("response") is not None:
            answer["content"] = {"application/json": {"schema": _schema(other["response"], components)}}
        elif code >= 400:
            answer["content"] = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        if other.get("headers"):
            answer["headers"] = other["headers"]
        operation["responses"][str(code)] = answer
    operation["security"] = [] if spec["public"] else [{"bearerAuth": []}]
    return operation
