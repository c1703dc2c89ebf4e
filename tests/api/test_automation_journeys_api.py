"""An automation's versions and stats through the API (SPEC §15): their shapes, roles and tenancy."""

from tests.automations.helpers import make_automation, step
from tests.factories import make_lead, make_org, make_user
from webapp.automations.engine import execute_run

JOURNEY = [
    {
        "action_type": "branch",
        "configuration": {"rules": [{"field": "status", "operator": "equals", "value": "new"}]},
        "branches": {"yes": [step("add_tag", tag="fresh")], "no": [{"action_type": "exit", "configuration": {}}]},
    },
    step("add_tag", tag="after"),
]
ACTION_STATS_KEYS = {"action_id", "entered", "completed", "skipped", "failed", "waiting", "branches", "emails"}


def test_stats_count_runs_by_status_and_each_step_with_its_branches(api, org):
    automation = make_automation(api, name="Journey", trigger_type="manual", actions=JOURNEY)
    lead = make_lead(org, status="new")
    started = api.post(f"/api/v1/automations/{automation['id']}/trigger", json={"lead_id": lead.id}).json
    execute_run(started["runs"][0]["id"])

    stats = api.get(f"/api/v1/automations/{automation['id']}/stats")
    assert stats.status_code == 200, stats.json
    assert set(stats.json) == {"runs", "goal_reached", "actions"}
    assert stats.json["runs"] == {"completed": 1} and stats.json["goal_reached"] == 0
    by_id = {counts["action_id"]: counts for counts in stats.json["actions"]}
    assert all(set(counts) == ACTION_STATS_KEYS for counts in by_id.values())
    email_counts = {"sent", "delivered", "opened", "clicked", "bounced", "complained", "unsubscribed"}
    assert all(set(counts["emails"]) == email_counts for counts in by_id.values())
    flow = automation["actions"][0]
    assert by_id[flow["id"]]["entered"] == 1 and by_id[flow["id"]]["branches"] == {"yes": 1}
    assert by_id[flow["branches"]["yes"][0]["id"]]["completed"] == 1
    assert by_id[flow["branches"]["no"][0]["id"]]["entered"] == 0

    run = api.get(f"/api/v1/automations/runs/{started['runs'][0]['id']}").json
    assert run["version"] == 1
    assert [entry["action_id"] for entry in run["path"]][:2] == [flow["id"], flow["branches"]["yes"][0]["id"]]
    assert run["path"][0]["branch"] == "yes"


def test_a_viewer_reads_versions_and_stats(api, api_as, org):
    automation = make_automation(api, name="Journey", trigger_type="manual", actions=JOURNEY)
    viewer = api_as(make_user(org, role="viewer"))
    versions = viewer.get(f"/api/v1/automations/{automation['id']}/versions")
    assert versions.status_code == 200 and [v["version"] for v in versions.json["items"]] == [1]
    assert versions.json["items"][0]["definition"]["actions"][0]["branches"]["no"][0]["action_type"] == "exit"
    assert viewer.get(f"/api/v1/automations/{automation['id']}/stats").status_code == 200


def test_another_organizations_automation_has_no_versions_or_stats(api, api_as, org):
    automation = make_automation(api, name="Journey", trigger_type="manual", actions=JOURNEY)
    stranger = api_as(make_user(make_org("Other Insurance"), role="admin"))
    for what in ("versions", "stats"):
        response = stranger.get(f"/api/v1/automations/{automation['id']}/{what}")
        assert response.status_code == 404, what
        assert response.content_type == "application/problem+json"
        assert "Journey" not in response.get_data(as_text=True)
