"""The journey editor in a real Chromium (SPEC §15 "Editor"): build a journey with an if/else and an
A/B split in the tree (inserting into a branch with the keyboard alone), dry-run leads down "yes" and
"no" and into their split variant, start a run by hand, execute it, and see its path highlighted from
the run history; axe finds nothing serious on the page; screenshots at 1366 and 390 px."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.factories import make_lead, make_org, make_user
from tests.ui.combobox import choose_lead
from tests.ui.conftest import ARTIFACTS, screenshot, sign_in
from tests.ui.test_layout_browser import serious_axe_violations
from webapp.automations.engine import execute_run
from webapp.automations.journey import split_variant
from webapp.automations.services import save_automation, validate_automation
from webapp.extensions import db
from webapp.models import Automation, AutomationRun

MARKETER = "mia@acme.example.com"


@pytest.fixture
def acme(app):
    """Acme's marketer, a manual automation without steps, a big lead (value 5000) and a small one (200)."""
    with app.app_context():
        org = make_org("Acme Insurance")
        make_user(org, email=MARKETER, role="marketer", name="Mia Marketer")
        big = make_lead(org, first_name="Bianca", last_name="Big", email="bianca@example.com", value_estimate=Decimal(5000))
        small = make_lead(org, first_name="Sam", last_name="Small", email="sam@example.com", value_estimate=Decimal(200))
        automation = Automation(organization_id=org.id)
        save_automation(automation, validate_automation({"name": "Value journey", "trigger_type": "manual"}, org.id, partial=False))
        db.session.commit()
        ids = {"automation": automation.id, "big": big.id, "small": small.id}
        db.session.remove()
    return ids


def settled(page) -> None:
    expect(page.locator(".htmx-added, .htmx-settling, .htmx-swapping, .htmx-request")).to_have_count(0)


def has_focus(locator) -> bool:
    return locator.evaluate("element => element === document.activeElement")


def tab_to(page, locator, limit: int = 80) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if has_focus(locator):
            return
    raise AssertionError(f"{locator} not reached with {limit} × Tab")


def node(page, number: str):
    return page.locator(f"li.step[data-number='{number}']")


def branch_list(page, number: str, branch: str):
    return node(page, number).locator(f":scope > .branches > .branch[data-branch='{branch}'] > ol > li.step")


def add_top_step(page, label: str):
    page.get_by_label("Add a step").select_option(label=label)
    page.get_by_role("button", name="+ Add step").click()
    form = page.locator("#step-form")
    expect(form.get_by_role("heading")).to_have_text(f"New step: {label}")
    settled(page)  # htmx wires the new content up as it settles
    return form


def test_build_a_journey_dry_run_it_and_see_a_runs_path(app, page, acme):
    sign_in(page, MARKETER)
    page.goto(f"/automations/{acme['automation']}")
    page.evaluate("window.__marker = 'no reload'")

    # 1. an if/else on the lead's value (a rule row of the segment builder)
    form = add_top_step(page, "If / else")
    form.locator("#rules-2000-field").select_option("value_estimate")
    expect(form.locator("li.rule-row")).to_have_attribute("data-field", "value_estimate")
    settled(page)
    form.locator("#rules-2000-operator").select_option("greater_than")
    expect(form.locator("li.rule-row")).to_have_attribute("data-operator", "greater_than")
    settled(page)
    form.locator("#rules-2000-value").fill("1000")
    form.get_by_role("button", name="Add step").click()
    expect(node(page, "1")).to_have_attribute("data-action-type", "branch")
    expect(node(page, "1")).to_contain_text("If Value estimate is greater than 1000")
    expect(node(page, "1").locator(".branch-name")).to_have_text(["Step 1, branch Yes: the rules hold", "Step 1, branch No"])

    # 2. into "yes", with the keyboard alone: Insert here → step type → its field → Add step
    insert_yes = page.get_by_role("button", name="Insert here, at the start of “yes” of step 1")
    page.get_by_role("heading", name="4 · Then do these steps, in order").click()
    tab_to(page, insert_yes)
    page.keyboard.press("Enter")
    step_type = page.locator("#step-type")
    expect(step_type).to_be_focused()
    form = page.locator("#step-form")
    expect(form.locator(".step-place")).to_have_text("Goes in “yes” of if / else, at the start.")
    while step_type.evaluate("select => select.selectedOptions[0].text") != "Set status":
        before = form.get_by_role("heading").inner_text()
        page.keyboard.press("ArrowDown")
        expect(form.get_by_role("heading")).not_to_have_text(before)  # the form is redrawn for the type
        settled(page)
        expect(step_type).to_be_focused()
    expect(form.get_by_role("heading")).to_have_text("New step: Set status")
    page.keyboard.press("Tab")
    status = form.get_by_label("New status")
    expect(status).to_be_focused()
    while status.input_value() != "qualified":
        page.keyboard.press("ArrowDown")
    tab_to(page, form.get_by_role("button", name="Add step"))
    page.keyboard.press("Enter")
    expect(branch_list(page, "1", "yes")).to_have_count(1)
    settled(page)
    expect(node(page, "1.yes.1")).to_contain_text("Set status to qualified")
    expect(page.locator(":focus")).to_have_count(1)
    assert node(page, "1.yes.1").evaluate("li => li.contains(document.activeElement)")  # the new step has the focus

    # 3. into "no": a tag
    page.get_by_role("button", name="Insert here, at the start of “no” of step 1").click()
    form = page.locator("#step-form")
    settled(page)
    form.get_by_label("Step type").select_option(label="Add tag")
    expect(form.get_by_role("heading")).to_have_text("New step: Add tag")
    form.get_by_label("Tag").fill("small-fish")
    form.get_by_role("button", name="Add step").click()
    expect(node(page, "1.no.1")).to_contain_text("Add tag “small-fish”")

    # 4. an A/B split after it (a 60, b 40), a step in each variant
    form = add_top_step(page, "A/B split")
    form.get_by_label("Variant 1 weight (%)").fill("60")
    form.get_by_label("Variant 2 weight (%)").fill("30")
    form.get_by_role("button", name="Add step").click()
    expect(form.locator(".error")).to_contain_text("the weights must sum to 100 (they sum to 90)")  # inline, the form stays
    settled(page)  # the redrawn form is wired up before it is sent again
    form.get_by_label("Variant 2 weight (%)").fill("40")
    form.get_by_role("button", name="Add step").click()
    expect(node(page, "2")).to_have_attribute("data-action-type", "split")
    expect(node(page, "2").locator(".branch-name")).to_have_text(["Step 2, branch a · 60 %", "Step 2, branch b · 40 %"])
    for variant in ("a", "b"):
        page.get_by_role("button", name=f"Insert here, at the start of “{variant}” of step 2").click()
        form = page.locator("#step-form")
        settled(page)
        form.get_by_label("Step type").select_option(label="Add tag")
        form.get_by_label("Tag").fill(f"variant-{variant}")
        form.get_by_role("button", name="Add step").click()
        expect(node(page, f"2.{variant}.1")).to_contain_text(f"variant-{variant}")

    # deleting the split asks first, in the page, naming the steps of its branches; "Keep it" keeps them
    node(page, "2").get_by_role("button", name="Delete step 2", exact=True).click()
    expect(node(page, "2").locator(".confirm-delete")).to_contain_text("Delete this split and the 2 steps in its branches?")
    expect(page.get_by_role("button", name="Yes, delete")).to_be_focused()
    page.get_by_role("button", name="Keep it").click()
    expect(node(page, "2").locator(".confirm-delete")).to_have_count(0)
    expect(node(page, "2.b.1")).to_be_visible()
    assert page.evaluate("window.__marker") == "no reload", "the editor reloaded the page"

    with app.app_context():
        automation = db.session.get(Automation, acme["automation"])
        split = next(a for a in automation.actions if a.action_type == "split")
        assert split.configuration == {"weights": {"a": 60, "b": 40}}
        variants = {key: split_variant({"a": 60, "b": 40}, acme[key], split.id) for key in ("big", "small")}
        db.session.remove()

    # dry runs: the big lead goes down "yes", the small one down "no"; each gets its split variant
    dry = page.locator("#dry-run-section")
    for key, name, branch, inside in (("big", "Bianca", "yes", "Set status"), ("small", "Sam", "no", "Add tag “small-fish”")):
        choose_lead(dry.get_by_role("combobox", name="Lead"), name, acme[key])
        dry.get_by_role("button", name="Dry run").click()
        result = page.locator("#dry-run-result")
        expect(result.locator("li[data-depth='0']").first).to_have_attribute("data-branch", branch)
        expect(result.locator("li[data-depth='1']").first).to_contain_text(inside)
        expect(result.locator("li[data-depth='0']").nth(1)).to_have_attribute("data-branch", variants[key])
        expect(result.locator("li[data-depth='0']").nth(1)).to_contain_text(f"gets variant “{variants[key]}”")
        expect(result.locator("li[data-depth='1']").nth(1)).to_contain_text(f"variant-{variants[key]}")
    dry.scroll_into_view_if_needed()
    screenshot(page, "journey-dry-run")

    # start a run for the big lead by hand, execute it here, see its path in the history and the tree
    choose_lead(dry.get_by_role("combobox", name="Lead"), "Bianca", acme["big"])
    dry.get_by_role("button", name="Start for this lead").click()
    expect(dry.locator(".flash")).to_contain_text("Started run")
    run_id = int(re.search(r"#(\d+)", dry.locator(".flash").inner_text()).group(1))
    with app.app_context():
        execute_run(run_id)
        assert db.session.get(AutomationRun, run_id).status == "completed"
        db.session.remove()
    row = page.locator(f"#run-table tr[data-run='{run_id}']")
    expected_path = f"if/else: yes → set status → split: {variants['big']} → add tag"
    expect(row.locator("[data-run-path]")).to_have_text(expected_path, timeout=15_000)  # the history polls every 3 s
    row.get_by_role("button", name=f"Show path of run #{run_id} in the steps").click()
    expect(page.locator("#path-banner")).to_contain_text(f"Showing the path of run #{run_id}")
    on_path = page.locator("li.step[data-on-path]")
    expect(on_path).to_have_count(4)
    assert sorted(on_path.evaluate_all("items => items.map(li => li.dataset.number)")) == sorted(
        ["1", "1.yes.1", "2", f"2.{variants['big']}.1"]
    )
    expect(page.locator(".branch.on-path")).to_have_count(2)
    expect(node(page, "1.no.1")).not_to_have_attribute("data-on-path", "")
    expect(node(page, "1").locator(".node-counts").first).to_contain_text("1 entered")
    expect(page.locator("#chart-runs [data-row='completed']")).to_have_count(1, timeout=15_000)  # the results poll too
    expect(page.locator("#results-section")).to_contain_text("1 run in all versions")

    # a11y and the look of it, wide and narrow
    assert serious_axe_violations(page) == []
    page.set_viewport_size({"width": 1366, "height": 900})
    screenshot(page, "journey-editor-1366")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    screenshot(page, "journey-editor-390")
    for section in ("steps", "results", "runs"):  # close-ups of the narrow page
        page.locator(f"#{section}-section").screenshot(path=str(ARTIFACTS / f"journey-{section}-390.png"))
    assert serious_axe_violations(page) == []
