"""The journey editor's tree (SPEC §15 "Editor"): steps inserted into a branch at a position, moved
among their siblings, a flow step deleted with its branches after a confirmation that counts them,
every change a new version; another organization's automation, step or run is a 404; a bad step is
shown with its errors inline, in the form where it was."""

import re
from decimal import Decimal

import pytest

from tests.conftest import login_browser
from tests.factories import make_lead, make_org, make_user
from webapp.automations.engine import execute_run
from webapp.automations.services import save_automation, start_manually, validate_automation
from webapp.extensions import db
from webapp.models import Automation, AutomationAction

HX = {"HX-Request": "true", "HX-Target": "steps-section"}
HIGH_VALUE = {"match_all_rules": True, "rules": [{"field": "value_estimate", "operator": "greater_than", "value": "1000"}]}


@pytest.fixture
def browser(client, org):
    make_user(org, email="mia@acme.example.com", role="marketer", name="Mia Marketer")
    assert login_browser(client, "mia@acme.example.com").status_code == 302
    return client


def step(action_type, branches=None, **configuration):
    body = {"action_type": action_type, "configuration": configuration}
    return {**body, "branches": branches} if branches else body


def make_journey(org, name="Welcome journey") -> Automation:
    """tag → if/else (value > 1000: yes: status qualified; no: priority low) → split a/b (a: tag, b: tag, tag)."""
    actions = [
        step("add_tag", tag="welcomed"),
        step(
            "branch",
            {"yes": [step("update_lead_status", status="qualified")], "no": [step("update_lead_priority", priority="low")]},
            **HIGH_VALUE,
        ),
        step(
            "split",
            {"a": [step("add_tag", tag="a")], "b": [step("add_tag", tag="b1"), step("add_tag", tag="b2")]},
            weights={"a": 50, "b": 50},
        ),
    ]
    values = validate_automation({"name": name, "trigger_type": "manual", "is_active": True, "actions": actions}, org.id, partial=False)
    automation = Automation(organization_id=org.id)
    save_automation(automation, values)
    db.session.commit()
    return automation


def rows(automation) -> list[tuple]:
    """``(type, parent type, branch, order)`` of every step, in a stable order."""
    db.session.expire_all()
    actions = db.session.get(Automation, automation.id).actions
    by_id = {a.id: a for a in actions}
    found = [
        (a.action_type, by_id[a.parent_id].action_type if a.parent_id else None, a.branch, a.action_order, a.configuration.get("tag"))
        for a in actions
    ]
    return sorted(found, key=lambda row: tuple("" if part is None else str(part) for part in row))


def action_of(automation, action_type, tag=None) -> AutomationAction:
    db.session.expire_all()
    return next(
        a
        for a in db.session.get(Automation, automation.id).actions
        if a.action_type == action_type and (tag is None or a.configuration.get("tag") == tag)
    )


def version_of(automation) -> int:
    db.session.expire_all()
    return db.session.get(Automation, automation.id).version


def test_a_step_is_inserted_into_a_branch_at_a_position(browser, org):
    journey = make_journey(org)
    split = action_of(journey, "split")
    before = version_of(journey)
    form = browser.get(f"/automations/{journey.id}/steps/new?parent_id={split.id}&branch=b&position=1", headers=HX).get_data(as_text=True)
    assert 'id="step-form"' in form and "Goes in “b” of a/b split, after its step 1." in form
    assert re.search(r'name="position" value="1"', form) and re.search(rf'name="parent_id" value="{split.id}"', form)
    data = {"action_type": "add_tag", "tag": "middle", "is_active": "y", "parent_id": split.id, "branch": "b", "position": "1"}
    response = browser.post(f"/automations/{journey.id}/steps", data=data, headers=HX)
    assert response.status_code == 200
    b_steps = sorted((order, tag) for kind, parent, branch, order, tag in rows(journey) if parent == "split" and branch == "b")
    assert b_steps == [(0, "b1"), (1, "middle"), (2, "b2")]
    assert version_of(journey) == before + 1
    # the new step has the focus: its first usable control (↑, for it is not first in its list)
    middle = action_of(journey, "add_tag", "middle")
    assert re.search(rf'id="step-{middle.id}-up"[^>]*autofocus', response.get_data(as_text=True))


def test_a_flow_step_goes_into_an_empty_branch_with_its_own_fields(browser, org):
    journey = make_journey(org)
    branch = action_of(journey, "branch")
    form = browser.get(
        f"/automations/{journey.id}/steps/new?parent_id={branch.id}&branch=yes&position=1&action_type=wait_until", headers=HX
    ).get_data(as_text=True)
    assert 'id="event_type"' in form and 'id="timeout_amount"' in form and "Unit of the timeout" in form
    data = {
        "action_type": "wait_until",
        "event_type": "lead_status_changed",
        "timeout_amount": "2",
        "timeout_unit": "days",
        "is_active": "y",
        "parent_id": branch.id,
        "branch": "yes",
        "position": "1",
        "match_all": "true",
        "rules-2000-field": "status",
        "rules-2000-operator": "equals",
        "rules-2000-value": "converted",
    }
    assert browser.post(f"/automations/{journey.id}/steps", data=data, headers=HX).status_code == 200
    wait = action_of(journey, "wait_until")
    assert (wait.parent_id, wait.branch, wait.action_order) == (branch.id, "yes", 1)
    assert wait.configuration == {
        "event_type": "lead_status_changed",
        "timeout_minutes": 2880,
        "match_all_rules": True,
        "rules": [{"field": "status", "operator": "equals", "value": "converted"}],
    }


def test_a_step_moves_among_its_siblings_only(browser, org):
    journey = make_journey(org)
    b2 = action_of(journey, "add_tag", "b2")
    assert browser.post(f"/automations/{journey.id}/steps/{b2.id}/move?direction=up", headers=HX).status_code == 200
    b_steps = sorted((order, tag) for kind, parent, branch, order, tag in rows(journey) if branch == "b")
    assert b_steps == [(0, "b2"), (1, "b1")]
    browser.post(f"/automations/{journey.id}/steps/{b2.id}/move?direction=up", headers=HX)  # already first: stays
    assert action_of(journey, "add_tag", "b2").action_order == 0
    top = sorted((order, kind) for kind, parent, branch, order, tag in rows(journey) if parent is None)
    assert top == [(0, "add_tag"), (1, "branch"), (2, "split")]
    split = action_of(journey, "split")
    browser.post(f"/automations/{journey.id}/steps/{split.id}/move?direction=up", headers=HX)
    top = sorted((order, kind) for kind, parent, branch, order, tag in rows(journey) if parent is None)
    assert top == [(0, "add_tag"), (1, "split"), (2, "branch")]
    assert action_of(journey, "add_tag", "b1").parent_id == split.id  # its branches went with it


def test_deleting_a_flow_step_asks_first_naming_the_steps_of_its_branches(browser, org):
    journey = make_journey(org)
    split = action_of(journey, "split")
    before = version_of(journey)
    page = browser.get(f"/automations/{journey.id}/steps/{split.id}/delete", headers=HX).get_data(as_text=True)
    assert "Delete this split and the 3 steps in its branches?" in page
    assert f'id="step-{split.id}-confirm"' in page and f'id="step-{split.id}-keep"' in page
    assert len(rows(journey)) == 8  # nothing is deleted by asking
    response = browser.post(f"/automations/{journey.id}/steps/{split.id}/delete", headers=HX)
    assert response.status_code == 200
    assert [r[0] for r in rows(journey)] == ["add_tag", "branch", "update_lead_priority", "update_lead_status"]
    assert version_of(journey) == before + 1
    tag = action_of(journey, "add_tag")
    plain = browser.get(f"/automations/{journey.id}/steps/{tag.id}/delete", headers=HX).get_data(as_text=True)
    assert "Delete this step?" in plain


def test_another_organizations_automation_step_or_run_is_not_found(browser, org, app):
    mine = make_journey(org)
    other_org = make_org("Beta Brokers")
    theirs = make_journey(other_org, "Their journey")
    their_split = action_of(theirs, "split")
    their_lead = make_lead(other_org, first_name="Bea")
    their_run = start_manually(theirs, [their_lead.id])[0]
    db.session.commit()
    assert browser.get(f"/automations/{theirs.id}", headers={}).status_code == 404
    assert browser.get(f"/automations/{theirs.id}/steps/new", headers=HX).status_code == 404
    assert browser.get(f"/automations/{mine.id}/steps/{their_split.id}/edit", headers=HX).status_code == 404
    assert browser.get(f"/automations/{mine.id}/steps/{their_split.id}/delete", headers=HX).status_code == 404
    assert browser.post(f"/automations/{mine.id}/steps/{their_split.id}/delete", headers=HX).status_code == 404
    assert browser.post(f"/automations/{mine.id}/steps/{their_split.id}/move?direction=up", headers=HX).status_code == 404
    into_theirs = {"action_type": "add_tag", "tag": "x", "parent_id": their_split.id, "branch": "a", "position": "0"}
    assert browser.post(f"/automations/{mine.id}/steps", data=into_theirs, headers=HX).status_code == 404
    assert browser.get(f"/automations/{mine.id}/steps/new?parent_id={their_split.id}&branch=a&position=0", headers=HX).status_code == 404
    assert browser.get(f"/automations/{mine.id}/steps?run={their_run}", headers=HX).status_code == 404
    assert len(rows(theirs)) == 8


def test_a_bad_step_is_shown_inline_where_its_form_was(browser, org):
    journey = make_journey(org)
    branch = action_of(journey, "branch")
    split = {"action_type": "split", "variant_1_name": "a", "variant_1_weight": "60", "variant_2_name": "b", "variant_2_weight": "30"}
    place = {"parent_id": branch.id, "branch": "no", "position": "0"}
    response = browser.post(f"/automations/{journey.id}/steps", data={**split, **place}, headers=HX)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "the weights must sum to 100 (they sum to 90)" in html
    assert re.search(r'<li class="insert-point open">\s*(<[^>]+>\s*)*?<form', html)  # the form is still at its insert point
    no_timeout = {"action_type": "wait_until", "event_type": "email_sent", "timeout_amount": "", **place}
    assert "is required: how long to wait" in browser.post(f"/automations/{journey.id}/steps", data=no_timeout, headers=HX).get_data(
        as_text=True
    )
    no_rules = {"action_type": "branch", "match_all": "true", **place}
    assert "give at least one rule" in browser.post(f"/automations/{journey.id}/steps", data=no_rules, headers=HX).get_data(as_text=True)
    bad_rule = {"action_type": "branch", "match_all": "true", "rules-2000-field": "value_estimate", "rules-2000-operator": "greater_than"}
    bad_rule["rules-2000-value"] = "lots"
    html = browser.post(f"/automations/{journey.id}/steps", data={**bad_rule, **place}, headers=HX).get_data(as_text=True)
    assert re.search(r'id="rules-2000-value"[^>]*aria-invalid="true"', html)
    assert len(rows(journey)) == 8


def test_nothing_goes_after_an_exit_and_a_variant_with_steps_stays(browser, org):
    journey = make_journey(org)
    branch = action_of(journey, "branch")
    exit_step = {"action_type": "exit", "reason": "big fish", "parent_id": branch.id, "branch": "yes", "position": "0"}
    response = browser.post(f"/automations/{journey.id}/steps", data=exit_step, headers=HX)
    assert response.status_code == 422 and "nothing can follow an exit in the same list" in response.get_data(as_text=True)
    exit_step["position"] = "1"
    assert browser.post(f"/automations/{journey.id}/steps", data=exit_step, headers=HX).status_code == 200
    after_exit = {"action_type": "add_tag", "tag": "late", "parent_id": branch.id, "branch": "yes", "position": "2"}
    assert browser.post(f"/automations/{journey.id}/steps", data=after_exit, headers=HX).status_code == 422
    split = action_of(journey, "split")
    only_a = {"variant_1_name": "a", "variant_1_weight": "50", "variant_2_name": "c", "variant_2_weight": "50", "is_active": "y"}
    response = browser.post(f"/automations/{journey.id}/steps/{split.id}", data=only_a, headers=HX)
    assert response.status_code == 422 and "the variant b has steps" in response.get_data(as_text=True)


def test_the_editor_shows_counts_per_node_a_chart_and_a_runs_path(browser, org):
    journey = make_journey(org)
    big = make_lead(org, first_name="Big", value_estimate=Decimal("5000"))
    run_id = start_manually(journey, [big.id])[0]
    db.session.commit()
    execute_run(run_id)
    db.session.expire_all()
    branch = action_of(journey, "branch")
    page = browser.get(f"/automations/{journey.id}").get_data(as_text=True)
    assert 'id="chart-runs"' in page and 'id="chart-goal"' in page and 'id="chart-funnel"' in page
    node = page[page.index(f'id="step-{branch.id}"') :]
    assert re.search(r"<b>1</b> entered", node) and re.search(r"data-taken>1 took it", node)
    assert "add tag → if/else: yes → set status → split: " in page  # the run history's path
    steps = browser.get(f"/automations/{journey.id}/steps?run={run_id}", headers=HX).get_data(as_text=True)
    assert f"Showing the path of run #{run_id}" in steps
    assert re.search(rf'id="step-{branch.id}"[^>]*data-on-path', steps)
    assert re.search(rf'class="branch on-path" id="branch-{branch.id}-yes"', steps)
    assert not re.search(rf'class="branch on-path" id="branch-{branch.id}-no"', steps)


def test_the_goal_is_saved_from_the_editor(browser, org):
    journey = make_journey(org)
    before = version_of(journey)
    goal_form = {"match_all": "true", "rules-1000-field": "status", "rules-1000-operator": "equals", "rules-1000-value": "converted"}
    headers = {"HX-Request": "true", "HX-Target": "goal-section"}
    response = browser.post(f"/automations/{journey.id}/goal", data=goal_form, headers=headers)
    assert response.status_code == 200 and "Goal saved." in response.get_data(as_text=True)
    db.session.expire_all()
    stored = db.session.get(Automation, journey.id)
    assert stored.goal == {"match_all_rules": True, "rules": [{"field": "status", "operator": "equals", "value": "converted"}]}
    assert stored.version == before + 1
    bad = {**goal_form, "rules-1000-field": "value_estimate", "rules-1000-operator": "greater_than", "rules-1000-value": "lots"}
    response = browser.post(f"/automations/{journey.id}/goal", data=bad, headers=headers)
    assert response.status_code == 422 and re.search(r'id="rules-1000-value"[^>]*aria-invalid="true"', response.get_data(as_text=True))
    assert browser.post(f"/automations/{journey.id}/goal", data={"match_all": "true"}, headers=headers).status_code == 200
    db.session.expire_all()
    assert db.session.get(Automation, journey.id).goal == {}
