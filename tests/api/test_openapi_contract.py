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
