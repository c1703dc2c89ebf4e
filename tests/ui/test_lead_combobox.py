"""The lead combobox's suggestions (GET /leads/search): an option list of the acting organization's
leads only, found by name, email, phone or id; and the pages that pick a lead with it."""

import re

import pytest

from tests.conftest import login_browser
from tests.email.helpers import make_template
from tests.factories import make_lead, make_org, make_user
from webapp.extensions import db
from webapp.leads.lookup import NO_LEAD_CHOSEN
from webapp.models import Automation, Segment


@pytest.fixture
def browser(client, org):
    """A marketer of Acme, signed in."""
    make_user(org, email="mia@acme.example.com", role="marketer")
    assert login_browser(client, "mia@acme.example.com").status_code == 302
    return client


@pytest.fixture
def leads(org):
    return {
        "maria": make_lead(org, first_name="Maria", last_name="Lopez", email="maria@example.com", phone="+1 512 555 0101"),
        "john": make_lead(org, first_name="John", last_name="Smith", email="john@example.com", phone="+1 512 555 0199"),
        "foreign": make_lead(make_org("Beta Brokers"), first_name="Maria", last_name="Beta", email="maria@beta.example.com"),
    }


def options(html: str) -> list[int]:
    return [int(value) for value in re.findall(r'role="option"[^>]*data-value="(\d+)"', html, re.S)]


def search(browser, **params):
    response = browser.get("/leads/search", query_string=params, headers={"HX-Request": "true"})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_suggestions_are_options_of_the_listbox_they_go_into(browser, leads):
    html = search(browser, q="maria", listbox="dry-lead-options")
    maria = leads["maria"]
    assert options(html) == [maria.id]
    assert f'id="dry-lead-options-{maria.id}"' in html and 'aria-selected="false"' in html
    assert f'data-label="Maria Lopez (#{maria.id})"' in html
    assert "<html" not in html  # a fragment


@pytest.mark.parametrize("q", ["john@example", "555 0199", "Smith"])
def test_a_lead_is_found_by_email_phone_or_name(browser, leads, q):
    assert options(search(browser, q=q)) == [leads["john"].id]


def test_a_lead_is_found_by_its_full_name(browser, leads):
    assert options(search(browser, q="maria lopez")) == [leads["maria"].id]


def test_an_id_puts_that_lead_first(browser, leads):
    assert options(search(browser, q=f"#{leads['john'].id}"))[0] == leads["john"].id


def test_another_organizations_lead_is_never_suggested(browser, leads):
    foreign = leads["foreign"]
    for q in ("maria", "beta", foreign.email, str(foreign.id), f"#{foreign.id}"):
        html = search(browser, q=q)
        assert foreign.id not in options(html) and "Beta" not in html, q


def test_no_match_is_said_and_an_empty_query_lists_nothing(browser, leads):
    html = search(browser, q="zzz")
    assert options(html) == [] and "No lead matches “zzz”." in html and 'role="presentation"' in html
    assert search(browser, q="  ").strip() == ""


def test_a_listbox_id_that_is_not_an_id_is_not_echoed(browser, leads):
    html = search(browser, q="maria", listbox='"><script>')
    assert "<script>" not in html and f'id="lead-options-{leads["maria"].id}"' in html


def test_signed_out_people_get_no_suggestions(client, leads):
    response = client.get("/leads/search?q=maria")
    assert response.status_code in (302, 401) and "Maria" not in response.get_data(as_text=True)


def test_dry_run_start_and_template_preview_pick_their_lead_with_the_combobox(browser, org, leads):
    automation = Automation(organization_id=org.id, name="Welcome", slug="welcome", trigger_type="manual", trigger_configuration={})
    db.session.add(automation)
    db.session.commit()
    editor = browser.get(f"/automations/{automation.id}").get_data(as_text=True)
    assert 'role="combobox"' in editor and 'id="dry-lead"' in editor and 'name="lead_id" id="dry-lead-value"' in editor
    assert "Start for this lead" in editor
    template = make_template(org)
    page = browser.get(f"/email-templates/{template.id}").get_data(as_text=True)
    assert 'id="preview-lead-search"' in page and 'name="lead_id" id="preview-lead" value=""' in page
    assert '<select id="preview-lead"' not in page  # no 100-lead dropdown any more
    # the endpoints still take lead_id
    dry = browser.post(f"/automations/{automation.id}/dry-run", data={"lead_id": leads["maria"].id}, headers={"HX-Request": "true"})
    assert dry.status_code == 200 and 'value="Maria Lopez (#' in dry.get_data(as_text=True)
    foreign = browser.post(f"/automations/{automation.id}/dry-run", data={"lead_id": leads["foreign"].id}, headers={"HX-Request": "true"})
    assert foreign.status_code == 422


def test_adding_to_a_static_segment_without_choosing_a_lead_says_so(browser, org, leads):
    segment = Segment(organization_id=org.id, name="Call list", slug="call-list", is_dynamic=False, match_all_rules=True)
    db.session.add(segment)
    db.session.commit()
    headers = {"HX-Request": "true", "HX-Target": "segment-members"}
    response = browser.post(f"/segments/{segment.id}/members", data={"q": "mar", "lead_id": ""}, headers=headers)
    assert response.status_code == 422 and NO_LEAD_CHOSEN in response.get_data(as_text=True)
    assert browser.post(f"/segments/{segment.id}/members", data={"lead_id": leads["foreign"].id}, headers=headers).status_code == 404
