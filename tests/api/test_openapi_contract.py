"""The served OpenAPI document is valid OpenAPI 3.1 and tells integrators the truth about updates."""

from collections import Counter

from openapi_spec_validator import validate

UPDATE_METHODS = ("put", "patch")


def document(client) -> dict:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json


def resolve(doc: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def test_the_served_document_is_valid_openapi_3_1(client):
    doc = document(client)
    assert doc["openapi"].startswith("3.1")
    validate(doc)  # raises with the first error


def test_every_operation_id_is_unique_and_every_operation_says_its_security(client):
    operations = [op for path in document(client)["paths"].values() for op in path.values()]
    repeated = [name for name, count in Counter(op["operationId"] for op in operations).items() if count > 1]
    assert repeated == []
    assert all("security" in op for op in operations)
    token = document(client)["paths"]["/api/v1/auth/token"]["post"]
    assert token["security"] == []


def test_no_update_body_declares_a_default(client):
    doc = document(client)
    offenders = []
    for path, item in doc["paths"].items():
        for method in UPDATE_METHODS:
            body = item.get(method, {}).get("requestBody")
            if not body:
                continue
            schema = resolve(doc, body["content"]["application/json"]["schema"])
            offenders += [f"{method.upper()} {path}: {name}" for name, prop in schema["properties"].items() if "default" in prop]
            assert not schema.get("required"), f"{method.upper()} {path} requires fields, but an update changes only those given"
    assert offenders == []


def test_put_and_patch_of_a_lead_are_two_operations(client):
    lead = document(client)["paths"]["/api/v1/leads/{lead_id}"]
    assert lead["put"]["operationId"] != lead["patch"]["operationId"]


def test_each_create_links_to_the_get_update_and_delete_of_what_it_created(client):
    doc = document(client)
    links = doc["paths"]["/api/v1/leads"]["post"]["responses"]["201"]["links"]
    operation_ids = {op["operationId"] for op in doc["paths"]["/api/v1/leads/{lead_id}"].values()}
    assert {link["operationId"] for link in links.values()} == operation_ids
    assert all(link["parameters"] == {"lead_id": "$response.body#/id"} for link in links.values())
    creates = [path for path, item in doc["paths"].items() if "201" in item.get("post", {}).get("responses", {})]
    linked = [path for path in creates if "links" in doc["paths"][path]["post"]["responses"]["201"]]
    assert len(linked) >= 6, linked


def _texts(schema, path="") -> list[tuple[str, dict]]:
    """Every string schema within ``schema``, with where it is."""
    found = []
    if isinstance(schema, dict):
        if schema.get("type") == "string":
            found.append((path, schema))
        for key, value in schema.items():
            found += _texts(value, f"{path}/{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            found += _texts(value, f"{path}/{index}")
    return found


def test_every_text_of_a_request_body_says_it_holds_no_nul(client):
    import jsonschema_rs

    doc = document(client)
    bodies = {name: schema for name, schema in doc["components"]["schemas"].items() if name.endswith(("In", "Update"))}
    silent = []
    for name, schema in bodies.items():
        for where, text in _texts(schema):
            if {"enum", "const", "format"} & set(text):
                continue
            validator = jsonschema_rs.validator_for({k: v for k, v in text.items() if k in ("type", "pattern")})
            if validator.is_valid("a\x00b"):
                silent.append(f"{name}{where}")
    assert silent == []


def test_a_number_is_not_a_moment(api):
    response = api.post("/api/v1/campaigns", json={"name": "Spring", "ends_at": 1_700_000_000})
    assert response.status_code == 422
    assert response.get_json()["errors"] == [
        {"field": "ends_at", "message": "must be a date and time in ISO 8601, like 2025-05-01T09:00:00Z"}
    ]


def test_the_lead_state_pattern_admits_exactly_the_state_codes_in_any_case(client):
    import re

    from webapp.models.leads import US_STATES

    lead = resolve(document(client), {"$ref": "#/components/schemas/LeadFieldsIn"})
    properties = lead["properties"] if "properties" in lead else lead["anyOf"][0]["properties"]
    state = next(alternative for alternative in properties["state"]["anyOf"] if alternative.get("type") == "string")
    pattern = re.compile(state["pattern"])
    assert all(pattern.search(code) and pattern.search(code.lower()) and pattern.search(code.title()) for code in US_STATES)
    assert not any(pattern.search(word) for word in ("QP", "T", "TXX", "Texas", " TX"))


def test_the_seeds_examples_are_in_the_document_fit_their_schemas_and_are_accepted(client, api, admin):
    """The seed's JSON examples (a requirement: they stay valid) are shown on the operations that take
    them, the document's schemas admit them, and the server creates them in order."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    doc = document(client)
    registry = Registry().with_resource(
        "urn:leadflow", Resource.from_contents({**doc, "$schema": "https://json-schema.org/draft/2020-12/schema"})
    )
    shown = {}
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            if "examples" in content:
                ref = content["schema"]["$ref"].replace("#/", "urn:leadflow#/")
                validator = Draft202012Validator({"$ref": ref}, registry=registry)
                value = content["examples"]["seed"]["value"]
                assert list(validator.iter_errors(value)) == [], f"{method.upper()} {path}: the seed's example does not fit"
                shown[f"{method.upper()} {path}"] = value
    assert set(shown) == {"POST /api/v1/segments", "POST /api/v1/automations/email-templates", "POST /api/v1/automations"}
    for route in ("POST /api/v1/automations/email-templates", "POST /api/v1/segments", "POST /api/v1/automations"):
        response = api.post(route.split(" ")[1], json=shown[route])  # the automation's template 1 and assignee 1 exist by then
        assert response.status_code == 201, response.get_json()
