"""A Python client generated from the served OpenAPI document with ``openapi-python-client``, for the tests.

``generate_client`` runs the generator on the document (as a subprocess, once per test module), imports the
package it writes and indexes its operations by ``"METHOD /path"`` (read from the generated modules, so that a
renamed operationId does not break the tests). ``GeneratedApi`` drives the Flask app through the generated
client over ``httpx.WSGITransport`` (no server, no network), records every request body that the client sends,
and checks every parsed answer against the raw JSON (``conformance_errors``): the generated types must hold the
values that the server actually sends.
"""

import dataclasses
import datetime
import importlib
import json
import os
import re
import subprocess
import sys
import time
import types
import typing
from pathlib import Path
from typing import Any

import attrs
import httpx

PACKAGE = "leadflow_generated_client"
BASE_URL = "http://localhost"
JSON_METHODS = ("post", "put", "patch", "delete")
DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")


@dataclasses.dataclass
class GeneratedClient:
    """The generated package, the generator's output and an index of its operations."""

    document: dict
    package: types.ModuleType
    models: types.ModuleType
    output: str
    seconds: float
    version: str
    operations: dict[str, types.ModuleType]  # "PATCH /api/v1/leads/{lead_id}" -> the generated module

    def operation(self, route: str) -> types.ModuleType:
        assert route in self.operations, f"the generated client has no operation for {route}; it has {sorted(self.operations)}"
        return self.operations[route]

    def routes_of_document(self) -> list[str]:
        return [f"{method.upper()} {path}" for path, item in self.document["paths"].items() for method in item if method != "parameters"]


def generate_client(document: dict, directory: Path) -> GeneratedClient:
    """Write the document to ``directory``, generate the client next to it and import it."""
    import openapi_python_client

    doc_path = directory / "openapi.json"
    doc_path.write_text(json.dumps(document, indent=2))
    output_path = directory / PACKAGE
    command = [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(doc_path), "--output-path", str(output_path)]
    command += ["--meta", "none"]  # no --fail-on-warning: the client is still written, and the tests report the warnings
    # The generator formats its output with ruff (a post hook looked up on PATH): the ruff of this environment.
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=directory, env=env, capture_output=True, text=True, timeout=120)
    seconds = time.perf_counter() - started
    output = (completed.stdout + completed.stderr).strip()
    assert completed.returncode == 0, f"openapi-python-client failed (exit {completed.returncode}):\n{output}"

    sys.path.insert(0, str(directory))
    try:
        package = importlib.import_module(PACKAGE)
        models = importlib.import_module(f"{PACKAGE}.models")
        operations = {}
        for module_path in sorted((output_path / "api").glob("*/*.py")):
            if module_path.name == "__init__.py":
                continue
            source = module_path.read_text()
            method = re.search(r'"method": "(\w+)"', source)
            url = re.search(r'"url": "([^"]+)"', source)
            assert method and url, f"cannot tell the route of the generated module {module_path}"
            module = importlib.import_module(f"{PACKAGE}.api.{module_path.parent.name}.{module_path.stem}")
            operations[f"{method.group(1).upper()} {url.group(1)}"] = module
    finally:
        sys.path.remove(str(directory))
    return GeneratedClient(document, package, models, output, seconds, openapi_python_client.__version__, operations)


def unload_generated_package() -> None:
    for name in [name for name in sys.modules if name == PACKAGE or name.startswith(PACKAGE + ".")]:
        del sys.modules[name]


# --- the types of the generated models against the values the server sends ---------------------------------


def conformance_errors(value: Any, hint: Any, where: str, generated: GeneratedClient) -> list[str]:
    """Where ``value`` (as parsed by the generated client) does not have the generated type ``hint``."""
    unset = generated.package.types.Unset
    if hint is Any:
        return []
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if any(not conformance_errors(value, option, where, generated) for option in options):
            return []
        return [f"{where}: {value!r} ({type(value).__name__}) is none of {' | '.join(_name(o) for o in options)}"]
    if hint is type(None):
        return [] if value is None else [f"{where}: {value!r} is not None"]
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: {value!r} is not a list"]
        (item,) = typing.get_args(hint)
        return [error for i, element in enumerate(value) for error in conformance_errors(element, item, f"{where}[{i}]", generated)]
    if origin is dict:
        return [] if isinstance(value, dict) else [f"{where}: {value!r} is not an object"]
    if hint is unset:
        return [] if isinstance(value, unset) else [f"{where}: {value!r} is not UNSET"]
    if hint is bool:
        return [] if isinstance(value, bool) else [f"{where}: {value!r} ({type(value).__name__}) is not a bool"]
    if hint in (int, float):
        ok = isinstance(value, int if hint is int else (int, float)) and not isinstance(value, bool)
        return [] if ok else [f"{where}: {value!r} ({type(value).__name__}) is not {hint.__name__}"]
    if isinstance(hint, type) and attrs.has(hint):
        return model_errors(value, where, generated) if isinstance(value, hint) else [f"{where}: {value!r} is not a {hint.__name__}"]
    if isinstance(hint, type):
        return [] if isinstance(value, hint) else [f"{where}: {value!r} ({type(value).__name__}) is not {hint.__name__}"]
    return [f"{where}: cannot check the generated type {hint!r}"]


def model_errors(model: Any, where: str, generated: GeneratedClient) -> list[str]:
    """Every field of a parsed generated model has its declared type; an object with declared properties got no others."""
    cls = type(model)
    module = sys.modules[cls.__module__]
    hints = typing.get_type_hints(cls, globalns=vars(module), localns={**vars(generated.models), "datetime": datetime})
    declared = [f.name for f in attrs.fields(cls) if f.name != "additional_properties"]
    errors = []
    extra = getattr(model, "additional_properties", None)
    if declared and extra:
        errors.append(f"{where}: the server sent properties that {cls.__name__} does not declare: {sorted(extra)}")
    for name in declared:
        errors += conformance_errors(getattr(model, name), hints[name], f"{where}.{name}", generated)
    return errors


def normalized(value: Any) -> Any:
    """JSON with its date-times parsed: ``Z`` and ``+00:00`` are the same instant."""
    if isinstance(value, dict):
        return {key: normalized(item) for key, item in value.items()}
    if isinstance(value, list):
        return [normalized(item) for item in value]
    if isinstance(value, str) and DATETIME.match(value):
        return datetime.datetime.fromisoformat(value)
    return value


def nullable_fields(model: type, generated: GeneratedClient) -> list[str]:
    """The fields of a generated model whose type admits ``None``."""
    module = sys.modules[model.__module__]
    hints = typing.get_type_hints(model, globalns=vars(module), localns={**vars(generated.models), "datetime": datetime})
    return [f.name for f in attrs.fields(model) if f.name in hints and type(None) in typing.get_args(hints[f.name])]


def is_generated_model(hint: Any, generated: GeneratedClient) -> bool:
    return isinstance(hint, type) and attrs.has(hint) and hint.__module__.startswith(f"{generated.models.__name__}.")


def required_fields(model: type) -> list[str]:
    """The fields that a generated model cannot be built without (the document's ``required``)."""
    return [f.name for f in attrs.fields(model) if f.default is attrs.NOTHING and f.init]


def _name(hint: Any) -> str:
    return getattr(hint, "__name__", repr(hint))


# --- driving the app through the generated client ---------------------------------------------------------


class GeneratedApi:
    """The generated client bound to the Flask app; ``call`` checks the status and the parsed answer."""

    def __init__(self, generated: GeneratedClient, app, token: str | None = None):
        self.generated, self.sent = generated, []
        transport = httpx.WSGITransport(app=app)
        hooks = {"request": [self._record]}
        if token is None:
            self.client = generated.package.Client(base_url=BASE_URL, raise_on_unexpected_status=False)
            headers = {}
        else:
            self.client = generated.package.AuthenticatedClient(base_url=BASE_URL, token=token, raise_on_unexpected_status=False)
            headers = {self.client.auth_header_name: f"{self.client.prefix} {token}"}
        # set_httpx_client replaces the client's own settings (headers included): the token goes in here.
        self.client.set_httpx_client(httpx.Client(transport=transport, base_url=BASE_URL, headers=headers, event_hooks=hooks))

    def _record(self, request: httpx.Request) -> None:
        body = request.read()
        if request.method.lower() in JSON_METHODS and body:
            self.sent.append((f"{request.method} {request.url.path}", json.loads(body)))

    def last_body_sent(self) -> dict:
        assert self.sent, "the generated client sent no body"
        return self.sent[-1][1]

    def send(self, route: str, **kwargs):
        """Call the generated operation of ``route`` and return its ``Response`` whatever the status."""
        return self.generated.operation(route).sync_detailed(client=self.client, **kwargs)

    def call(self, route: str, expect: int, **kwargs):
        """Call the generated operation of ``route``; the answer must have status ``expect`` and match its generated model."""
        response = self.send(route, **kwargs)
        text = response.content.decode(errors="replace")
        assert response.status_code == expect, f"{route} answered {int(response.status_code)}, not {expect}: {text[:2000]}"
        if response.content:
            raw = json.loads(response.content)
            parsed = response.parsed
            assert parsed is not None, f"{route}: the generated client did not parse the {expect} answer: {text[:2000]}"
            if attrs.has(type(parsed)):
                errors = model_errors(parsed, type(parsed).__name__, self.generated)
                assert not errors, f"{route}: the answer does not fit the generated model:\n" + "\n".join(errors)
                again = parsed.to_dict()
                assert normalized(again) == normalized(raw), (
                    f"{route}: the generated model does not give back the answer:\n{again}\n!=\n{raw}"
                )
        return response

    def raw(self, response) -> dict:
        return json.loads(response.content)
