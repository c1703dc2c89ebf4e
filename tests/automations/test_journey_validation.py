"""Journeys through the API (SPEC §15): every validation rule of a journey is a 422 naming the path,
and a refused save changes nothing; the seed's linear automations still work; saves make versions."""

import copy

import pytest

from tests.automations.helpers import make_automation, step
from webapp.api.examples import SEED_AUTOMATION

STATUS_IS_NEW = {"field": "status", "operator": "equals", "value": "new"}


def branch(yes=(), no=(), rules=(STATUS_IS_NEW,)):
    return {"action_type": "branch", "configuration": {"rules": list(rules)}, "branches": {"yes": list(yes), "no": list(no)}}


def split(weights, **branches):
    return {"action_type": "split", "configuration": {"weights": weights}, "branches": branches}


def wait(met=(), timed_out=(), **configuration):
    configuration = {"event_type": "lead_status_changed", "timeout_minutes": 60, **configuration}
    return {"action_type": "wait_until", "configuration": configuration, "branches": {"met": list(met), "timed_out": list(timed_out)}}


def exit_step(reason="done"):
    return {"action_type": "exit", "configuration": {"reason": reason}}


def nested_branches(levels: int) -> list[dict]:
    """``levels`` flow actions, each in the yes branch of the one before (level 1 at the top)."""
    actions = [step("add_tag", tag="deepest")]
    for _ in range(levels):
        actions = [branch(yes=actions)]
    return actions


@pytest.fixture
def journey(api, org):
    """A stored journey, and a check that a refused save left it exactly as it was."""
    automation = make_automation(api, name="Journey", trigger_type="manual", actions=[branch(yes=[step("add_tag", tag="new")])])
    before = api.get(f"/api/v1/automations/{automation['id']}").json

    def refused(body: dict, field: str):
        response = api.put(f"/api/v1/automations/{automation['id']}", json=body)
        assert response.status_code == 422, response.json
        assert response.content_type == "application/problem+json"
        assert field in [error["field"] for error in response.json["errors"]], response.json["errors"]
        after = api.get(f"/api/v1/automations/{automation['id']}").json
        assert after == before  # the version too
        assert api.get(f"/api/v1/automations/{automation['id']}/versions").json["total"] == 1
        return response.json["errors"]

    return refused


def test_unknown_branch_names_are_refused(journey):
    journey({"actions": [{**branch(), "branches": {"yes": [], "maybe": []}}]}, "actions[0].branches.maybe")
    journey({"actions": [wait(), {**wait(), "branches": {"later": []}}]}, "actions[1].branches.later")
    journey({"actions": [split({"a": 50, "b": 50}, a=[], c=[])]}, "actions[0].branches.c")


def test_split_weights_must_sum_to_100(journey):
    errors = journey({"actions": [split({"a": 50, "b": 40})]}, "actions[0].configuration.weights")
    assert "sum to 100" in errors[0]["message"]


@pytest.mark.parametrize("weights", [{"a": 100}, {"a": 20, "b": 20, "c": 20, "d": 20, "e": 10, "f": 10}, {}])
def test_a_split_has_2_to_5_weights(journey, weights):
    journey({"actions": [split(weights)]}, "actions[0].configuration.weights")


@pytest.mark.parametrize("name", ["A", "two words", "x" * 41, ""])
def test_a_split_variant_name_is_lower_case_letters_digits_or_underscore(journey, name):
    journey({"actions": [split({name: 50, "b": 50})]}, "actions[0].configuration.weights")


@pytest.mark.parametrize("weight", [50.5, "50", True, 0, 100])
def test_a_split_weight_is_a_whole_number_from_1_to_99(journey, weight):
    journey({"actions": [split({"a": weight, "b": 50})]}, "actions[0].configuration.weights.a")


def test_a_wait_needs_a_timeout(journey):
    action = wait()
    del action["configuration"]["timeout_minutes"]
    journey({"actions": [action]}, "actions[0].configuration.timeout_minutes")


@pytest.mark.parametrize("timeout", [0, 43_201, 1.5, "60"])
def test_a_wait_timeout_is_1_to_43200_minutes(journey, timeout):
    journey({"actions": [wait(timeout_minutes=timeout)]}, "actions[0].configuration.timeout_minutes")


def test_a_wait_is_for_a_known_lead_event_type(journey):
    journey({"actions": [wait(event_type="moon_rose")]}, "actions[0].configuration.event_type")


def test_flow_actions_nest_at_most_5_levels(api, org, journey):
    sixth = "actions[0]" + ".branches.yes[0]" * 5
    journey({"actions": nested_branches(6)}, sixth)
    created = make_automation(api, name="Deep", actions=nested_branches(5))
    action = created["actions"][0]
    for _ in range(4):
        action = action["branches"]["yes"][0]
    assert action["action_type"] == "branch" and action["branches"]["yes"][0]["configuration"] == {"tag": "deepest"}


def test_nothing_follows_an_exit_in_the_same_list(journey):
    journey({"actions": [exit_step(), step("add_tag", tag="late")]}, "actions[1]")
    journey({"actions": [branch(no=[exit_step(), step("add_tag", tag="late")])]}, "actions[0].branches.no[1]")


def test_only_flow_actions_have_branches(journey):
    journey({"actions": [{**step("add_tag", tag="x"), "branches": {"yes": []}}]}, "actions[0].branches")
    journey({"actions": [{**exit_step(), "branches": {"yes": []}}]}, "actions[0].branches")


def test_an_invalid_step_or_rule_inside_a_branch_is_named_by_its_full_path(journey):
    inner = branch(rules=[{"field": "status", "operator": "equals", "value": "purple"}])
    journey({"actions": [step("add_tag", tag="a"), wait(met=[inner])]}, "actions[1].branches.met[0].configuration.rules[0].value")
    journey({"actions": [branch(yes=[step("send_email", template_id=999_999)])]}, "actions[0].branches.yes[0].configuration.template_id")
    journey({"actions": [branch(rules=[{**STATUS_IS_NEW, "colour": "red"}])]}, "actions[0].configuration.rules[0].colour")
    journey({"actions": [branch(rules=[])]}, "actions[0].configuration.rules")


@pytest.mark.parametrize(
    ("goal", "field"),
    [
        ({"rules": [{"field": "colour", "operator": "equals", "value": "red"}]}, "goal.rules[0].field"),
        ({"rules": [{"field": "status", "operator": "equals", "value": "purple"}]}, "goal.rules[0].value"),
        ({"match_all_rules": "yes", "rules": []}, "goal.match_all_rules"),
        ({"rules": [], "when": "soon"}, "goal.when"),
        ("converted", "goal"),
    ],
)
def test_an_invalid_goal_is_refused(journey, goal, field):
    journey({"goal": goal}, field)


def test_the_seeds_automation_is_still_a_linear_automation(api, org, admin):
    template = api.post("/api/v1/automations/email-templates", json={"name": "Welcome", "subject": "Hi", "body_text": "Hi"}).json
    body = copy.deepcopy(SEED_AUTOMATION)
    body["actions"][0]["configuration"]["template_id"] = template["id"]
    body["actions"][1]["configuration"]["assignee_id"] = admin.id
    response = api.post("/api/v1/automations", json=body)
    assert response.status_code == 201, response.json
    automation = response.json
    assert (automation["version"], automation["goal"]) == (1, None)
    sent = [(a["action_type"], a["action_order"], a["configuration"]) for a in body["actions"]]
    assert [(a["action_type"], a["action_order"], a["configuration"]) for a in automation["actions"]] == sent
    assert [a["branches"] for a in automation["actions"]] == [None, None]


def test_a_save_that_changes_the_steps_makes_a_version_and_a_rename_does_not(api, org):
    automation = make_automation(api, name="Journey", trigger_type="manual", actions=[step("add_tag", tag="one")])
    url = f"/api/v1/automations/{automation['id']}"
    changed = api.put(url, json={"actions": [split({"a": 50, "b": 50}, a=[step("add_tag", tag="a")], b=[exit_step()])]})
    assert changed.status_code == 200 and changed.json["version"] == 2
    renamed = api.put(url, json={"name": "Journey, renamed"})
    assert renamed.status_code == 200 and renamed.json["version"] == 2
    versions = api.get(f"{url}/versions").json
    assert (versions["total"], versions["page"], versions["per_page"]) == (2, 1, 50)
    newest, first = versions["items"]
    assert (newest["version"], first["version"]) == (2, 1)
    assert [a["configuration"] for a in first["definition"]["actions"]] == [{"tag": "one"}]
    assert newest["definition"]["actions"][0]["action_type"] == "split"
    assert newest["definition"]["actions"][0]["branches"]["b"][0]["action_type"] == "exit"
    assert api.get(f"{url}/versions?per_page=1&page=2").json["items"][0]["version"] == 1
