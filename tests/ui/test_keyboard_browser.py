"""The builder, the editor and the lead combobox with the keyboard alone (SPEC §10: every page usable
with the keyboard): after every HTMX swap the focus is on the control the person was working with, or
on the sensible next one, never on <body>. Only page.keyboard drives the pages under test."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.email.helpers import make_template
from tests.factories import make_lead, make_org, make_user
from tests.ui.conftest import screenshot, sign_in
from webapp.extensions import db
from webapp.models import Automation, Lead, LeadSegment, Segment

MARKETER = "mia@acme.example.com"
MAX_TABS_TO_ADD_A_STEP = 20


@pytest.fixture
def acme(app):
    """Acme's marketer, agent, welcome template and 24 leads (the seed segment's rules tell them apart);
    Beta Brokers has a Maria too, who must never be suggested to Acme."""
    with app.app_context():
        org = make_org("Acme Insurance")
        make_user(org, email=MARKETER, role="marketer", name="Mia Marketer")
        agent = make_user(org, email="alex@acme.example.com", role="agent", name="Alex Morgan")
        template = make_template(org)  # the seed's "Welcome Email"
        for n in range(24):
            make_lead(
                org,
                first_name=["Ana", "Ben", "Cleo"][n % 3],
                last_name=f"Lee{n}",
                insurance_type=["auto", "home"][n % 2],
                value_estimate=Decimal(300 + 100 * n),
                status=["new", "contacted"][n // 2 % 2],
            )
        maria = make_lead(org, first_name="Maria", last_name="Lopez", email="maria@example.com", insurance_type="auto")
        foreign = make_lead(make_org("Beta Brokers"), first_name="Maria", last_name="Beta", email="maria@beta.example.com")
        leads = db.session.scalars(select(Lead).where(Lead.organization_id == org.id)).all()
        seed = {lead.id for lead in leads if lead.insurance_type == "auto" and (lead.value_estimate or 0) > 1000 and lead.status == "new"}
        ids = {"agent": agent.id, "template": template.id, "maria": maria.id, "foreign": foreign.id, "seed": seed, "org": org.id}
        db.session.remove()
    return ids


# --- keyboard helpers ------------------------------------------------------------------------------


def expect_focus_not_on_body(page) -> None:
    expect(page.locator(":focus")).to_have_count(1)
    assert page.evaluate("() => document.activeElement !== null && document.activeElement !== document.body")


def has_focus(locator) -> bool:
    return locator.evaluate("element => element === document.activeElement")


def tab_to(page, locator, limit: int = 60, key: str = "Tab") -> int:
    """Press Tab (or Shift+Tab) until ``locator`` has the focus; returns how many presses it took."""
    for presses in range(1, limit + 1):
        page.keyboard.press(key)
        if has_focus(locator):
            return presses
    raise AssertionError(f"{locator} not reached with {limit} × {key}")


def settled(page) -> None:
    expect(page.locator(".htmx-added, .htmx-settling, .htmx-swapping, .htmx-request")).to_have_count(0)


def arrow_select(page, select, value: str, row=None, attribute: str | None = None) -> None:
    """Press ArrowDown in a focused select until it shows ``value``; a select that redraws its row
    (hx-get) is waited for after each press, and must keep the focus through the swap."""
    for _ in range(20):
        if select.input_value() == value:
            return
        before = select.input_value()
        page.keyboard.press("ArrowDown")
        if row is not None:
            expect(row).not_to_have_attribute(attribute, before)  # the row was redrawn for the new choice
            settled(page)
            expect(select).to_be_focused()
            expect_focus_not_on_body(page)
    raise AssertionError(f"{value} not reached in {select}")


# --- the segment builder ------------------------------------------------------------------------------


def test_build_the_seed_segment_with_the_keyboard_alone(app, page, acme):
    sign_in(page, MARKETER)
    page.goto("/segments/new")
    rows = page.locator("li.rule-row")

    def add_rule(n: int):
        tab_to(page, page.get_by_role("button", name="+ Add rule"))
        page.keyboard.press("Enter")
        expect(rows).to_have_count(n + 1)
        field = page.locator(f"#rules-{n}-field")
        expect(field).to_be_focused()  # a new row takes the focus on its first control
        expect_focus_not_on_body(page)
        settled(page)
        return rows.nth(n), field

    # Rule 1: insurance type is auto: the field changes with the arrow keys, one swap per key.
    row, field = add_rule(0)
    arrow_select(page, field, "insurance_type", row, "data-field")
    page.keyboard.press("Tab")
    expect(page.locator("#rules-0-operator")).to_be_focused()
    page.keyboard.press("Tab")
    value = page.locator("#rules-0-value")
    expect(value).to_be_focused()
    arrow_select(page, value, "auto")
    expect(page.locator("#preview-count")).to_be_visible()

    # Rule 2: value estimate greater than 1000.
    row, field = add_rule(1)
    arrow_select(page, field, "value_estimate", row, "data-field")
    page.keyboard.press("Tab")
    operator = page.locator("#rules-1-operator")
    expect(operator).to_be_focused()
    arrow_select(page, operator, "greater_than", row, "data-operator")
    page.keyboard.press("Tab")
    expect(page.locator("#rules-1-value")).to_be_focused()
    page.keyboard.type("1000")

    # Rule 3: status is new (a new row starts as status equals).
    row, field = add_rule(2)
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    value = page.locator("#rules-2-value")
    expect(value).to_be_focused()
    arrow_select(page, value, "new")
    expect(page.locator("#preview-count")).to_have_text(str(len(acme["seed"])))

    # A fourth rule, removed again: the focus goes to the neighbouring row's remove button.
    add_rule(3)
    tab_to(page, page.locator("#rules-3-remove"))
    page.keyboard.press("Enter")
    expect(rows).to_have_count(3)
    expect(page.locator("#rules-2-remove")).to_be_focused()
    expect(page.locator("#preview-count")).to_have_text(str(len(acme["seed"])))

    # AND stays; name, description, save.
    tab_to(page, page.get_by_label("Name", exact=True))
    page.keyboard.type("High-Value Auto Leads")
    tab_to(page, page.get_by_label("Description"))
    page.keyboard.type("Leads interested in auto insurance with high estimated value")
    page.locator("#segment-form").scroll_into_view_if_needed()
    screenshot(page, "keyboard-segment-builder")
    tab_to(page, page.get_by_role("button", name="Save segment"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="High-Value Auto Leads")).to_be_visible()
    expect(page.locator("#member-count")).to_have_text(str(len(acme["seed"])))
    segment_id = int(re.search(r"/segments/(\d+)", page.url).group(1))
    with app.app_context():
        segment = db.session.get(Segment, segment_id)
        assert [(r["field"], r["operator"]) for r in segment.raw_rules] == [
            ("insurance_type", "equals"),
            ("value_estimate", "greater_than"),
            ("status", "equals"),
        ]
        assert [segment.raw_rules[0]["value"], float(segment.raw_rules[1]["value"]), segment.raw_rules[2]["value"]] == ["auto", 1000, "new"]
        assert segment.match_all_rules and segment.is_dynamic
        db.session.remove()


# --- the automation editor ------------------------------------------------------------------------------


def steps(page):
    return page.locator("#step-list > li.step")


def focused_step_index(page) -> int:
    return page.evaluate(
        "() => [...document.querySelectorAll('#step-list > li.step')].findIndex(li => li.contains(document.activeElement))"
    )


def add_step(page, option_label: str):
    """From anywhere: jump to "Add a step", choose the type with the keyboard, open its form."""
    add = page.locator("#add-step-type")
    if not has_focus(add):
        tab_to(page, page.get_by_role("link", name="Add a step"), key="Shift+Tab")
        page.keyboard.press("Enter")
    expect(add).to_be_focused()
    while add.evaluate("select => select.selectedOptions[0].text") != option_label:
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="+ Add step")).to_be_focused()
    page.keyboard.press("Enter")
    form = page.locator("#step-form")
    expect(form.get_by_role("heading")).to_have_text(f"New step: {option_label}")
    settled(page)
    expect(form.locator("select, input:not([type=hidden]), textarea").first).to_be_focused()  # the form takes the focus
    return form


def test_build_the_welcome_automation_with_the_keyboard_alone(app, page, acme):
    sign_in(page, MARKETER)
    page.goto("/automations/new")
    tab_to(page, page.get_by_label("Name"))
    page.keyboard.type("Welcome Email Automation")
    tab_to(page, page.get_by_label("Description"))
    page.keyboard.type("Send welcome email to new leads")
    expect(page.locator("#trigger_type")).to_have_value("lead_created")
    tab_to(page, page.get_by_role("button", name="Create and add steps"))
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/automations/\d+$"))
    automation_id = int(page.url.rsplit("/", 1)[1])

    # From the top of the page, "Add a step" is a short Tab path away (the editor's "Jump to" link).
    presses = tab_to(page, page.get_by_role("link", name="Add a step"))
    page.keyboard.press("Enter")
    expect(page.locator("#add-step-type")).to_be_focused()
    assert presses <= MAX_TABS_TO_ADD_A_STEP, presses

    # 1. the welcome email
    form = add_step(page, "Send email")
    arrow_select(page, form.get_by_label("Email template"), str(acme["template"]))
    page.keyboard.press("Tab")
    expect(form.get_by_label("Subject (optional override)")).to_be_focused()
    page.keyboard.type("Welcome to Our Insurance Services")
    tab_to(page, form.get_by_role("button", name="Add step"))
    page.keyboard.press("Enter")
    expect(steps(page)).to_have_count(1)
    settled(page)
    expect_focus_not_on_body(page)
    assert focused_step_index(page) == 0  # the new step has the focus

    # 2. the follow-up task, a day after the email (a wait as a number and a unit)
    form = add_step(page, "Create task")
    expect(form.get_by_label("Task type")).to_have_value("follow_up")
    tab_to(page, form.get_by_label("Title"))
    page.keyboard.type("Follow up with new lead")
    page.keyboard.press("Tab")
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("2")
    page.keyboard.press("Tab")
    arrow_select(page, form.get_by_label("Assignee"), str(acme["agent"]))
    tab_to(page, form.get_by_label("Wait before this step"))  # past "When contact is not allowed"
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("1")
    page.keyboard.press("Tab")
    arrow_select(page, form.get_by_label("Unit of the wait"), "days")
    tab_to(page, form.get_by_role("button", name="Add step"))
    page.keyboard.press("Enter")
    expect(steps(page)).to_have_count(2)
    settled(page)
    expect_focus_not_on_body(page)
    assert focused_step_index(page) == 1
    expect(steps(page).nth(1)).to_contain_text("waits 1 day before running")

    # 3. a third step, deleted again: the focus goes to the neighbouring step
    form = add_step(page, "Add tag")
    page.keyboard.type("welcomed")
    tab_to(page, form.get_by_role("button", name="Add step"))
    page.keyboard.press("Enter")
    expect(steps(page)).to_have_count(3)
    settled(page)
    assert focused_step_index(page) == 2
    tab_to(page, page.get_by_role("button", name="Delete step 3"))
    page.keyboard.press("Enter")  # the confirmation takes the focus, in the page
    confirm = page.get_by_role("button", name="Yes, delete")
    expect(confirm).to_be_focused()
    page.keyboard.press("Enter")
    expect(steps(page)).to_have_count(2)
    settled(page)
    expect_focus_not_on_body(page)
    assert focused_step_index(page) == 1

    # moving a step keeps the focus on that step's move buttons
    task_step = page.locator("#step-list > li.step[data-action-type=create_task]")
    task_id = task_step.get_attribute("id")
    tab_to(page, page.locator(f"#{task_id}-up"), key="Shift+Tab")
    page.keyboard.press("Enter")
    expect(steps(page).first).to_have_attribute("data-action-type", "create_task")
    settled(page)
    expect(page.locator(f"#{task_id}-down")).to_be_focused()  # now first: ↑ is disabled, ↓ takes the focus
    page.keyboard.press("Enter")
    expect(steps(page).first).to_have_attribute("data-action-type", "send_email")
    settled(page)
    expect(page.locator(f"#{task_id}-up")).to_be_focused()

    # editing shows the wait in its largest unit; Cancel hands the focus back to Edit
    tab_to(page, page.locator(f"#{task_id}-edit"))
    page.keyboard.press("Enter")
    form = page.locator("#step-form")
    expect(form.get_by_label("Wait before this step")).to_have_value("1")
    expect(form.get_by_label("Unit of the wait")).to_have_value("days")
    settled(page)
    expect_focus_not_on_body(page)
    tab_to(page, form.get_by_role("button", name="Cancel"))
    page.keyboard.press("Enter")
    expect(page.locator("#step-form")).to_have_count(0)
    settled(page)
    expect(page.locator(f"#{task_id}-edit")).to_be_focused()

    # activate: the button keeps the focus
    tab_to(page, page.get_by_role("button", name="Activate"), key="Shift+Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#automation-status")).to_have_text("active")
    settled(page)
    expect(page.locator("#toggle-active")).to_be_focused()
    screenshot(page, "keyboard-automation-editor")

    with app.app_context():
        automation = db.session.get(Automation, automation_id)
        assert automation.is_active and automation.trigger_type == "lead_created"
        email, task = automation.actions
        assert (email.action_type, email.configuration) == (
            "send_email",
            {"template_id": acme["template"], "subject": "Welcome to Our Insurance Services", "personalize": True, "to": "lead"},
        )
        assert task.action_type == "create_task" and task.delay_minutes == 1440
        assert task.configuration == {
            "task_type": "follow_up",
            "title": "Follow up with new lead",
            "due_in_days": 2,
            "assignee_id": acme["agent"],
        }
        db.session.remove()

    # the dry run on a lead picked with the combobox; the same lead is then started by hand
    tab_to(page, page.get_by_role("link", name="Try it on a lead"), key="Shift+Tab")
    page.keyboard.press("Enter")
    combobox = page.get_by_role("combobox", name="Lead")
    expect(combobox).to_be_focused()
    page.keyboard.type("mar")
    listbox = page.locator("#dry-lead-options")
    expect(listbox.get_by_role("option")).to_have_count(1)  # Acme's Maria only, never Beta's
    expect(listbox.get_by_role("option").first).to_have_attribute("aria-selected", "true")
    screenshot(page, "keyboard-lead-combobox")
    page.keyboard.press("Enter")  # choose
    expect(combobox).to_have_value(f"Maria Lopez (#{acme['maria']})")
    expect(page.locator("#dry-lead-value")).to_have_value(str(acme["maria"]))
    page.keyboard.press("Enter")  # submit: the dry run
    expect(page.locator("#dry-run-result li[data-verdict]")).to_have_count(2)
    settled(page)
    expect(combobox).to_be_focused()
    expect(combobox).to_have_value(f"Maria Lopez (#{acme['maria']})")
    tab_to(page, page.get_by_role("button", name="Start for this lead"))
    page.keyboard.press("Enter")
    expect(page.locator("#dry-run-section .flash")).to_contain_text("Started run")
    settled(page)
    expect(page.get_by_role("button", name="Start for this lead")).to_be_focused()


# --- the lead combobox ----------------------------------------------------------------------------------


def test_the_combobox_by_keyboard_in_the_template_preview_and_a_static_segment(app, page, acme):
    sign_in(page, MARKETER)
    page.goto(f"/email-templates/{acme['template']}")
    combobox = page.get_by_role("combobox", name="Preview for")
    tab_to(page, combobox)
    page.keyboard.type("maria")
    listbox = page.locator(f"#{combobox.get_attribute('aria-controls')}")
    options = listbox.get_by_role("option")
    expect(options).to_have_count(1)
    expect(combobox).to_have_attribute("aria-expanded", "true")
    expect(combobox).to_have_attribute("aria-activedescendant", f"preview-lead-search-options-{acme['maria']}")
    expect(listbox).not_to_contain_text("Beta")
    # Escape closes, ArrowDown opens again, Enter chooses: the preview is rendered for Maria
    page.keyboard.press("Escape")
    expect(combobox).to_have_attribute("aria-expanded", "false")
    expect(listbox).to_be_hidden()
    page.keyboard.press("ArrowDown")
    expect(combobox).to_have_attribute("aria-expanded", "true")
    expect(options.first).to_have_attribute("aria-selected", "true")
    page.keyboard.press("Enter")
    expect(page.locator("#preview-lead")).to_have_value(str(acme["maria"]))
    expect(page.locator("#preview-subject")).to_contain_text("Welcome to Acme Insurance")
    expect(page.frame_locator("#preview-html-panel iframe.preview-frame:not(.loading)").locator("h1")).to_have_text("Welcome Maria!")
    expect(combobox).to_be_focused()
    # Escape on a closed combobox clears it: back to sample data
    page.keyboard.press("Escape")
    expect(combobox).to_have_value("")
    expect(page.locator("#preview-lead")).to_have_value("")

    # another organization's lead is not found by its id either
    page.keyboard.type(f"#{acme['foreign']}")
    expect(listbox).to_contain_text("No lead matches")
    expect(options).to_have_count(0)

    # a static segment: "add leads" with the same combobox, Enter to choose, Enter to add
    with app.app_context():
        segment = Segment(organization_id=acme["org"], name="Call list", slug="call-list", is_dynamic=False, match_all_rules=True)
        db.session.add(segment)
        db.session.commit()
        segment_id = segment.id
        db.session.remove()
    page.goto(f"/segments/{segment_id}")
    combobox = page.get_by_role("combobox", name="Add a lead by hand")
    tab_to(page, combobox)
    page.keyboard.type("lopez")
    expect(page.locator("#add-lead-options").get_by_role("option")).to_have_count(1)
    page.keyboard.press("Enter")
    expect(page.locator("#add-lead-value")).to_have_value(str(acme["maria"]))
    page.keyboard.press("Enter")
    expect(page.locator(f"#segment-members tr[data-lead-id='{acme['maria']}']")).to_be_visible()
    expect(page.locator("#segment-members .flash")).to_contain_text("Maria Lopez added.")
    settled(page)
    expect(page.get_by_role("combobox", name="Add a lead by hand")).to_be_focused()  # ready for the next one
    tab_to(page, page.get_by_role("button", name="Remove Maria Lopez"))
    page.keyboard.press("Enter")
    expect(page.locator("#segment-members")).to_contain_text("Maria Lopez removed.")
    settled(page)
    expect(page.get_by_role("combobox", name="Add a lead by hand")).to_be_focused()  # the list is empty: back to adding
    page.keyboard.type("lopez")
    expect(page.locator("#add-lead-options").get_by_role("option")).to_have_count(1)
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    expect(page.locator(f"#segment-members tr[data-lead-id='{acme['maria']}']")).to_be_visible()
    with app.app_context():
        assert db.session.scalar(select(LeadSegment.lead_id).where(LeadSegment.segment_id == segment_id)) == acme["maria"]
        db.session.remove()
