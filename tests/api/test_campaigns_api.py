"""The campaigns API: CRUD, and bad input that changes nothing (SPEC §4, §9)."""

import pytest

from tests.api.helpers import assert_problem, row_counts
from tests.factories import make_campaign, make_lead, make_user
from webapp.extensions import db
from webapp.models import AuditLog, Campaign

SPRING = {
    "name": "Spring auto push",
    "description": "Google Ads for auto quotes",
    "status": "active",
    "channel": "google_ads",
    "starts_at": "2025-03-01T00:00:00Z",
    "ends_at": "2025-05-31T23:59:00+00:00",
    "budget": "12500.50",
}


def test_create_returns_201_with_location_and_the_campaign(api, org):
    response = api.post("/api/v1/campaigns", json=SPRING)

    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"].endswith(f"/api/v1/campaigns/{body['id']}")
    assert body["organization_id"] == org.id
    assert (body["name"], body["status"], body["channel"], body["budget"]) == ("Spring auto push", "active", "google_ads", 12500.5)
    assert body["starts_at"].startswith("2025-03-01T00:00:00") and body["ends_at"].startswith("2025-05-31T23:59:00")
    assert {"created_at", "updated_at"} <= set(body)
    assert api.get(response.headers["Location"]).get_json() == body


def test_create_with_only_a_name_is_a_draft(api):
    body = api.post("/api/v1/campaigns", json={"name": "  Fall  ", "description": "", "channel": " "}).get_json()
    assert (body["name"], body["status"], body["description"], body["channel"], body["budget"]) == ("Fall", "draft", None, None, None)


def test_list_campaigns(api, org):
    first, second = make_campaign(org, name="A"), make_campaign(org, name="B")

    body = api.get("/api/v1/campaigns").get_json()

    assert (body["total"], body["page"], body["per_page"]) == (2, 1, 50)
    assert [item["id"] for item in body["items"]] == [first.id, second.id]


def test_put_changes_the_given_fields_and_keeps_the_others(api, org):
    campaign_id = api.post("/api/v1/campaigns", json=SPRING).get_json()["id"]

    body = api.put(f"/api/v1/campaigns/{campaign_id}", json={"status": "paused", "budget": 9000}).get_json()

    assert (body["status"], body["budget"], body["name"], body["channel"]) == ("paused", 9000, "Spring auto push", "google_ads")


def test_put_may_clear_optional_fields(api, org):
    campaign_id = api.post("/api/v1/campaigns", json=SPRING).get_json()["id"]
    body = api.put(f"/api/v1/campaigns/{campaign_id}", json={"description": "", "budget": None, "ends_at": None}).get_json()
    assert (body["description"], body["budget"], body["ends_at"]) == (None, None, None)


def test_delete_is_204_and_keeps_the_leads_of_the_campaign(api, org):
    campaign = make_campaign(org)
    lead = make_lead(org, campaign_id=campaign.id)

    response = api.delete(f"/api/v1/campaigns/{campaign.id}")

    assert response.status_code == 204
    assert_problem(api.get(f"/api/v1/campaigns/{campaign.id}"), 404)
    assert api.get(f"/api/v1/leads/{lead.id}").get_json()["campaign_id"] is None


def test_create_update_delete_are_audited(api, admin):
    campaign_id = api.post("/api/v1/campaigns", json={"name": "Audit me"}).get_json()["id"]
    api.put(f"/api/v1/campaigns/{campaign_id}", json={"status": "active"})
    api.delete(f"/api/v1/campaigns/{campaign_id}")

    entries = db.session.query(AuditLog).order_by(AuditLog.id).all()
    assert [(e.action, e.object_type, e.object_id, e.user_id) for e in entries] == [
        ("create", "Campaign", campaign_id, admin.id),
        ("update", "Campaign", campaign_id, admin.id),
        ("delete", "Campaign", campaign_id, admin.id),
    ]
    assert entries[1].changes == {"status": ["draft", "active"]}


@pytest.mark.parametrize("url", ["/api/v1/campaigns/987654"])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_unknown_campaign_is_404(api, url, method):
    assert_problem(api.request(method, url, json={"name": "x"}), 404)


BAD_CAMPAIGNS = [
    pytest.param({"description": "no name"}, "name", id="missing-name"),
    pytest.param({"name": ""}, "name", id="empty-name"),
    pytest.param({"name": "   "}, "name", id="blank-name"),
    pytest.param({"name": None}, "name", id="null-name"),
    pytest.param({"name": 42}, "name", id="number-name"),
    pytest.param({"name": "x" * 201}, "name", id="name-too-long"),
    pytest.param({"name": "X", "status": "running"}, "status", id="bad-status"),
    pytest.param({"name": "X", "starts_at": "2025-05-01T00:00:00Z", "ends_at": "2025-04-01T00:00:00Z"}, None, id="ends-before-starts"),
    pytest.param({"name": "X", "starts_at": "next tuesday"}, "starts_at", id="bad-date"),
    pytest.param({"name": "X", "budget": -10}, "budget", id="negative-budget"),
    pytest.param({"name": "X", "budget": "lots"}, "budget", id="text-budget"),
    pytest.param({"name": "X", "owner": "me"}, "owner", id="unknown-field"),
]


@pytest.mark.parametrize(("body", "field"), BAD_CAMPAIGNS)
def test_bad_campaign_is_422_and_creates_nothing(api, body, field):
    before = row_counts()

    problem = assert_problem(api.post("/api/v1/campaigns", json=body), 422, field)

    assert problem["errors"]
    assert row_counts() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"status": None}, "status"),
        ({"status": "over"}, "status"),
        ({"ends_at": "2020-01-01T00:00:00Z"}, "ends_at"),
        ({"color": "red"}, "color"),
    ],
)
def test_bad_update_is_422_and_changes_nothing(api, org, body, field):
    campaign_id = api.post("/api/v1/campaigns", json=SPRING).get_json()["id"]
    before = row_counts()
    stored = api.get(f"/api/v1/campaigns/{campaign_id}").get_json()

    assert_problem(api.put(f"/api/v1/campaigns/{campaign_id}", json=body), 422, field)

    assert row_counts() == before
    assert api.get(f"/api/v1/campaigns/{campaign_id}").get_json() == stored


def test_ends_before_starts_is_reported_on_a_field(api):
    body = api.post(
        "/api/v1/campaigns", json={"name": "X", "starts_at": "2025-05-01T00:00:00Z", "ends_at": "2025-04-01T00:00:00Z"}
    ).get_json()
    assert "ends_at" in body["detail"]


def test_malformed_json_is_400_and_changes_nothing(api):
    before = row_counts()
    assert_problem(api.post("/api/v1/campaigns", data="{name", headers={"Content-Type": "application/json"}), 400)
    assert row_counts() == before


def test_campaign_writes_need_a_configuring_role(api_as, org):
    campaign = make_campaign(org)
    for role in ("agent", "viewer"):
        client = api_as(make_user(org, role=role))
        assert client.get(f"/api/v1/campaigns/{campaign.id}").status_code == 200
        assert_problem(client.post("/api/v1/campaigns", json={"name": "Mine"}), 403)
    marketer = api_as(make_user(org, role="marketer"))
    assert marketer.post("/api/v1/campaigns", json={"name": "Ours"}).status_code == 201
    assert db.session.query(Campaign).count() == 2
