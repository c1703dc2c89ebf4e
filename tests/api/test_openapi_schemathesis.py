"""Property-based tests of every operation of /api/v1/openapi.json against the app (schemathesis, WSGI).

Each operation gets generated requests, valid and invalid, sent in-process with an admin's bearer
token; every response must be documented (status, content type, schema) and never a 5xx.
"""

from decimal import Decimal

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import token_for
from tests.factories import make_campaign, make_lead, make_user

MAX_EXAMPLES = 15
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def admin_headers(app, org, admin):
    """An admin's token, and a few objects with small ids so that generated ids find something."""
    agent = make_user(org, role="agent")
    for n in range(3):
        campaign = make_campaign(org, name=f"Campaign {n}", status="active", budget=Decimal("100.50"))
        make_lead(org, campaign_id=campaign.id, assigned_to_id=agent.id, tags=("vip", f"t{n}"))
    return {"Authorization": f"Bearer {token_for(app, admin)}"}


def exercise(operation, mode: GenerationMode, headers: dict) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
    def run(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


def test_every_operation_conforms_to_the_openapi_document(app, admin_headers, capsys):
    # One test walks the operations itself: schemathesis' lazy pytest integration does not run on pytest 9.
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    failures = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                exercise(operation, mode, admin_headers)
            except (Exception, BaseExceptionGroup) as exc:  # keep going: report every operation that fails
                failures.append(f"{operation.label} [{mode.value}]:\n{exc}")
    with capsys.disabled():
        print(
            f"\n[schemathesis] {len(operations)} operations, positive and negative, "
            f"up to {MAX_EXAMPLES} examples each: {len(failures)} failing"
        )
    assert len(operations) >= 14
    assert not failures, "\n\n".join(failures)


def test_the_document_describes_every_api_route(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    routes = {rule.rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1/")}
    documented = set(document["paths"])
    assert {route.replace("<int:", "{").replace(">", "}") for route in routes} - documented - {"/api/v1/openapi.json"} == set()
    assert document["openapi"].startswith("3.")
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_the_token_endpoint_documents_its_401(client):
    responses = client.get("/api/v1/openapi.json").get_json()["paths"]["/api/v1/auth/token"]["post"]["responses"]
    assert {"200", "401", "422", "429"} <= set(responses)
