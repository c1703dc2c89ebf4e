"""The classes of an outside security probe, kept as the project's own tests: body size, deep JSON,
headers, impossible ids in signed tokens, and login timing."""

import io
import json
import statistics
import time

import jwt
import pytest

from tests.conftest import login_browser
from tests.factories import make_lead, make_user
from webapp.models import Lead


@pytest.fixture
def marketer(org):
    return make_user(org, email="mia@acme.example.com", role="marketer", name="Mia Marketer")


# --- size limits -------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_refused_with_413_before_it_is_read(app, api, session):
    body = json.dumps({"first_name": "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)})
    response = api.client.post(
        "/api/v1/leads", data=body, content_type="application/json", headers={"Authorization": f"Bearer {api.token}"}
    )
    assert response.status_code == 413
    assert response.content_type == "application/problem+json"
    assert session.query(Lead).count() == 0


def test_the_unauthenticated_token_endpoint_refuses_a_huge_body(app, client):
    response = client.post("/api/v1/auth/token", data=b"{" + b" " * (app.config["MAX_CONTENT_LENGTH"] + 1), content_type="application/json")
    assert response.status_code == 413 and response.content_type == "application/problem+json"


def test_a_huge_form_field_is_refused_with_413(app, client, marketer):
    login_browser(client, marketer.email)
    response = client.post("/leads/new", data={"first_name": "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)})
    assert response.status_code == 413


# --- deep JSON ---------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [100, 3000])
def test_deeply_nested_json_is_a_400_not_a_500(api, session, depth):
    nested = "[" * depth + "]" * depth
    for url, body in [
        ("/api/v1/leads", f'{{"first_name": "Deep", "tags": {nested}}}'),
        ("/api/v1/segments", f'{{"name": "Deep", "rules": [{{"field": "state", "operator": "in", "value": {nested}}}]}}'),
        ("/api/v1/automations", f'{{"name": "Deep", "trigger_type": "lead_created", "trigger_configuration": {{"x": {nested}}}}}'),
    ]:
        response = api.client.post(url, data=body, content_type="application/json", headers={"Authorization": f"Bearer {api.token}"})
        assert response.status_code == 400, (url, response.status_code)
        assert "nested deeper than" in response.json["detail"]
    assert session.query(Lead).count() == 0


# --- headers -----------------------------------------------------------------------------------


def test_pages_carry_a_content_security_policy_without_eval_and_are_not_cached(client, marketer):
    login_browser(client, marketer.email)
    response = client.get("/leads/")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-eval" not in policy and "frame-ancestors 'self'" in policy
    assert response.headers["Cache-Control"] == "no-store"
    assert "onsubmit=" not in client.get("/leads/").get_data(as_text=True)


def test_api_answers_are_not_cached(api):
    assert api.get("/api/v1/leads").headers["Cache-Control"] == "no-store"


# --- impossible ids in signed tokens -----------------------------------------------------------


def test_a_signed_token_naming_a_huge_user_id_is_a_401(app, client):
    token = jwt.encode({"sub": str(10**30), "exp": 2**40}, app.config["SECRET_KEY"], algorithm="HS256")
    response = client.get("/api/v1/leads", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_an_unsubscribe_token_naming_a_huge_lead_id_is_a_404(app, client, org):
    make_lead(org)
    with app.test_request_context():
        from webapp.email_templates import unsubscribe

        token = unsubscribe._serializer().dumps([1, 10**30])
    assert client.get(f"/u/{token}").status_code == 404


def test_a_huge_id_in_a_query_string_is_a_404(client, marketer, org):
    from webapp.segments.services import create_segment

    login_browser(client, marketer.email)
    segment, _ = create_segment(org.id, {"name": "Any", "rules": [{"field": "state", "operator": "equals", "value": "TX"}]})
    from webapp.extensions import db

    db.session.commit()
    assert client.get(f"/segments/{segment.id}/why?lead_id={10**30}").status_code == 404


# --- timing --------------------------------------------------------------------------------------


def test_an_unknown_address_takes_as_long_as_a_wrong_password(client, marketer):
    def timed(email):
        start = time.perf_counter()
        assert client.post(
            "/api/v1/auth/token",
            json={"email": email, "password": "wrong-password"},
            environ_base={"REMOTE_ADDR": f"10.9.{len(email)}.{int(start * 1000) % 250}"},
        ).status_code in (401, 429)
        return time.perf_counter() - start

    unknown = statistics.median(timed(f"nobody{n}@acme.example.com") for n in range(15))
    known = statistics.median(timed(marketer.email) for _ in range(15))
    assert unknown / known >= 0.5, (unknown, known)


# --- names that would break an email header ------------------------------------------------------


def test_control_characters_in_names_are_folded_to_spaces_on_save(api):
    response = api.post(
        "/api/v1/leads", json={"first_name": "Ann\r\nBcc: x@evil.example", "last_name": "Lee\tSmith", "email": "ann@example.com"}
    )
    assert response.status_code == 201
    assert (response.json["first_name"], response.json["last_name"]) == ("Ann Bcc: x@evil.example", "Lee Smith")
    assert api.post("/api/v1/leads", json={"first_name": "Nul\x00"}).status_code == 422


# --- pagination bounds ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/leads/?page=100000000000000000000",
        "/admin/audit?page=100000000000000000000",
        "/leads/?page=-5",
        "/outbox/?page=abc",
        "/scheduled-tasks/?page=99999999999",
    ],
)
def test_page_numbers_out_of_range_show_a_page_not_an_error(app, client, admin, org, url):
    make_lead(org)
    login_browser(client, admin.email)
    assert client.get(url).status_code == 200


def test_api_page_numbers_out_of_range_are_a_422(api):
    assert api.get("/api/v1/leads?page=100000000000000000000").status_code == 422
    assert api.get("/api/v1/leads?per_page=0").status_code == 422


# --- a body that never arrives -------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/api/v1/auth/token", "/api/v1/leads", "/login"])
def test_a_body_shorter_than_its_content_length_is_a_400(api, client, url):
    response = client.post(
        url,
        input_stream=io.BytesIO(b"{"),
        content_type="application/json",
        headers={"Content-Length": "1000000", "Authorization": f"Bearer {api.token}"},
    )
    assert response.status_code == 400
