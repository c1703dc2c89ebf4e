"""The layout in a real Chromium at a laptop (1366 px), a small laptop or tablet (1024 px) and a phone
(390 px), on the demo data: every navigation entry can be reached on every page, no page scrolls
sideways on the phone, axe-core finds nothing critical or serious, the skip link and the favicon work.

Screenshots of every page at every width go to test-artifacts/screenshots/layout-<width>-<page>.png.
The vendored API document (/api/docs, Swagger UI) is left out of the axe check: its markup is not ours.
"""

import os
import pathlib
import re

import pytest
from flask import url_for
from playwright.sync_api import expect
from sqlalchemy import select

from tests.ui.conftest import screenshot, sign_in
from webapp.audit import audit
from webapp.extensions import db
from webapp.features import wiring
from webapp.leads.services import update_lead
from webapp.models import Automation, Campaign, EmailTemplate, Lead, Segment, User

ADMIN = "ada@acme-insurance.example.com"
PASSWORD = "demo-pass-123"
WIDTHS = (1366, 1024, 390)
AXE_SOURCE = (pathlib.Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js").read_text()  # npm: scripts/setup.sh
# The pages a person moves between with the navigation (and /tasks/ once that feature exists).
MAIN_PAGES = {
    "dashboard": "/",
    "leads": "/leads/",
    "lead": "/leads/{lead}",
    "segment-builder": "/segments/{segment}/edit",
    "automation-editor": "/automations/{automation}",
    "templates": "/email-templates/",
    "campaigns": "/campaigns/",
    "outbox": "/outbox/",
    "scheduled-tasks": "/scheduled-tasks/",
    "users": "/admin/users",
    "audit-log": "/admin/audit",
}
# Further pages checked for sideways scrolling and by axe, not for the navigation.
OTHER_PAGES = {
    "lead-form": "/leads/new",
    "lead-import": "/leads/import",
    "segments": "/segments/",
    "segment": "/segments/{segment}",
    "automations": "/automations/",
    "automation-new": "/automations/new",
    "automation-welcome": "/automations/{welcome}",
    "template-editor": "/email-templates/{template}",
    "campaign": "/campaigns/{campaign}",
    "notifications": "/notifications",
    "account": "/account",
}


@pytest.fixture
def demo(app):
    """``flask demo seed`` with 60 leads; the ids of the objects the pages show, the navigation's URLs."""
    result = app.test_cli_runner().invoke(args=["demo", "seed", "--leads", "60"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        ids = {
            "lead": db.session.scalar(select(Lead.id).order_by(Lead.id)),
            "segment": db.session.scalar(select(Segment.id).where(Segment.slug == "high-value-auto-leads")),
            "automation": db.session.scalar(select(Automation.id).where(Automation.name == "Lead qualification")),  # has conditions
            "welcome": db.session.scalar(select(Automation.id).where(Automation.name == "Welcome Email Automation")),
            "template": db.session.scalar(select(EmailTemplate.id).where(EmailTemplate.slug == "welcome-email")),
            "campaign": db.session.scalar(select(Campaign.id)),
        }
        _a_few_audited_changes(ids)
        with app.test_request_context():
            items = wiring(app).navigation + wiring(app).admin_navigation
            navigation = {item.label: url_for(item.endpoint) for item in items}
        pages = {**MAIN_PAGES, **OTHER_PAGES}
        if any(rule.rule == "/tasks/" for rule in app.url_map.iter_rules()):
            pages["tasks"] = "/tasks/"
    return {"pages": {name: path.format(**ids) for name, path in pages.items()}, "navigation": navigation}


def _a_few_audited_changes(ids: dict) -> None:
    """What an admin's morning leaves in the audit log: a lead's status, a user deactivated, a renamed segment."""
    admin = db.session.scalar(select(User).where(User.email == ADMIN))
    viewer = db.session.scalar(select(User).where(User.role == "viewer"))
    lead = db.session.get(Lead, ids["lead"])
    events = update_lead(lead, {"status": "contacted", "city": "Austin"}, admin.id)
    audit("update", lead, {e.event_type: e.data for e in events}, organization_id=admin.organization_id, user_id=admin.id)
    viewer.is_active = False
    audit("update", viewer, {"is_active": [True, False]}, organization_id=admin.organization_id, user_id=admin.id)
    segment = db.session.get(Segment, ids["segment"])
    audit("update", segment, {"name": ["High value auto", segment.name]}, organization_id=admin.organization_id, user_id=admin.id)
    db.session.commit()


@pytest.fixture(params=WIDTHS, ids=lambda width: f"{width}px")
def sized_page(request, browser, live_server):
    context = browser.new_context(base_url=live_server, viewport={"width": request.param, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.width = request.param
    yield page
    context.close()


def horizontal_overflow(page) -> int:
    """How many pixels the page is wider than the window (0: no sideways scrolling)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def elements_past_the_right_edge(page) -> list[str]:
    """The innermost elements that stick out on the right: what to fix when a page scrolls sideways."""
    return page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1
                && ![...el.children].some(child => child.getBoundingClientRect().right > window.innerWidth + 1))
            .slice(0, 5)
            .map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className && el.className.baseVal === undefined
                ? '.' + el.className.trim().split(/\\s+/).join('.') : '') + ' ' + Math.round(el.getBoundingClientRect().right))"""
    )


def serious_axe_violations(page) -> list[str]:
    page.evaluate(AXE_SOURCE)  # evaluated by the driver: the Content-Security-Policy does not apply
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[node['target'] for node in v['nodes'][:3]]}"
        for v in results["violations"]
        if v["impact"] in ("critical", "serious")
    ]


def unreachable_navigation(page, navigation: dict) -> list[str]:
    """The navigation entries a person cannot see after opening the Menu button and the groups."""
    nav = page.get_by_role("navigation", name="Main")
    menu = page.locator(".nav-toggle")
    if menu.is_visible():
        menu.click()
        expect(menu).to_have_attribute("aria-expanded", "true")
    missing = []
    for label, href in navigation.items():
        link = nav.locator(f'a[href="{href}"]')
        group = link.locator("xpath=ancestor::li[contains(@class, 'nav-group')]/button")
        opened = not link.is_visible() and group.count() == 1 and group.is_visible()
        if opened:
            group.click()
        box = link.bounding_box() if link.is_visible() else None
        if box is None or box["x"] < 0 or box["x"] + box["width"] > page.width:
            missing.append(label)
        if opened:
            page.keyboard.press("Escape")
    return missing


def test_every_page_at_every_width(sized_page, demo):
    page, width = sized_page, sized_page.width
    page.goto("/login")
    assert horizontal_overflow(page) <= 0
    assert serious_axe_violations(page) == []
    screenshot(page, f"layout-{width}-login")
    sign_in(page, ADMIN, PASSWORD)

    problems = []
    only = os.environ.get("LAYOUT_PAGES", "").split(",")  # e.g. LAYOUT_PAGES=users,leads while working on those
    for name, path in demo["pages"].items():
        if only != [""] and name not in only:
            continue
        page.goto(path)
        expect(page.locator("main h1").first).to_be_visible()
        page.wait_for_load_state("networkidle")
        screenshot(page, f"layout-{width}-{name}")
        if (overflow := horizontal_overflow(page)) > 0:
            problems.append(f"{name}: {overflow}px wider than the window: {elements_past_the_right_edge(page)}")
        problems += [f"{name}: axe {violation}" for violation in serious_axe_violations(page)]
        if name in MAIN_PAGES or name == "tasks":
            problems += [f"{name}: cannot reach {label}" for label in unreachable_navigation(page, demo["navigation"])]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("width", [360, 880, 960, 1100, 1280])
def test_the_navigation_works_at_the_widths_in_between(browser, live_server, demo, width):
    context = browser.new_context(base_url=live_server, viewport={"width": width, "height": 800})
    page = context.new_page()
    page.width = width
    sign_in(page, ADMIN, PASSWORD)
    page.goto(demo["pages"]["automation-editor"])
    assert horizontal_overflow(page) <= 0, elements_past_the_right_edge(page)
    topbar = page.locator(".topbar").bounding_box()
    assert topbar["height"] <= 64 or width < 880  # one line where the bar shows the links
    assert unreachable_navigation(page, demo["navigation"]) == []
    context.close()


def test_the_menu_button_opens_and_closes_with_the_keyboard(browser, live_server, demo):
    context = browser.new_context(base_url=live_server, viewport={"width": 390, "height": 800})
    page = context.new_page()
    sign_in(page, ADMIN, PASSWORD)
    menu = page.get_by_role("button", name="Menu")
    nav = page.get_by_role("navigation", name="Main")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(nav.get_by_role("link", name="Leads")).to_be_hidden()

    menu.focus()
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(nav.get_by_role("link", name="Audit log")).to_be_visible()
    screenshot(page, "layout-390-menu-open")
    page.keyboard.press("Tab")
    page.keyboard.press("Escape")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(menu).to_be_focused()
    expect(nav.get_by_role("link", name="Leads")).to_be_hidden()
    context.close()


def test_more_and_admin_open_with_the_keyboard_where_the_bar_is_full(browser, live_server, demo):
    context = browser.new_context(base_url=live_server, viewport={"width": 1024, "height": 800})
    page = context.new_page()
    sign_in(page, ADMIN, PASSWORD)
    more = page.get_by_role("button", name="More", exact=True)
    outbox = page.get_by_role("navigation", name="Main").get_by_role("link", name="Outbox")
    expect(outbox).to_be_hidden()
    more.focus()
    page.keyboard.press("Space")
    expect(more).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("Tab")  # into the opened menu
    assert page.evaluate("document.activeElement.closest('#nav-more') !== null")
    screenshot(page, "layout-1024-more-open")
    for _ in range(page.locator("#nav-more a").count()):
        if page.evaluate("document.activeElement.getAttribute('href')") == "/outbox/":
            break
        page.keyboard.press("Tab")
    expect(outbox).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url("**/outbox/")
    expect(page.locator('#nav-more a[href="/outbox/"]')).to_have_attribute("aria-current", "page")
    expect(more).to_have_class(re.compile(r"\bactive\b"))  # the group shows where you are

    admin = page.get_by_role("button", name="Admin", exact=True)
    admin.click()
    expect(page.get_by_role("link", name="Audit log")).to_be_visible()
    page.mouse.click(600, 500)  # a click elsewhere closes it
    expect(admin).to_have_attribute("aria-expanded", "false")
    context.close()


def test_the_skip_link_is_the_first_stop_and_moves_focus_to_the_content(page, demo):
    sign_in(page, ADMIN, PASSWORD)
    page.goto("/leads/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_the_favicon_is_served_and_linked(page, live_server):
    response = page.request.get(f"{live_server}/favicon.ico")
    assert response.status == 200 and response.headers["content-type"].startswith("image/svg+xml")
    page.goto("/login")
    href = page.locator("link[rel=icon]").get_attribute("href")
    assert page.request.get(f"{live_server}{href}").status == 200
