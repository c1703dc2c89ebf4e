"""Bearer tokens, roles, the token endpoint's rate limit and superusers (SPEC §3, §9, §12, §13)."""

from datetime import datetime, timedelta, timezone

import jwt
import pytest
from sqlalchemy import select

from tests.api.helpers import assert_problem
from tests.conftest import ApiClient
from tests.factories import make_campaign, make_lead, make_org, make_user
from webapp.extensions import db
from webapp.models import AuditLog, Lead

PASSWORD = "secret-pass-1"


def ask_for_token(client, email, password=PASSWORD, ip="127.0.0.1"):
    return client.post("/api/v1/auth/token", json={"email": email, "password": password}, environ_base={"REMOTE_ADDR": ip})


# --- issuing tokens ---------------------------------------------------------------------------


def test_token_is_issued_for_right_credentials(app, client, admin):
    response = ask_for_token(client, admin.email)

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    claims = jwt.decode(body["access_token"], app.config["SECRET_KEY"], algorithms=["HS256"])
    assert claims["sub"] == str(admin.id)


def test_token_email_is_case_insensitive(client, admin):
    assert ask_for_token(client, "  ADMIN@Acme.Example.com ").status_code == 200


def test_issued_token_opens_the_api(client, admin):
    token = ask_for_token(client, admin.email).get_json()["access_token"]

    response = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200
    assert response.get_json()["email"] == admin.email


def test_wrong_password_is_401_problem(client, admin):
    body = assert_problem(ask_for_token(client, admin.email, "not-the-password"), 401)
    assert "password" in body["detail"].lower()


def test_unknown_email_is_the_same_401_as_a_wrong_password(client, admin):
    unknown = assert_problem(ask_for_token(client, "nobody@example.com"), 401)
    wrong = assert_problem(ask_for_token(client, admin.email, "nope-nope"), 401)
    assert unknown == wrong


def test_token_request_with_a_missing_field_is_422(client, admin):
    response = client.post("/api/v1/auth/token", json={"email": admin.email})
    assert_problem(response, 422, "password")


def test_token_request_that_is_not_json_is_400(client, admin):
    response = client.post("/api/v1/auth/token", data="email=x", content_type="application/json")
    assert_problem(response, 400)


def test_deactivated_user_gets_no_token(client, org):
    user = make_user(org, email="gone@acme.example.com")
    user.is_active = False
    db.session.commit()

    assert_problem(ask_for_token(client, user.email), 401)


# --- presenting tokens -------------------------------------------------------------------------


def test_missing_token_is_401(client, admin):
    body = assert_problem(client.get("/api/v1/leads"), 401)
    assert "token" in body["detail"].lower()


@pytest.mark.parametrize("header", ["Bearer not-a-jwt", "Bearer ", "Basic dXNlcjpwYXNz", "bearer a.b.c", "Token x"])
def test_malformed_token_is_401(client, admin, header):
    assert_problem(client.get("/api/v1/leads", headers={"Authorization": header}), 401)


def test_token_signed_with_another_key_is_401(client, admin):
    forged = jwt.encode(
        {"sub": str(admin.id), "exp": datetime.now(timezone.utc) + timedelta(hours=1)}, "someone-elses-key", algorithm="HS256"
    )
    assert_problem(client.get("/api/v1/leads", headers={"Authorization": f"Bearer {forged}"}), 401)


def test_unsigned_token_is_401(client, admin):
    unsigned = jwt.encode({"sub": str(admin.id), "exp": datetime.now(timezone.utc) + timedelta(hours=1)}, None, algorithm="none")
    assert_problem(client.get("/api/v1/leads", headers={"Authorization": f"Bearer {unsigned}"}), 401)


def test_expired_token_is_401(app, client, admin):
    past = datetime.now(timezone.utc) - timedelta(minutes=5)
    expired = jwt.encode({"sub": str(admin.id), "iat": past - timedelta(hours=1), "exp": past}, app.config["SECRET_KEY"], algorithm="HS256")

    body = assert_problem(client.get("/api/v1/leads", headers={"Authorization": f"Bearer {expired}"}), 401)
    assert "expired" in body["detail"]


def test_token_without_expiry_is_401(app, client, admin):
    forever = jwt.encode({"sub": str(admin.id)}, app.config["SECRET_KEY"], algorithm="HS256")
    assert_problem(client.get("/api/v1/leads", headers={"Authorization": f"Bearer {forever}"}), 401)


def test_token_of_a_deactivated_user_is_401(api, admin):
    assert api.get("/api/v1/leads").status_code == 200
    admin.is_active = False
    db.session.commit()

    assert_problem(api.get("/api/v1/leads"), 401)


def test_token_of_a_deleted_user_is_401(app, client, org):
    user = make_user(org)
    token = jwt.encode(
        {"sub": str(user.id), "exp": datetime.now(timezone.utc) + timedelta(hours=1)}, app.config["SECRET_KEY"], algorithm="HS256"
    )
    db.session.delete(user)
    db.session.commit()

    assert_problem(client.get("/api/v1/leads", headers={"Authorization": f"Bearer {token}"}), 401)


# --- roles -------------------------------------------------------------------------------------


def test_viewer_may_read_leads_but_not_create_them(api_as, org):
    viewer = api_as(make_user(org, role="viewer"))

    assert viewer.get("/api/v1/leads").status_code == 200
    body = assert_problem(viewer.post("/api/v1/leads", json={"first_name": "Vic"}), 403)
    assert "viewer" in body["detail"]
    assert db.session.scalar(select(Lead.id)) is None


def test_viewer_may_not_change_or_delete_a_lead(api_as, org):
    lead = make_lead(org)
    viewer = api_as(make_user(org, role="viewer"))

    assert_problem(viewer.patch(f"/api/v1/leads/{lead.id}", json={"status": "lost"}), 403)
    assert_problem(viewer.delete(f"/api/v1/leads/{lead.id}"), 403)


def test_agent_works_leads_but_may_not_configure_campaigns(api_as, org):
    agent = api_as(make_user(org, role="agent"))

    assert agent.post("/api/v1/leads", json={"first_name": "Al"}).status_code == 201
    assert agent.get("/api/v1/campaigns").status_code == 200
    assert_problem(agent.post("/api/v1/campaigns", json={"name": "Spring"}), 403)


def test_agent_may_not_change_or_delete_a_campaign(api_as, org):
    campaign = make_campaign(org)
    agent = api_as(make_user(org, role="agent"))

    assert_problem(agent.put(f"/api/v1/campaigns/{campaign.id}", json={"name": "Mine"}), 403)
    assert_problem(agent.delete(f"/api/v1/campaigns/{campaign.id}"), 403)


def test_marketer_may_list_users(api_as, org):
    response = api_as(make_user(org, role="marketer")).get("/api/v1/users")
    assert response.status_code == 200


def test_agent_may_not_list_users_but_sees_itself(api_as, org):
    agent_user = make_user(org, role="agent")
    agent = api_as(agent_user)

    assert_problem(agent.get("/api/v1/users"), 403)
    assert agent.get("/api/v1/users/me").get_json()["id"] == agent_user.id


# --- rate limit on the token endpoint -----------------------------------------------------------


def test_eleventh_failed_attempt_in_a_minute_for_one_email_is_429(client, admin):
    for attempt in range(10):  # a different client address each time: only the email is counted
        assert ask_for_token(client, admin.email, "wrong", ip=f"10.0.0.{attempt + 1}").status_code == 401

    response = ask_for_token(client, admin.email, "wrong", ip="10.0.1.1")

    body = assert_problem(response, 429)
    assert int(response.headers["Retry-After"]) > 0
    assert body["title"] == "Too Many Requests"


def test_a_locked_out_email_is_refused_even_with_the_right_password(client, admin):
    for attempt in range(11):
        ask_for_token(client, admin.email, "wrong", ip=f"10.0.0.{attempt + 1}")

    assert_problem(ask_for_token(client, admin.email, ip="10.0.2.1"), 429)


def test_failures_for_one_email_do_not_lock_out_another(client, org, admin):
    other = make_user(org, email="other@acme.example.com")
    for attempt in range(11):
        ask_for_token(client, admin.email, "wrong", ip=f"10.0.0.{attempt + 1}")

    assert ask_for_token(client, other.email, ip="10.0.3.1").status_code == 200


def test_eleventh_failed_attempt_in_a_minute_from_one_address_is_429(client, admin):
    for attempt in range(10):
        assert ask_for_token(client, f"guess{attempt}@example.com", "wrong", ip="192.0.2.7").status_code == 401

    response = ask_for_token(client, "guess-again@example.com", "wrong", ip="192.0.2.7")

    assert_problem(response, 429)
    assert "Retry-After" in response.headers


def test_successful_logins_are_not_rate_limited(client, admin):
    for _ in range(12):
        assert ask_for_token(client, admin.email).status_code == 200


# --- superusers --------------------------------------------------------------------------------


def test_superuser_acts_in_another_organization_with_organization_id(app, api_as, org):
    other_org = make_org("Beta Brokers")
    their_lead = make_lead(other_org, first_name="Beatrice")
    superuser = api_as(make_user(org, is_superuser=True))

    own = superuser.get("/api/v1/leads").get_json()
    theirs = superuser.get(f"/api/v1/leads?organization_id={other_org.id}").get_json()
    created = superuser.post(f"/api/v1/leads?organization_id={other_org.id}", json={"first_name": "Bob"})

    assert own["total"] == 0
    assert [item["id"] for item in theirs["items"]] == [their_lead.id]
    assert created.status_code == 201
    assert created.get_json()["organization_id"] == other_org.id


def test_superuser_with_an_unknown_organization_id_gets_404(api_as, org):
    superuser = api_as(make_user(org, is_superuser=True))

    assert_problem(superuser.get("/api/v1/leads?organization_id=987654"), 404)
    assert_problem(superuser.get("/api/v1/leads?organization_id=abc"), 404)


def test_organization_id_is_ignored_for_other_users(api, org):
    other_org = make_org("Beta Brokers")
    make_lead(other_org)
    own_lead = make_lead(org)

    listed = api.get(f"/api/v1/leads?organization_id={other_org.id}").get_json()

    assert [item["id"] for item in listed["items"]] == [own_lead.id]


# --- audit log ---------------------------------------------------------------------------------


def test_login_and_failed_login_are_audited(client, org, admin):
    ask_for_token(client, admin.email)
    ask_for_token(client, admin.email, "wrong")
    ask_for_token(client, "stranger@example.com", "wrong")

    entries = db.session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
    assert [(e.action, e.user_id, e.organization_id) for e in entries] == [
        ("login", admin.id, org.id),
        ("login_failed", None, org.id),
        ("login_failed", None, None),
    ]
    assert entries[0].object_type == "User" and entries[0].object_id == admin.id
    assert entries[1].changes["email"] == admin.email
    assert entries[2].changes["email"] == "stranger@example.com"
    assert all("password" not in str(e.changes) for e in entries)


def test_api_client_fixture_is_an_admin(api, admin):
    assert isinstance(api, ApiClient)
    assert api.get("/api/v1/users/me").get_json()["role"] == "admin"
