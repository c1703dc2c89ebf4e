"""Property-based tests of every operation of /api/v1/openapi.json against the app (schemathesis, WSGI).

Each operation gets generated requests, valid and invalid, sent in-process with an admin's bearer
token, with the checks of schemathesis' ``--checks all`` but two: ensure_resource_availability (SPEC
§12's idempotent replay answers the first 201 even for a lead deleted since) and ignored_auth (it
re-sends with the configured credentials still attached; tests/api/test_auth_api.py and the tenancy
walk hold every route to 401/403/404). Valid requests must be accepted and invalid ones rejected;
every response must be documented (status, content type, headers, schema) and never a 5xx. A
stateful run then follows the document's links (create → get → update → delete).
"""

import re
from decimal import Decimal

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    missing_required_header,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
    use_after_free,
)

from tests.conftest import empty_database, token_for
from tests.factories import make_campaign, make_lead, make_org, make_user
from webapp.automations.engine import execute_run
from webapp.automations.services import TRIGGER_KEYS

MAX_EXAMPLES = 15
STATEFUL_SCENARIOS = 40
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    positive_data_acceptance,
    negative_data_rejection,
    missing_required_header,
    response_headers_conformance,
    unsupported_method,
]
# A body over the size limit is rejected before it is read (413, documented on every operation with a
# body): long enough invalid text can get there before its maxLength is checked.
REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]


def config_for(headers: dict) -> SchemathesisConfig:
    """Schemathesis' configuration: an admin's credentials (so that it knows the requests carry them)
    and the statuses that reject invalid data."""
    return SchemathesisConfig.from_dict({"headers": headers, "checks": {"negative_data_rejection": {"expected-statuses": REJECTIONS}}})


def build_world(app, client) -> tuple[dict, dict]:
    """An organization with an admin, and a few objects of each kind; returns the admin's headers and
    the objects' ids by the body field that refers to them."""
    org = make_org("Acme Insurance")
    admin = make_user(org, email="admin@acme.example.com", role="admin", name="Ada Admin")
    agent = make_user(org, role="agent")
    campaigns, leads = [], []
    for n in range(3):
        campaigns.append(make_campaign(org, name=f"Campaign {n}", status="active", budget=Decimal("100.50")))
        leads.append(make_lead(org, campaign_id=campaigns[-1].id, assigned_to_id=agent.id, tags=("vip", f"t{n}")))
    headers = {"Authorization": f"Bearer {token_for(app, admin)}"}

    def post(path: str, body: dict) -> dict:
        response = client.post(f"/api/v1{path}", json=body, headers=headers)
        assert response.status_code in (200, 201, 202), response.get_json()
        return response.get_json()

    post("/segments", {"name": "Static", "is_dynamic": False})
    segment = post("/segments", {"name": "New leads", "rules": [{"field": "status", "operator": "equals", "value": "new"}]})
    template = post("/automations/email-templates", {"name": "Hi", "subject": "Hi", "body_text": "Hi"})
    schedule = {"schedule": "every 1 days", "segment_id": segment["id"]}
    time_based = post("/automations", {"name": "Daily", "trigger_type": "time_based", "trigger_configuration": schedule})
    step = {"action_type": "add_tag", "configuration": {"tag": "later"}, "delay_minutes": 60}
    delayed = post("/automations", {"name": "Later", "trigger_type": "manual", "is_active": True, "actions": [step]})
    started = post(f"/automations/{delayed['id']}/trigger", {"lead_id": leads[0].id})
    execute_run(started["runs"][0]["id"])  # the run reaches its first step (a delayed one: it waits)
    run = client.get(f"/api/v1/automations/{delayed['id']}/runs", headers=headers).get_json()["items"][0]
    users = [admin.id, agent.id]
    existing = {
        "assigned_to_id": users,
        "assignee_id": users,
        "user_id": users,
        "campaign_id": [c.id for c in campaigns],
        "lead_id": [lead.id for lead in leads],
        "lead_ids": [lead.id for lead in leads],
        "segment_id": [segment["id"]],  # dynamic: refresh_segment takes no other
        "template_id": [template["id"]],
        "automation_id": [time_based["id"]],  # recurring_campaign takes no other
        "run_id": [run["id"]],
        "step_id": [run["steps"][0]["id"]],
    }
    return headers, existing


@pytest.fixture
def world(app_ctx, client):
    return build_world(app_ctx, client)


def refer_to_existing(value, existing: dict, key: str | None = None):
    """A generated body made coherent in what a document cannot say: its references name objects of
    this organization (the server answers 422 "no such user" for the others), as schemathesis' guide
    advises, a campaign does not end before it starts, and a consent was not captured in the future."""
    if isinstance(value, dict):
        value = {name: refer_to_existing(item, existing, name) for name, item in value.items()}
        if isinstance(value.get("starts_at"), str) and isinstance(value.get("ends_at"), str):
            value["ends_at"] = value["starts_at"]
        if isinstance(value.get("captured_at"), str):  # a consent's moment is not in the future (said in words)
            value["captured_at"] = "2026-01-01T00:00:00Z"
        return value
    if isinstance(value, list):
        return [refer_to_existing(item, existing, key) for item in value]
    if key in existing and isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer():
        return existing[key][int(value) % len(existing[key])]
    return value


def coherent_journey(value):
    """Generated steps made coherent in what a document cannot say (it says so in words): a split's
    weights sum to 100 and its branches are named after them; nothing follows an exit in its list."""
    if isinstance(value, list):
        steps = [coherent_journey(item) for item in value]
        exits = [index for index, step in enumerate(steps) if isinstance(step, dict) and step.get("action_type") == "exit"]
        return steps[: exits[0] + 1] if exits else steps
    if not isinstance(value, dict):
        return value
    value = {name: coherent_journey(item) for name, item in value.items()}
    weights = (value.get("configuration") or {}).get("weights") if value.get("action_type") == "split" else None
    if isinstance(weights, dict) and 2 <= len(weights) <= 5:
        names = list(weights)
        value["configuration"]["weights"] = {name: 100 // len(names) for name in names[:-1]}
        value["configuration"]["weights"][names[-1]] = 100 - 100 // len(names) * (len(names) - 1)
        if isinstance(value.get("branches"), dict):
            value["branches"] = {name: steps for name, steps in value["branches"].items() if name in weights}
    return value


VALID_SUPPRESSED = {"phone": "(512) 555-0100", "domain": "example.com"}


def trigger_fits(body: dict) -> bool:
    """Whether a body's trigger_type and trigger_configuration (when both are sent) fit each other."""
    trigger_type, configuration = body.get("trigger_type"), body.get("trigger_configuration")
    if trigger_type not in TRIGGER_KEYS or not isinstance(configuration, dict):
        return True
    keys = TRIGGER_KEYS[trigger_type]
    required = {key for key, kind in keys.items() if isinstance(kind, str) and kind.endswith("!")}
    return set(configuration) <= set(keys) and required <= set(configuration)


def make_coherent(case, existing: dict) -> None:
    """A valid generated case, with references to existing objects (see ``refer_to_existing``) and
    coherent journeys (``coherent_journey``); an update of an automation's trigger or of a task's type sends
    the type and its configuration or payload together (they must fit the type, the stored one when
    none is sent, which a document cannot know)."""
    if isinstance(case.body, (dict, list)) and case.media_type == "application/json":  # a multipart body carries its file as is
        case.body = coherent_journey(refer_to_existing(case.body, existing))
    for kind, settings_of_kind in (("trigger_type", "trigger_configuration"), ("task_type", "payload")):
        if case.method == "PUT" and isinstance(case.body, dict) and (kind in case.body) != (settings_of_kind in case.body):
            case.body.pop(kind, None)
            case.body.pop(settings_of_kind, None)
    if case.method == "PUT" and isinstance(case.body, dict) and not trigger_fits(case.body):
        # Sent together, a trigger type and its configuration must fit each other: an update body's
        # schema cannot pair them without breaking generated clients (the create body's oneOf does).
        case.body.pop("trigger_type", None)
        case.body.pop("trigger_configuration", None)
    if isinstance(case.body, dict) and case.body.get("kind") in VALID_SUPPRESSED and "value" in case.body:
        case.body["value"] = VALID_SUPPRESSED[case.body["kind"]]  # a numbering plan and DNS rules: no pattern states them
    if case.query and "lead_ids" in case.query:
        case.query["lead_ids"] = ",".join(str(i) for i in existing["lead_ids"])


def exercise(operation, mode: GenerationMode, existing: dict) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
    def run(case):
        if mode is GenerationMode.POSITIVE:
            make_coherent(case, existing)
        case.call_and_validate(checks=CHECKS)

    run()


def test_every_operation_conforms_to_the_openapi_document(app, world, capsys):
    admin_headers, existing = world
    # One test walks the operations itself: schemathesis' lazy pytest integration does not run on pytest 9.
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=config_for(admin_headers))
    # Deletes last: the objects that generated references are mapped to stay for the other operations.
    operations = sorted((result.ok() for result in schema.get_all_operations()), key=lambda operation: operation.method == "delete")
    failures = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                exercise(operation, mode, existing)
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, operation.label  # an operation without inputs has no invalid request
            except (Exception, BaseExceptionGroup) as exc:  # keep going: report every operation that fails
                failures.append(f"{operation.label} [{mode.value}]:\n{exc}")
    with capsys.disabled():
        print(
            f"\n[schemathesis] {len(operations)} operations, positive and negative, "
            f"up to {MAX_EXAMPLES} examples each, all checks: {len(failures)} failing"
        )
    assert len(operations) >= 14
    assert not failures, "\n\n".join(failures)


def test_chains_of_operations_that_follow_the_documents_links_conform(app, client, world, capsys):
    """Stateful: create, then get, update and delete what was created through the document's links,
    with every check, including use-after-free (a deleted object must stay gone). Failures are
    collected as they happen. Each scenario starts from the same database (emptied, ids from 1, the
    same objects made again), so that the same draws meet the same answers."""
    admin_headers, existing = world
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=config_for(admin_headers))
    failures, steps = [], []

    class Chains(schema.as_state_machine()):
        def setup(self):
            empty_database()
            build_world(app, client)

        def before_call(self, case):
            if case.meta is None or not case.meta.generation.mode.is_negative:
                make_coherent(case, existing)

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            steps.append(case.operation.label)
            try:
                case.validate_response(response, checks=[*CHECKS, use_after_free], transport_kwargs=kwargs)
            except FailureGroup as exc:
                failures.append(f"{case.operation.label}:\n{exc}")

    Chains.run(
        settings=settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=6,
            phases=[Phase.generate],
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
    )
    linked = [label for label in steps if "{" in label]
    with capsys.disabled():
        print(
            f"\n[schemathesis stateful] {STATEFUL_SCENARIOS} scenarios, {len(steps)} calls "
            f"({len(linked)} on linked items): {len(failures)} failing"
        )
    assert linked, "no scenario followed a link"
    assert not failures, "\n\n".join(failures)


def test_the_document_describes_every_api_route(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    routes = {rule.rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1/")}
    documented = set(document["paths"])
    assert {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route) for route in routes} - documented - {"/api/v1/openapi.json"} == set()
    assert document["openapi"].startswith("3.")
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_the_token_endpoint_documents_its_401(client):
    responses = client.get("/api/v1/openapi.json").get_json()["paths"]["/api/v1/auth/token"]["post"]["responses"]
    assert {"200", "401", "422", "429"} <= set(responses)
