"""The editor's step form: a wait is entered as a number and a unit and stored in minutes, and a
stored wait comes back in the largest whole unit (1440 → 1 day)."""

import re

import pytest

from tests.conftest import login_browser
from tests.factories import make_user
from webapp.extensions import db
from webapp.models import Automation, AutomationAction

HX = {"HX-Request": "true", "HX-Target": "steps-section"}


@pytest.fixture
def browser(client, org):
    make_user(org, email="mia@acme.example.com", role="marketer", name="Mia Marketer")
    assert login_browser(client, "mia@acme.example.com").status_code == 302
    return client


@pytest.fixture
def automation(org):
    automation = Automation(organization_id=org.id, name="Welcome", slug="welcome", trigger_type="lead_created", trigger_configuration={})
    db.session.add(automation)
    db.session.commit()
    return automation


def add_tag_step(browser, automation, **fields):
    data = {"action_type": "add_tag", "tag": "welcomed", "is_active": "y", **fields}
    return browser.post(f"/automations/{automation.id}/steps", data=data, headers=HX)


def stored_delays(automation) -> list[int]:
    db.session.expire_all()
    return [action.delay_minutes for action in db.session.get(Automation, automation.id).actions]


def test_a_wait_in_days_or_hours_is_stored_in_minutes(browser, automation):
    html = add_tag_step(browser, automation, delay_amount="1", delay_unit="days").get_data(as_text=True)
    assert "waits 1 day before running" in html
    add_tag_step(browser, automation, delay_amount="3", delay_unit="hours")
    add_tag_step(browser, automation, delay_amount="90", delay_unit="minutes")
    assert stored_delays(automation) == [1440, 180, 90]


def test_a_stored_wait_is_edited_in_its_largest_whole_unit(browser, automation):
    add_tag_step(browser, automation, delay_amount="2", delay_unit="days")
    action = db.session.scalar(db.select(AutomationAction).where(AutomationAction.automation_id == automation.id))
    form = browser.get(f"/automations/{automation.id}/steps/{action.id}/edit", headers=HX).get_data(as_text=True)
    assert re.search(r'id="delay_amount"[^>]*value="2"', form)
    assert re.search(r'<option selected value="days">|<option value="days" selected>', form)
    browser.post(
        f"/automations/{automation.id}/steps/{action.id}",
        data={"tag": "welcomed", "delay_amount": "36", "delay_unit": "hours", "is_active": "y"},
        headers=HX,
    )
    assert stored_delays(automation) == [2160]
    form = browser.get(f"/automations/{automation.id}/steps/{action.id}/edit", headers=HX).get_data(as_text=True)
    assert re.search(r'id="delay_amount"[^>]*value="36"', form) and re.search(r'selected value="hours"|value="hours" selected', form)


def test_a_new_step_takes_the_focus_and_a_bad_wait_is_flagged_on_the_amount(browser, automation):
    html = add_tag_step(browser, automation).get_data(as_text=True)
    action = db.session.scalar(db.select(AutomationAction).where(AutomationAction.automation_id == automation.id))
    assert re.search(rf'id="step-{action.id}-edit"[^>]*autofocus', html)  # the only step: Edit is its first usable control
    response = add_tag_step(browser, automation, delay_amount="400", delay_unit="days")
    assert response.status_code == 422
    assert re.search(r'<input[^>]* aria-invalid="true"[^>]* id="delay_amount"', response.get_data(as_text=True))
    assert stored_delays(automation) == [0]


def test_the_automations_own_wait_is_entered_and_shown_in_units_too(browser, automation):
    settings = {"name": "Welcome", "run_immediately": "", "delay_amount": "2", "delay_unit": "hours"}
    response = browser.post(
        f"/automations/{automation.id}/settings", data=settings, headers={"HX-Request": "true", "HX-Target": "settings-section"}
    )
    assert response.status_code == 200
    db.session.expire_all()
    assert db.session.get(Automation, automation.id).delay_minutes == 120
    page = browser.get(f"/automations/{automation.id}").get_data(as_text=True)
    assert re.search(r'<input[^>]* id="settings-delay"[^>]* value="2"', page)
    assert re.search(r'<select[^>]* id="settings-delay-unit"[^>]*>.*?<option selected value="hours">', page, re.S)
    assert '<label for="settings-delay">Otherwise wait</label>' in page


def test_a_new_automation_waits_in_days(browser):
    body = {"name": "Nurture", "trigger_type": "manual", "delay_amount": "3", "delay_unit": "days"}
    response = browser.post("/automations/new", data=body)
    assert response.status_code == 302
    assert db.session.scalar(db.select(Automation.delay_minutes).where(Automation.name == "Nurture")) == 3 * 24 * 60
