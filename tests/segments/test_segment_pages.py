"""The segment pages (server side): builder form and its HTMX endpoints, segment page, lead panel."""

import re
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from tests.conftest import login_browser
from tests.factories import make_lead, make_org, make_user
from tests.segments.helpers import SEED_SEGMENT, active_member_ids
from webapp.extensions import db
from webapp.models import Segment
from webapp.segments import services

SEED_FORM = {
    "name": "High-Value Auto Leads",
    "slug": "",
    "description": "Auto, high value, new",
    "kind": "dynamic",
    "is_active": "y",
    "match_all": "true",
    "rules-0-field": "insurance_type",
    "rules-0-operator": "equals",
    "rules-0-value": "auto",
    "rules-1-field": "value_estimate",
    "rules-1-operator": "greater_than",
    "rules-1-value": "1000",
    "rules-2-field": "status",
    "rules-2-operator": "equals",
    "rules-2-value": "new",
}


@pytest.fixture
def marketer(org):
    return make_user(org, email="mia@acme.example.com", role="marketer", name="Mia Marketer")


@pytest.fixture
def browser(client, marketer):
    assert login_browser(client, marketer.email).status_code == 302
    return client


@pytest.fixture
def leads(org):
    return [
        make_lead(org, first_name="Hit", value_estimate=Decimal("1500")),
        make_lead(org, first_name="Miss", insurance_type="home", tags=("vip",)),
    ]


def segment_of(org, **fields) -> Segment:
    segment, _ = services.create_segment(org.id, {**SEED_SEGMENT, **fields})
    db.session.commit()
    return segment


def hx(**headers):
    return {"HX-Request": "true", **headers}


# --- the builder ---------------------------------------------------------------------------------------------


def test_the_new_segment_page_offers_the_builder(browser):
    page = browser.get("/segments/new").get_data(as_text=True)
    assert 'class="rule-builder"' in page and "+ Add rule" in page
    assert 'id="rule-preview"' in page and 'hx-post="/segments/preview"' in page
    assert 'name="match_all" value="false"' in page


def test_saving_the_builder_form_creates_and_fills_the_segment(browser, org, leads):
    response = browser.post("/segments/new", data=SEED_FORM)
    assert response.status_code == 302
    segment = db.session.scalar(select(Segment))
    assert response.headers["Location"].endswith(f"/segments/{segment.id}")
    assert (segment.slug, segment.member_count) == ("high-value-auto-leads", 1)
    assert segment.raw_rules[1] == {"field": "value_estimate", "operator": "greater_than", "value": "1000.00"}
    page = browser.get(f"/segments/{segment.id}").get_data(as_text=True)
    assert "1 entered" in page or "Segment saved: 1 entered" in page
    assert "Hit Doe" in page and "Miss Doe" not in page


def test_a_bad_value_is_shown_inline_on_its_row_and_nothing_is_saved(browser, org):
    response = browser.post("/segments/new", data={**SEED_FORM, "rules-1-value": "lots"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    rows = re.findall(r'<li class="rule-row".*?</li>', page, re.S)
    assert len(rows) == 3
    assert "not a number" in rows[1] and "not a number" not in rows[0] + rows[2]
    assert 'value="lots"' in rows[1]
    assert db.session.scalar(select(Segment)) is None


def test_a_missing_name_and_a_taken_slug_are_shown_on_their_fields(browser, org):
    segment_of(org)
    page = browser.post("/segments/new", data={**SEED_FORM, "name": ""}).get_data(as_text=True)
    assert "is required" in page
    response = browser.post("/segments/new", data={**SEED_FORM, "slug": "high-value-auto-leads"})
    assert response.status_code == 422
    assert "already exists; choose another slug" in response.get_data(as_text=True)


def test_the_row_endpoint_redraws_a_row_for_its_new_field(browser):
    response = browser.get(
        "/segments/rule-row",
        query_string={
            "rules-2-field": "value_estimate",
            "rules-2-operator": "equals",
            "rules-2-value": "new",
            "rules-2-shown": "status",
            "preview": "1",
        },
        headers=hx(),
    )
    html = response.get_data(as_text=True)
    assert response.headers["HX-Trigger-After-Settle"] == "rules-changed"
    operators = re.findall(r'<option value="(\w+)"', html.split('class="rule-operator"')[1].split("</select>")[0])
    assert operators == ["equals", "not_equals", "greater_than", "less_than", "in", "not_in"]
    assert 'type="number"' in html and 'name="rules-2-value" value=""' in html
    assert 'id="rule-error-2"' in html

    tags = browser.get("/segments/rule-row", query_string={"rules-0-field": "tags", "rules-0-operator": "in"})
    assert "has any of the tags" in tags.get_data(as_text=True) and "other tags" in tags.get_data(as_text=True)
    dates = browser.get("/segments/rule-row", query_string={"rules-0-field": "created_at", "rules-0-mode": "hours"})
    assert 'name="rules-0-amount"' in dates.get_data(as_text=True)


def test_the_row_endpoint_adds_a_row_after_the_last(browser):
    html = browser.get("/segments/rule-row", query_string={"add": "1", "rules-0-field": "status", "rules-4-field": "city"}).get_data(
        as_text=True
    )
    assert 'name="rules-5-field"' in html


def test_the_tag_picker_suggests_only_this_organizations_tags(browser, org, leads):
    make_lead(make_org("Beta Brokers"), tags=("beta-secret",))
    html = browser.get("/segments/rule-row", query_string={"rules-0-field": "tags", "rules-0-operator": "contains"}).get_data(as_text=True)
    assert '<option value="vip">' in html and "beta-secret" not in html


def test_the_preview_counts_matches_and_places_errors_on_the_posted_rows(browser, org, leads):
    make_lead(make_org("Beta Brokers"), value_estimate=Decimal("5000"))
    form = {k: v for k, v in SEED_FORM.items() if k.startswith(("rules", "match"))}
    html = browser.post("/segments/preview", data=form, headers=hx()).get_data(as_text=True)
    assert 'data-count="1"' in html and "Hit Doe" in html

    bad = {**{k.replace("rules-2-", "rules-7-"): v for k, v in form.items()}, "rules-7-value": "purple"}
    html = browser.post("/segments/preview", data=bad, headers=hx()).get_data(as_text=True)
    assert "Fix the highlighted rule" in html
    assert re.search(r'id="rule-error-7"[^>]*hx-swap-oob="true">[^<]*not a valid status', html)
    assert re.search(r'id="rule-error-0"[^>]*hx-swap-oob="true"></div>', html)

    assert "Add a rule" in browser.post("/segments/preview", data={}).get_data(as_text=True)


def test_the_preview_count_equals_the_api_evaluate_count(browser, api, org):
    for n in range(12):
        make_lead(org, value_estimate=Decimal(800 + 50 * n), status=["new", "contacted"][n % 2])
    segment = segment_of(org)
    form = {k: v for k, v in SEED_FORM.items() if k.startswith(("rules", "match"))}
    html = browser.post("/segments/preview", data=form, headers=hx()).get_data(as_text=True)
    count = int(re.search(r'data-count="(\d+)"', html).group(1))
    assert count == api.post(f"/api/v1/segments/{segment.id}/evaluate").get_json()["count"] == 3


def test_editing_shows_the_saved_rules_in_the_builder(browser, org):
    segment = segment_of(
        org,
        rules=[
            {"field": "created_at", "operator": "less_than", "value": "7 days ago"},
            {"field": "state", "operator": "in", "value": "TX, ca"},
        ],
    )
    html = browser.get(f"/segments/{segment.id}/edit").get_data(as_text=True)
    assert 'name="rules-0-amount" value="7"' in html
    assert 'name="rules-1-value" value="TX, CA"' in html


# --- the segment page ------------------------------------------------------------------------------------------------


def test_the_segment_page_shows_members_size_chart_and_history(browser, org, leads):
    segment = segment_of(org)
    html = browser.get(f"/segments/{segment.id}").get_data(as_text=True)
    assert 'id="member-count">1<' in html
    assert "<svg" in html and 'class="size-chart"' in html
    assert "Hit Doe" in html and "entered" in html
    assert "Insurance type is auto" in html


def test_refresh_shows_entered_and_exited_and_asks_the_sections_to_reload(browser, org, leads):
    segment = segment_of(org)
    db.session.execute(text("UPDATE leads SET insurance_type = 'auto'"))
    db.session.commit()
    response = browser.post(f"/segments/{segment.id}/refresh", headers=hx(**{"HX-Target": "segment-refresh"}))
    html = response.get_data(as_text=True)
    assert response.headers["HX-Trigger"] == "segment-refreshed"
    assert re.search(r'class="entered"><b>1</b> entered', html) and re.search(r'class="exited"><b>0</b> left', html)
    assert "<html" not in html  # a fragment
    members = browser.get(f"/segments/{segment.id}", headers=hx(**{"HX-Target": "segment-members"}))
    assert "Miss Doe" in members.get_data(as_text=True) and "<html" not in members.get_data(as_text=True)


def test_why_explains_each_rule_for_a_lead(browser, org, leads):
    segment = segment_of(org)
    html = browser.get(f"/segments/{segment.id}/why?lead_id={leads[1].id}", headers=hx(**{"HX-Target": "why-result"})).get_data(
        as_text=True
    )
    assert "Matches 2 of 3 rules" in html and "the rules leave this lead out" in html
    verdicts = re.findall(r'<li class="(pass|fail)"', html)
    assert verdicts == ["fail", "pass", "pass"]
    assert "This lead: home" in html
    page = browser.get(f"/segments/{segment.id}?lead_id={leads[0].id}").get_data(as_text=True)
    assert "Member since" in page and "Matches 3 of 3 rules" in page


def test_why_and_add_pick_their_lead_with_the_lead_combobox(browser, org, leads):
    static = segment_of(org, is_dynamic=False, slug="picked")
    html = browser.get(f"/segments/{static.id}").get_data(as_text=True)
    assert 'id="why-lead" name="q"' in html and 'role="combobox"' in html and "/leads/search" in html
    assert 'id="add-lead" name="q"' in html and 'name="lead_id" id="add-lead-value"' in html
    assert "/lead-search" not in html


def test_why_for_a_chosen_lead_puts_the_segment_page_in_the_address_bar(browser, org, leads):
    segment = segment_of(org)
    response = browser.get(f"/segments/{segment.id}/why?lead_id={leads[1].id}", headers=hx(**{"HX-Target": "why-result"}))
    assert response.headers["HX-Push-Url"] == f"/segments/{segment.id}?lead_id={leads[1].id}"


def test_static_members_are_added_and_removed_on_the_page(browser, org, leads):
    segment = segment_of(org, is_dynamic=False, slug="picked")
    html = browser.post(
        f"/segments/{segment.id}/members", data={"lead_id": leads[1].id}, headers=hx(**{"HX-Target": "segment-members"})
    ).get_data(as_text=True)
    assert "Miss Doe added." in html and active_member_ids(segment.id) == {leads[1].id}
    html = browser.post(f"/segments/{segment.id}/members/{leads[1].id}/remove", headers=hx(**{"HX-Target": "segment-members"})).get_data(
        as_text=True
    )
    assert "removed" in html and active_member_ids(segment.id) == set()


def test_hand_edits_of_a_dynamic_segment_are_refused(browser, org, leads):
    segment = segment_of(org)
    response = browser.post(
        f"/segments/{segment.id}/members", data={"lead_id": leads[1].id}, headers=hx(**{"HX-Target": "segment-members"})
    )
    assert response.status_code == 409 and "only to static segments" in response.get_data(as_text=True)


def test_another_organizations_lead_is_not_found_on_the_segment_pages(browser, org):
    segment = segment_of(org, is_dynamic=False, slug="picked")
    foreign = make_lead(make_org("Beta Brokers"))
    assert browser.get(f"/segments/{segment.id}/why?lead_id={foreign.id}").status_code == 404
    assert browser.post(f"/segments/{segment.id}/members", data={"lead_id": foreign.id}).status_code == 404
    assert browser.post("/segments/members", data={"segment_id": segment.id, "lead_id": foreign.id}).status_code == 404


def test_viewers_see_segments_but_cannot_change_them(client, org):
    segment = segment_of(org)
    viewer = make_user(org, role="viewer")
    login_browser(client, viewer.email)
    assert client.get(f"/segments/{segment.id}").status_code == 200
    assert "Refresh now" not in client.get(f"/segments/{segment.id}").get_data(as_text=True)
    assert client.get("/segments/new").status_code == 403
    assert client.post(f"/segments/{segment.id}/refresh").status_code == 403
    assert client.post(f"/segments/{segment.id}/delete").status_code == 403


def test_delete_from_the_page(browser, org):
    segment = segment_of(org)
    response = browser.post(f"/segments/{segment.id}/delete")
    assert response.status_code == 302 and db.session.scalar(select(Segment)) is None


# --- other pages --------------------------------------------------------------------------------------------------


def test_the_lead_page_lists_its_segments_and_adds_it_to_static_ones(browser, org, leads):
    dynamic = segment_of(org)
    static = segment_of(org, name="Picked", slug="picked", is_dynamic=False)
    html = browser.get(f"/leads/{leads[0].id}").get_data(as_text=True)
    panel = html.split('id="lead-segments"')[1]
    assert dynamic.name in panel and "Add to a static segment" in panel and "Picked" in panel

    response = browser.post(
        "/segments/members",
        data={"segment_id": static.id, "lead_id": leads[0].id, "from": "lead"},
        headers=hx(**{"HX-Target": "lead-segments"}),
    )
    assert 'id="lead-segments"' in response.get_data(as_text=True)
    assert active_member_ids(static.id) == {leads[0].id}


def test_the_list_the_dashboard_and_the_navigation_show_segments(browser, org, leads):
    segment_of(org)
    make_org_segment = segment_of(make_org("Beta Brokers"), name="Beta only", slug="beta-only")
    listing = browser.get("/segments/").get_data(as_text=True)
    assert "High-Value Auto Leads" in listing and make_org_segment.name not in listing
    assert re.search(r'<td class="num"[^>]*>1</td>', listing)
    dashboard = browser.get("/").get_data(as_text=True)
    assert "Segments" in dashboard and 'href="/segments/"' in dashboard


def test_a_running_refresh_shows_its_progress_and_is_not_started_twice(browser, org, leads):
    from webapp.models import SegmentRefresh

    segment = segment_of(org)
    running = SegmentRefresh(organization_id=org.id, segment_id=segment.id, status="running", processed=3, total=4)
    db.session.add(running)
    db.session.commit()
    html = browser.post(f"/segments/{segment.id}/refresh", headers=hx(**{"HX-Target": "segment-refresh"})).get_data(as_text=True)
    assert "Refreshing… 75%" in html and 'hx-trigger="every 1s"' in html
    assert db.session.scalar(select(func.count()).select_from(SegmentRefresh)) == 2  # the save's, and this one


@pytest.mark.parametrize("headers", [{}, hx(), hx(**{"HX-Target": "nowhere"})], ids=["plain", "htmx", "other-target"])
def test_the_members_and_why_pages_open_directly_as_whole_pages(browser, org, leads, headers):
    segment = segment_of(org)
    members = browser.get(f"/segments/{segment.id}/members", headers=headers)
    why = browser.get(f"/segments/{segment.id}/why?lead_id={leads[1].id}", headers=headers)
    assert (members.status_code, why.status_code) == (200, 200)
    assert "Hit" in members.get_data(as_text=True)
    assert "Miss" in why.get_data(as_text=True)
