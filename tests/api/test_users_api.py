"""GET /users and /users/me (SPEC §12)."""

from tests.api.helpers import assert_problem
from tests.factories import make_org, make_user


def test_list_users_of_the_organization(api, org, admin):
    agent = make_user(org, email="agent@acme.example.com", role="agent", name="Al Agent")
    make_user(make_org("Beta Brokers"), email="stranger@beta.example.com")

    body = api.get("/api/v1/users").get_json()

    assert body["total"] == 2 and body["page"] == 1 and body["per_page"] == 50
    assert [(u["id"], u["email"], u["role"]) for u in body["items"]] == [
        (admin.id, admin.email, "admin"),
        (agent.id, "agent@acme.example.com", "agent"),
    ]
    item = body["items"][1]
    assert {"id", "organization_id", "email", "name", "role", "is_active", "created_at", "updated_at"} <= set(item)
    assert item["name"] == "Al Agent" and item["is_active"] is True and item["organization_id"] == org.id
    assert not any("password" in key for key in item)


def test_list_users_pages(api, org):
    for _ in range(3):
        make_user(org)
    body = api.get("/api/v1/users?per_page=2&page=2").get_json()
    assert body["total"] == 4 and len(body["items"]) == 2
    assert_problem(api.get("/api/v1/users?per_page=500"), 422, "per_page")


def test_me_is_the_caller(api_as, org):
    viewer = make_user(org, email="vera@acme.example.com", role="viewer", name="Vera")

    body = api_as(viewer).get("/api/v1/users/me").get_json()

    assert (body["id"], body["email"], body["name"], body["role"], body["organization_id"]) == (
        viewer.id,
        "vera@acme.example.com",
        "Vera",
        "viewer",
        org.id,
    )
    assert body["is_active"] is True and body["is_superuser"] is False


def test_users_need_a_token(client, admin):
    assert_problem(client.get("/api/v1/users"), 401)
    assert_problem(client.get("/api/v1/users/me"), 401)
