"""Tasks in a real Chromium: an agent lands on "My tasks", completes a call in one click and sees the
navigation count follow; the lead page's tasks card shows a task added by hand and one made in the
background (an automation's), without a reload (SPEC §14)."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.factories import make_lead, make_org, make_user
from tests.ui.conftest import screenshot, sign_in
from webapp.extensions import db
from webapp.models import Lead, User, utcnow
from webapp.tasks.services import create_task

EMAIL = "alex@acme.example.com"


@pytest.fixture
def agent_with_tasks(app):
    """An agent with two overdue calls and an upcoming follow-up about Priya Johnson."""
    with app.app_context():
        org = make_org("Acme Insurance")
        agent = make_user(org, email=EMAIL, role="agent", name="Alex Agent")
        lead = make_lead(org, first_name="Priya", last_name="Johnson", email="priya@example.com", assigned_to_id=agent.id)
        now = utcnow()
        for title, hours in (("Call {{ first_name }} about the quote", -5), ("Call {{ first_name }} back", -2)):
            create_task(lead, {"task_type": "call", "title": title, "assignee_id": agent.id, "due_at": now + timedelta(hours=hours)})
        create_task(
            lead,
            {
                "task_type": "follow_up",
                "title": "Follow up with {{ full_name }}",
                "assignee_id": agent.id,
                "due_at": now + timedelta(days=3),
            },
        )
        db.session.commit()
        return {"lead_id": lead.id, "agent_id": agent.id}


def nav_count(page):
    return page.locator("#nav-badge-tasks-index")


def test_an_agent_completes_a_call_in_one_click_and_the_count_follows(page, agent_with_tasks):
    sign_in(page, EMAIL)
    expect(page).to_have_url(re.compile(r"/tasks/$"))
    expect(page.get_by_role("heading", name="My tasks")).to_be_visible()
    expect(nav_count(page)).to_have_text("2")
    expect(nav_count(page)).to_have_attribute("aria-label", "2 open tasks due")
    overdue = page.locator("#tasks-overdue")
    expect(overdue.locator("[data-status=open]")).to_have_count(2)
    expect(page.locator("#tasks-upcoming")).to_contain_text("Follow up with Priya Johnson")
    page.evaluate("window.leadflowMarker = 'before completing'")

    row = overdue.locator("li", has_text="Call Priya back")
    row.get_by_role("button", name=re.compile("^Voicemail")).click()

    expect(overdue.locator("li", has_text="Call Priya back")).to_have_attribute("data-status", "done")
    expect(overdue.locator("li", has_text="Call Priya back")).to_contain_text("Voicemail")
    expect(nav_count(page)).to_have_text("1")
    assert page.evaluate("window.leadflowMarker") == "before completing"  # no reload
    screenshot(page, "tasks-my-tasks-after-completing")

    overdue.locator("li", has_text="about the quote").get_by_role("button", name=re.compile("^Reached")).click()
    expect(nav_count(page)).to_be_hidden()
    page.reload()
    expect(page.locator("#tasks-overdue")).to_contain_text("Nothing overdue.")


def test_the_lead_page_shows_a_task_added_by_hand_and_one_made_in_the_background(page, app, agent_with_tasks):
    sign_in(page, EMAIL)
    page.goto(f"/leads/{agent_with_tasks['lead_id']}")
    card = page.locator("#lead-tasks")
    expect(card).to_contain_text("Call Priya back")
    page.evaluate("window.leadflowMarker = 'on the lead page'")

    card.get_by_text("New task").click()
    card.get_by_label("Title").fill("Send {{ first_name }} the comparison")
    card.get_by_label("Type").select_option("email")
    card.get_by_role("button", name="Add task").click()
    expect(card.locator("#lead-task-list")).to_contain_text("Send Priya the comparison")
    expect(card).to_contain_text("Task added: Send Priya the comparison")

    card.get_by_text("New task").click()
    card.get_by_label("Title").fill("Call {{ first_name")
    card.get_by_role("button", name="Add task").click()
    expect(card).to_contain_text("not a valid template")

    with app.app_context():  # what the create_task automation step does, in another process
        lead = db.session.get(Lead, agent_with_tasks["lead_id"])
        create_task(
            lead,
            {
                "task_type": "review",
                "title": "Review {{ last_name }}'s file",
                "assignee_id": db.session.get(User, agent_with_tasks["agent_id"]).id,
            },
        )
        db.session.commit()
    expect(card.locator("#lead-task-list")).to_contain_text("Review Johnson's file", timeout=15_000)
    assert page.evaluate("window.leadflowMarker") == "on the lead page"
    screenshot(page, "tasks-lead-page-card")
