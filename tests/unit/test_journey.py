"""The journey walker (SPEC §15): definition + lead facts + how waits end → the steps a run takes. Pure."""

from collections import Counter
from types import SimpleNamespace

import pytest

from webapp.automations import journey

_ids = iter(range(1, 10_000))


def act(action_type: str, branches: dict | None = None, is_active: bool = True, **configuration) -> dict:
    action = {"id": next(_ids), "action_type": action_type, "is_active": is_active, "configuration": configuration}
    if branches is not None:
        action["branches"] = branches
    return action


def types(path) -> list[tuple[str, str | None]]:
    return [(action["action_type"], branch) for action, branch in path]


def holds(answer: bool):
    return lambda rule_set: answer


HIGH_VALUE = {"rules": [{"field": "value_estimate", "operator": "greater_than", "value": 1000}]}


def welcome_journey() -> list[dict]:
    """welcome → wait until the status changes (3 days) → branch on value → assign / nurture."""
    return [
        act("send_email", template_id=1),
        act(
            "wait_until",
            {"met": [], "timed_out": [act("add_tag", tag="cold")]},
            event_type="lead_status_changed",
            timeout_minutes=4320,
        ),
        act("branch", {"yes": [act("assign_lead", strategy="round_robin")], "no": [act("send_email", template_id=2)]}, **HIGH_VALUE),
        act("add_tag", tag="done"),
    ]


def test_a_linear_list_is_walked_in_order():
    actions = [act("add_tag", tag="a"), act("send_email", template_id=1), act("remove_tag", tag="a")]
    assert types(journey.walk(actions, 1, holds(True))) == [("add_tag", None), ("send_email", None), ("remove_tag", None)]


def test_a_branch_follows_yes_when_its_rules_hold_and_no_otherwise_then_goes_on_after_it():
    actions = welcome_journey()
    met = lambda action: "met"  # noqa: E731
    assert types(journey.walk(actions, 1, holds(True), met)) == [
        ("send_email", None),
        ("wait_until", "met"),
        ("branch", "yes"),
        ("assign_lead", None),
        ("add_tag", None),
    ]
    assert types(journey.walk(actions, 1, holds(False))) == [
        ("send_email", None),
        ("wait_until", "timed_out"),
        ("add_tag", None),  # the timed_out branch's step
        ("branch", "no"),
        ("send_email", None),
        ("add_tag", None),
    ]


def test_the_end_of_a_nested_branch_returns_to_every_enclosing_list():
    inner = act("branch", {"yes": [act("add_tag", tag="deep")], "no": []}, **HIGH_VALUE)
    outer = act("branch", {"yes": [inner], "no": []}, **HIGH_VALUE)
    actions = [outer, act("add_tag", tag="after")]
    path = journey.walk(actions, 1, holds(True))
    assert types(path) == [("branch", "yes"), ("branch", "yes"), ("add_tag", None), ("add_tag", None)]
    assert [a["configuration"].get("tag") for a, _ in path][-2:] == ["deep", "after"]


def test_an_empty_branch_goes_straight_on_after_its_flow_action():
    actions = [act("branch", {"yes": [], "no": []}, **HIGH_VALUE), act("add_tag", tag="next")]
    assert types(journey.walk(actions, 1, holds(True))) == [("branch", "yes"), ("add_tag", None)]


def test_an_exit_ends_the_walk_wherever_it_is():
    actions = [act("branch", {"yes": [act("exit", reason="not for us")], "no": []}, **HIGH_VALUE), act("add_tag", tag="never")]
    assert types(journey.walk(actions, 1, holds(True))) == [("branch", "yes"), ("exit", None)]
    assert types(journey.walk(actions, 1, holds(False))) == [("branch", "no"), ("add_tag", None)]


def test_disabled_actions_are_passed_over_with_their_branches():
    actions = [
        act("add_tag", tag="off", is_active=False),
        act("branch", {"yes": [act("add_tag", tag="inside")], "no": []}, is_active=False, **HIGH_VALUE),
        act("add_tag", tag="on"),
    ]
    assert [a["configuration"]["tag"] for a, _ in journey.walk(actions, 1, holds(True))] == ["on"]


def test_next_location_from_each_place_of_the_tree():
    actions = welcome_journey()
    assert journey.next_location(actions, None) == (0,)
    assert journey.next_location(actions, (0,)) == (1,)
    assert journey.next_location(actions, (1,), "met") == (2,)  # met is empty
    assert journey.next_location(actions, (1,), "timed_out") == (1, "timed_out", 0)
    assert journey.next_location(actions, (1, "timed_out", 0)) == (2,)
    assert journey.next_location(actions, (2,), "no") == (2, "no", 0)
    assert journey.next_location(actions, (3,)) is None


def test_locate_and_action_at_agree_on_every_action():
    actions = welcome_journey()
    for location, action in journey.walk_tree(actions):
        assert journey.locate(actions, action["id"]) == location
        assert journey.action_at(actions, location) is action


def test_a_split_gives_a_run_the_same_variant_every_time():
    weights = {"a": 50, "b": 30, "c": 20}
    first = [journey.split_variant(weights, lead_id, 7) for lead_id in range(500)]
    assert first == [journey.split_variant(weights, lead_id, 7) for lead_id in range(500)]


def test_a_split_spreads_ten_thousand_runs_within_two_percent_of_its_weights():
    weights = {"a": 50, "b": 30, "c": 15, "d": 5}
    counts = Counter(journey.split_variant(weights, lead_id, 42) for lead_id in range(1, 10_001))
    for name, weight in weights.items():
        assert abs(counts[name] / 10_000 * 100 - weight) <= 2, (name, counts)


def test_two_splits_of_one_run_are_independent():
    weights = {"a": 50, "b": 50}
    pairs = Counter((journey.split_variant(weights, lead_id, 1), journey.split_variant(weights, lead_id, 2)) for lead_id in range(4000))
    assert all(900 <= n <= 1100 for n in pairs.values()), pairs


def test_a_split_step_follows_its_variant_branch():
    split = act("split", {"a": [act("add_tag", tag="a")], "b": [act("add_tag", tag="b")]}, weights={"a": 50, "b": 50})
    for lead_id in range(20):
        [(_, variant), (tagged, _)] = journey.walk([split], lead_id, holds(True))
        assert variant == journey.split_variant({"a": 50, "b": 50}, lead_id, split["id"])
        assert tagged["configuration"]["tag"] == variant


def test_a_wait_is_met_only_by_its_event_type_and_its_rules():
    wait = act("wait_until", {"met": [], "timed_out": []}, event_type="lead_status_changed", timeout_minutes=60)
    assert journey.event_meets_wait(wait, "lead_status_changed", holds(False))  # no rules: the event is enough
    assert not journey.event_meets_wait(wait, "lead_assigned", holds(True))
    with_rules = act("wait_until", event_type="lead_status_changed", timeout_minutes=60, **HIGH_VALUE)
    assert journey.event_meets_wait(with_rules, "lead_status_changed", holds(True))
    assert not journey.event_meets_wait(with_rules, "lead_status_changed", holds(False))


def test_branch_names_of_each_flow_action():
    assert journey.branch_names(act("branch")) == ("yes", "no")
    assert journey.branch_names(act("wait_until")) == ("met", "timed_out")
    assert journey.branch_names(act("split", weights={"x": 60, "y": 40})) == ("x", "y")
    assert journey.branch_names(act("exit")) == ()
    assert journey.branch_names(act("add_tag")) == ()


def row(id, action_type, parent_id=None, branch=None, order=0, **configuration):
    return SimpleNamespace(
        id=id,
        parent_id=parent_id,
        branch=branch,
        action_order=order,
        action_type=action_type,
        is_active=True,
        configuration=configuration,
        delay_minutes=0,
        conditions={},
    )


def test_action_tree_nests_rows_under_their_flow_actions_in_order():
    rows = [
        row(4, "add_tag", parent_id=2, branch="no", order=0, tag="n"),
        row(1, "send_email", order=0, template_id=1),
        row(2, "branch", order=1, **HIGH_VALUE),
        row(3, "add_tag", parent_id=2, branch="yes", order=0, tag="y"),
        row(5, "add_tag", order=2, tag="end"),
    ]
    tree = journey.action_tree(rows)
    assert [a["id"] for a in tree] == [1, 2, 5]
    assert {name: [a["id"] for a in steps] for name, steps in tree[1]["branches"].items()} == {"yes": [3], "no": [4]}
    assert "branches" not in tree[0]


@pytest.mark.parametrize("answer, expected", [(True, "yes"), (False, "no")])
def test_decide_a_branch_by_its_rules(answer, expected):
    assert journey.decide(act("branch", **HIGH_VALUE), 1, holds(answer)) == expected
    assert journey.decide(act("wait_until", event_type="lead_created", timeout_minutes=5), 1, holds(answer)) is None


def test_walking_the_tree_and_stepping_with_next_location_agree():
    """The dry run walks the tree; the engine steps through it with next_location: the same path."""
    for answer in (True, False):
        for wait_end in ("met", "timed_out"):
            actions = welcome_journey() + [act("split", {"a": [act("exit")], "b": []}, weights={"a": 50, "b": 50})]
            for lead_id in range(10):
                walked = [a["id"] for a, _ in journey.walk(actions, lead_id, holds(answer), lambda a, end=wait_end: end)]
                stepped, location = [], journey.next_location(actions, None)
                while location is not None:
                    action = journey.action_at(actions, location)
                    stepped.append(action["id"])
                    if action["action_type"] == "exit":
                        break
                    branch = wait_end if action["action_type"] == "wait_until" else journey.decide(action, lead_id, holds(answer))
                    location = journey.next_location(actions, location, branch)
                assert walked == stepped


def test_a_flow_action_whose_own_conditions_fail_is_skipped_with_its_branches():
    actions = [act("branch", {"yes": [act("add_tag", tag="inside")], "no": []}, **HIGH_VALUE), act("add_tag", tag="after")]
    path = journey.walk(actions, 1, holds(True), step_holds=lambda a: a["action_type"] != "branch")
    assert types(path) == [("branch", None), ("add_tag", None)]
    assert path[1][0]["configuration"]["tag"] == "after"
