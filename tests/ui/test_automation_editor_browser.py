"""The automation editor in a real Chromium (SPEC §10), with the real ``python worker.py``: build the
seed's "Welcome Email Automation" step by step without a reload, activate it, create a lead through
the lead form, watch its run complete in the run history, and dry-run it on that lead."""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.email.helpers import make_template
from tests.factories import make_org, make_user
from tests.ui.combobox import choose_lead
from tests.ui.conftest import screenshot, sign_in
from webapp.extensions import db
from webapp.models import Automation, Lead, OutboxMessage, Task

MARKETER = "mia@acme.example.com"


@pytest.fixture
def acme(app):
    with app.app_context():
        org = make_org("Acme Insurance")
        make_user(org, email=MARKETER, role="marketer", name="Mia Marketer")
        agent = make_user(org, email="alex@acme.example.com", role="agent", name="Alex Morgan")
        template = make_template(org)  # the seed's "Welcome Email"
        yield {"agent_id": agent.id, "template_id": template.id}
        db.session.remove()


def steps(page):
    return page.locator("#step-list > li.step")


def expect_step_types(page, *types: str) -> None:
    expect(steps(page)).to_have_count(len(types))
    for position, action_type in enumerate(types):  # expect() waits for the swap
        expect(steps(page).nth(position)).to_have_attribute("data-action-type", action_type)
        expect(steps(page).nth(position).locator(".step-number")).to_have_text(str(position + 1))


def add_step(page, label: str):
    """Choose a step type, open its form and return the form."""
    page.get_by_label("Add a step").select_option(label=label)
    page.get_by_role("button", name="+ Add step").click()
    form = page.locator("#step-form")
    expect(form.get_by_role("heading")).to_have_text(f"New step: {label}")
    return form


def test_build_activate_run_and_dry_run_the_welcome_automation(app, acme, page, worker_process):
    sign_in(page, MARKETER)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Automations").click()
    page.get_by_role("link", name="+ New automation").click()
    page.get_by_label("Name").fill("Welcome Email Automation")
    page.get_by_label("Description").fill("Send welcome email to new leads")
    page.locator("#trigger_type").select_option("lead_created")
    expect(page.locator("#trigger-fields")).to_contain_text("it starts for every new lead")
    page.get_by_role("button", name="Create and add steps").click()
    page.wait_for_url(re.compile(r"/automations/\d+$"))
    automation_id = int(page.url.rsplit("/", 1)[1])
    expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome Email Automation")
    expect(page.locator("#step-list")).to_contain_text("No steps yet")
    page.evaluate("window.__marker = 'no reload'")

    # 1. the welcome email
    form = add_step(page, "Send email")
    form.get_by_label("Email template").select_option(label="Welcome Email")
    form.get_by_label("Subject (optional override)").fill("Welcome to Our Insurance Services")
    screenshot(page, "automation-step-form")
    form.get_by_role("button", name="Add step").click()
    expect_step_types(page, "send_email")
    expect(steps(page).first).to_contain_text("Send “Welcome Email” to the lead")

    # 2. a follow-up task for the agent
    form = add_step(page, "Create task")
    form.get_by_label("Task type").select_option("follow_up")
    form.get_by_label("Title").fill("Follow up with new lead")
    form.get_by_label("Due in (days)").fill("2")
    form.get_by_label("Assignee").select_option(label="Alex Morgan (agent)")
    form.get_by_role("button", name="Add step").click()
    expect_step_types(page, "send_email", "create_task")

    # 3. a third step, then deleted again
    form = add_step(page, "Add tag")
    form.get_by_label("Tag").fill("welcomed")
    form.get_by_role("button", name="Add step").click()
    expect_step_types(page, "send_email", "create_task", "add_tag")
    steps(page).nth(2).get_by_role("button", name="Delete step 3").click()
    expect(steps(page).nth(2)).to_contain_text("Delete this step?")  # asked in the page, not in a dialog
    steps(page).nth(2).get_by_role("button", name="Yes, delete").click()
    expect_step_types(page, "send_email", "create_task")

    # reorder with ↓ and ↑: the numbers follow
    page.get_by_role("button", name="Move step 1 down").click()
    expect_step_types(page, "create_task", "send_email")
    page.get_by_role("button", name="Move step 2 up").click()
    expect_step_types(page, "send_email", "create_task")

    # edit the task step: its summary changes
    task_step = steps(page).nth(1)
    expect(task_step).to_contain_text("Create follow up task “Follow up with new lead”, due in 2 day(s)")
    task_step.get_by_role("button", name="Edit").click()
    form = page.locator("#step-form")
    expect(form.get_by_label("Title")).to_have_value("Follow up with new lead")
    form.get_by_label("Title").fill("Call the new lead")
    form.get_by_label("Due in (days)").fill("1")
    screenshot(page, "automation-step-edit")
    form.get_by_role("button", name="Save step").click()
    expect(steps(page).nth(1)).to_contain_text("Create follow up task “Call the new lead”, due in 1 day(s)")
    expect(page.locator("#step-form")).to_have_count(0)

    page.get_by_role("button", name="Activate").click()
    expect(page.locator("#automation-status")).to_have_text("active")
    assert page.evaluate("window.__marker") == "no reload", "the editor reloaded the page"
    screenshot(page, "automation-editor")
    with app.app_context():
        automation = db.session.get(Automation, automation_id)
        assert automation.is_active and automation.trigger_type == "lead_created"
        assert [(a.action_type, a.action_order) for a in automation.actions] == [("send_email", 0), ("create_task", 1)]
        assert automation.actions[0].configuration == {
            "template_id": acme["template_id"],
            "personalize": True,
            "subject": "Welcome to Our Insurance Services",
            "to": "lead",
        }

    # a lead comes in through the lead form
    page.goto("/leads/new")
    page.get_by_label("First name").fill("Maria")
    page.get_by_label("Last name").fill("Lopez")
    page.get_by_label("Email", exact=True).fill("maria@example.com")
    page.get_by_role("button", name="Create lead").click()
    page.wait_for_url(re.compile(r"/leads/\d+$"))
    lead_id = int(page.url.rsplit("/", 1)[1])

    # its run shows up in the history (which polls every 3 s) with both steps completed
    page.goto(f"/automations/{automation_id}")
    page.evaluate("window.__marker = 'history'")
    run_row = page.locator("#run-table tr[data-run]")
    expect(run_row).to_have_count(1, timeout=20_000)
    expect(run_row.locator("[data-step-status='completed']")).to_have_count(2, timeout=20_000)
    expect(run_row).to_contain_text("Maria Lopez")
    expect(run_row.locator(".badge").first).to_have_text("completed")
    assert page.evaluate("window.__marker") == "history", "the run history reloaded the page"
    run_row.scroll_into_view_if_needed()
    screenshot(page, "automation-runs")
    with app.app_context():
        message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.lead_id == lead_id))
        # the shared worker has no MAIL_SERVER: the email is rendered and held in the outbox
        assert message.status in ("held", "sent") and message.to_address == "maria@example.com"
        assert message.subject == "Welcome to Our Insurance Services" and "Welcome Maria!" in message.body_html
        task = db.session.scalar(select(Task).where(Task.lead_id == lead_id))
        assert (task.title, task.task_type, task.assignee_id) == ("Call the new lead", "follow_up", acme["agent_id"])
        assert db.session.get(Lead, lead_id).first_name == "Maria"

    # dry run on that lead: each step's verdict; a disabled step is not run
    dry = page.locator("#dry-run-section")
    choose_lead(dry.get_by_role("combobox", name="Lead"), "Maria", lead_id)
    dry.get_by_role("button", name="Dry run").click()
    verdicts = page.locator("#dry-run-result li[data-verdict]")
    expect(verdicts).to_have_count(2)
    assert [v.get_attribute("data-verdict") for v in verdicts.all()] == ["run", "run"]
    expect(verdicts.first).to_contain_text("to maria@example.com")
    steps(page).nth(1).get_by_role("button", name="Disable").click()
    expect(steps(page).nth(1)).to_contain_text("disabled")
    dry.get_by_role("button", name="Dry run").click()
    expect(page.locator("#dry-run-result li[data-verdict='disabled']")).to_have_count(1)
    assert [v.get_attribute("data-verdict") for v in verdicts.all()] == ["run", "disabled"]
    expect(verdicts.nth(1)).to_contain_text("the step is disabled")
    assert page.evaluate("window.__marker") == "history"
    dry.scroll_into_view_if_needed()
    screenshot(page, "automation-dry-run")
