"""Scheduled tasks in a real Chromium: the list and its HTMX filter, a failed task's page, Retry through
HTMX with CSRF on, and the bulk lead action reached from the lead list (SPEC §10)."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.factories import make_lead, make_org, make_user
from tests.ui.conftest import follow_navigation, screenshot, sign_in
from webapp.extensions import db
from webapp.models import ScheduledTask, utcnow


@pytest.fixture
def tasks(app):
    """An organization with tasks in every state a marketer meets: failed, retrying, done, waiting."""
    from webapp.scheduled_tasks.definitions import create_task
    from webapp.scheduled_tasks.execution import process_due

    with app.app_context():
        org = make_org("Acme Insurance")
        admin = make_user(org, email="maria@acme.example.com", role="marketer", name="Maria Marketer")
        leads = [make_lead(org, first_name=name, tags=("vip",)) for name in ("Ana", "Ben", "Cleo")]
        create_task(
            org.id,
            "batch_operation",
            {"operation": "add_tag", "tag": "renewal-2025", "lead_ids": [lead.id for lead in leads]},
            name="Tag VIP renewals",
            created_by_id=admin.id,
        )
        broken = ScheduledTask(
            organization_id=org.id,
            task_type="batch_operation",
            name="Raise priority of stale quotes",
            payload={"operation": "escalate", "lead_ids": [leads[0].id]},
            scheduled_for=utcnow(),
            priority=70,
            attempt_history=[],
            created_by_id=admin.id,
        )
        db.session.add(broken)
        db.session.commit()
        process_due(org.id)
        now = utcnow()
        db.session.add(
            ScheduledTask(
                organization_id=org.id,
                task_type="system_maintenance",
                name="Purge finished work",
                payload={"operation": "purge", "older_than_days": 180},
                scheduled_for=now + timedelta(hours=6),
                recurrence="0 3 * * *",
                priority=10,
                attempt_history=[],
            )
        )
        db.session.add(
            ScheduledTask(
                organization_id=org.id,
                task_type="system_maintenance",
                name="Weekly purge of old events",
                payload={"operation": "purge", "older_than_days": 365},
                status="retry_scheduled",
                attempts=1,
                scheduled_for=now + timedelta(minutes=2),
                recurrence="every 7 days",
                last_error='OperationalError: could not obtain lock on relation "lead_events"',
                attempt_history=[
                    {
                        "attempt": 1,
                        "started_at": (now - timedelta(minutes=1)).isoformat(),
                        "finished_at": (now - timedelta(seconds=30)).isoformat(),
                        "worker": "worker-7:web-2:4121:9c1e",
                        "outcome": "retry_scheduled",
                        "error": "OperationalError: could not obtain lock",
                    }
                ],
            )
        )
        db.session.commit()
        yield {"email": admin.email, "broken_id": broken.id}
        db.session.remove()


def test_the_list_the_detail_and_retry(tasks, page):
    sign_in(page, tasks["email"])
    follow_navigation(page, "Scheduled tasks")
    expect(page.get_by_role("heading", name="Scheduled tasks")).to_be_visible()
    expect(page.locator("#task-results tbody tr")).to_have_count(4)
    screenshot(page, "scheduled-tasks-list")

    page.get_by_label("Status").select_option("failed")  # HTMX swaps the results, no reload
    expect(page.locator("#task-results tbody tr")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"status=failed"))
    page.get_by_role("link", name="Raise priority of stale quotes").click()

    expect(page.locator("#task-status")).to_have_text("failed")
    expect(page.locator("#attempt-history")).to_contain_text("unknown operation 'escalate'")
    screenshot(page, "scheduled-task-detail")

    page.get_by_role("button", name="Retry").click()  # HTMX post with the CSRF token
    expect(page.locator("#task-status")).to_have_text("pending")
    expect(page.get_by_text("The task is pending again")).to_be_visible()
    expect(page.get_by_role("button", name="Cancel task")).to_be_visible()
    page.reload()
    expect(page.locator("#task-status")).to_have_text("pending")


def test_the_bulk_action_from_the_lead_list(tasks, page):
    sign_in(page, tasks["email"])
    page.goto("/leads/")
    page.get_by_label("Tag").fill("vip")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#lead-count")).to_have_text("3 leads")
    page.get_by_role("link", name="Bulk action…").click()

    expect(page.locator("#matching-count")).to_have_text("3")
    page.wait_for_load_state()  # htmx (a deferred script) listens from here on
    page.get_by_label("Operation").select_option("set_priority")  # HTMX swaps the value field in
    page.get_by_label("New priority").select_option("urgent")
    screenshot(page, "scheduled-tasks-bulk-action")
    page.get_by_role("button", name="Schedule for 3 leads").click()

    expect(page.get_by_text("Scheduled for 3 leads.")).to_be_visible()
    expect(page.locator("#task-status")).to_have_text("pending")
    expect(page.locator("#task-payload")).to_contain_text('"priority": "urgent"')
