"""The automation form's optional slug (derived from the name and made unique when blank, a clear
inline error when a given one is taken), and the run history's "how it started" label."""

import re

import pytest
from sqlalchemy import select

from tests.automations.helpers import make_automation
from tests.conftest import login_browser
from tests.factories import make_lead, make_user
from webapp.automations.engine import create_runs
from webapp.automations.services import start_manually
from webapp.extensions import db
from webapp.models import Automation, AutomationRun


@pytest.fixture
def browser(client, org):
    make_user(org, email="mia@acme.example.com", role="marketer", name="Mia Marketer")
    assert login_browser(client, "mia@acme.example.com").status_code == 302
    return client


def create(browser, **fields):
    return browser.post("/automations/new", data={"name": "Welcome Email Automation", "trigger_type": "manual", **fields})


def slugs() -> list[str]:
    return db.session.scalars(select(Automation.slug).order_by(Automation.id)).all()


def test_a_name_the_demo_already_uses_gets_a_slug_of_its_own(browser):
    assert create(browser).status_code == 302
    assert create(browser).status_code == 302
    assert create(browser, slug="").status_code == 302
    assert slugs() == ["welcome-email-automation", "welcome-email-automation-2", "welcome-email-automation-3"]


def test_a_slug_given_is_used_as_a_slug(browser):
    assert create(browser, slug="  Welcome for Texas!  ").status_code == 302
    assert slugs() == ["welcome-for-texas"]


def test_a_slug_given_that_is_taken_is_an_inline_error_and_creates_nothing(browser):
    create(browser, slug="welcome")
    response = create(browser, name="Another", slug="welcome")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(r'<div class="error" id="slug-error">an automation with the slug &#39;welcome&#39; exists: choose another', html)
    assert 'id="slug"' in html and "aria-invalid" in html
    assert slugs() == ["welcome"]


def test_the_form_offers_the_slug_as_optional(browser):
    html = browser.get("/automations/new").get_data(as_text=True)
    assert '<label for="slug">Slug</label>' in html and "derived from the name when left empty" in html


def test_the_settings_derive_a_blank_slug_from_the_name(browser, org):
    create(browser, slug="first")
    automation = db.session.scalar(select(Automation))
    headers = {"HX-Request": "true", "HX-Target": "settings-section"}
    response = browser.post(f"/automations/{automation.id}/settings", data={"name": "Renewals", "slug": ""}, headers=headers)
    assert response.status_code == 200 and slugs() == ["renewals"]
    create(browser, slug="taken")
    response = browser.post(f"/automations/{automation.id}/settings", data={"name": "Renewals", "slug": "taken"}, headers=headers)
    assert response.status_code == 422 and "the slug &#39;taken&#39; exists" in response.get_data(as_text=True)
    assert slugs() == ["renewals", "taken"]


def test_the_api_makes_a_derived_slug_unique_too(api):
    first = make_automation(api, name="Same name", trigger_type="manual")
    second = make_automation(api, name="Same name", trigger_type="manual")
    assert (first["slug"], second["slug"]) == ("same-name", "same-name-2")


def test_the_run_history_says_how_each_run_started(browser, org):
    automation = Automation(organization_id=org.id, name="Welcome", slug="welcome", trigger_type="lead_created", is_active=True)
    db.session.add(automation)
    db.session.commit()
    by_event, by_hand, on_schedule = make_lead(org), make_lead(org), make_lead(org)
    create_runs(org.id, [(automation, by_event.id, None)])
    start_manually(automation, [by_hand.id])
    create_runs(org.id, [(automation, on_schedule.id, None)], occurrence="2026-03-31T08:00:00")
    db.session.commit()
    runs = {run.lead_id: run.id for run in db.session.scalars(select(AutomationRun))}

    headers = {"HX-Request": "true", "HX-Target": "runs-section"}
    html = browser.get(f"/automations/{automation.id}/runs", headers=headers).get_data(as_text=True)
    labels = dict(re.findall(r'<tr data-run="(\d+)"><td>#\d+<div class="small muted run-started-by">([^<]+)</div>', html))
    assert labels == {
        str(runs[by_event.id]): "lead created",
        str(runs[by_hand.id]): "started by hand",
        str(runs[on_schedule.id]): "on schedule",
    }
