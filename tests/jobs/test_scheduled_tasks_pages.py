"""Scheduled-task pages: the list with HTMX filters, a task's page with retry/cancel, run due tasks now,
and the bulk lead action that schedules a batch_operation (SPEC §8, §10)."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import login_browser
from tests.factories import make_lead, make_org, make_user
from webapp.extensions import db
from webapp.models import Lead, LeadEvent, ScheduledTask, utcnow
from webapp.scheduled_tasks.definitions import create_task
from webapp.scheduled_tasks.execution import process_due

HX = {"HX-Request": "true"}


def hx(target: str) -> dict:
    return {**HX, "HX-Target": target}


def add_task(org, *, status="pending", name="Nightly purge", **fields) -> ScheduledTask:
    values = {
        "task_type": "system_maintenance",
        "payload": {"operation": "purge", "older_than_days": 90},
        "scheduled_for": utcnow(),
        "attempt_history": [],
    }
    task = ScheduledTask(organization_id=org.id, name=name, status=status, **(values | fields))
    db.session.add(task)
    db.session.commit()
    return task


def failed_task(org, name="Broken batch") -> ScheduledTask:
    """A task that really ran and failed (an operation the handler does not know)."""
    task = add_task(org, name=name, task_type="batch_operation", payload={"operation": "explode"})
    process_due(org.id)
    db.session.refresh(task)
    assert task.status == "failed"
    return task


def count_tasks() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(ScheduledTask))


@pytest.fixture
def browser(client, admin):
    assert login_browser(client, admin.email).status_code == 302
    return client


def text(response) -> str:
    return response.get_data(as_text=True)


# --- the list ----------------------------------------------------------------------------------------


def test_the_list_shows_status_due_time_attempts_and_last_error(browser, org):
    broken = failed_task(org)
    add_task(org, name="Later purge", scheduled_for=utcnow() + timedelta(hours=3))

    page = text(browser.get("/scheduled-tasks/"))

    assert "Broken batch" in page and "Later purge" in page
    assert '<span class="badge failed">failed</span>' in page and '<span class="badge pending">pending</span>' in page
    assert "1/3" in page  # a permanent error: one attempt of three
    assert "payload.operation: unknown operation &#39;explode&#39;" in page and broken.last_error.startswith("payload.")
    assert "in 2 h" in page or "in 3 h" in page
    assert "Run due tasks now" in page


def test_filters_swap_only_the_results(browser, org):
    add_task(org, name="Waiting purge", scheduled_for=utcnow() + timedelta(days=1))
    failed_task(org, name="Broken batch")

    response = browser.get("/scheduled-tasks/?status=failed", headers=hx("task-results"))

    fragment = text(response)
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    assert "<html" not in fragment and 'id="task-filters"' not in fragment
    assert "Broken batch" in fragment and "Waiting purge" not in fragment
    by_type = text(browser.get("/scheduled-tasks/?task_type=batch_operation", headers=hx("task-results")))
    assert "Broken batch" in by_type and "Waiting purge" not in by_type
    full = text(browser.get("/scheduled-tasks/?status=pending"))
    assert "<html" in full and '<option value="pending" selected' in full
    assert "Waiting purge" in full and "Broken batch" not in full


def test_the_list_is_paginated(browser, org):
    from webapp.scheduled_tasks.views import PER_PAGE

    for n in range(PER_PAGE + 2):
        add_task(org, name=f"Task number {n:02d}")

    first = text(browser.get("/scheduled-tasks/"))
    second = text(browser.get("/scheduled-tasks/?page=2", headers=hx("task-results")))

    assert "Task number 26" in first and "Task number 01" not in first  # newest first
    assert "Page 1 of 2" in first and "Page 2 of 2" in second
    assert "Task number 01" in second and "Task number 00" in second and "Task number 26" not in second


@pytest.mark.parametrize(("role", "shown"), [("admin", True), ("marketer", True), ("agent", False), ("viewer", False)])
def test_the_list_is_in_the_navigation_of_admins_and_marketers_only(client, org, role, shown):
    login_browser(client, make_user(org, role=role).email)
    nav = text(client.get("/")).split('aria-label="Main"')[1].split("</nav>")[0]
    assert ('href="/scheduled-tasks/"' in nav) is shown


def test_run_due_tasks_now_runs_the_organizations_due_tasks_and_shows_the_counts(browser, org):
    lead = make_lead(org)
    create_task(org.id, "batch_operation", {"operation": "add_tag", "tag": "hot", "lead_ids": [lead.id]})
    add_task(org, task_type="batch_operation", payload={"operation": "explode"})
    add_task(org, name="Future", scheduled_for=utcnow() + timedelta(days=1))
    rival = make_org("Rival")
    theirs = add_task(rival, name="Rival purge")
    db.session.commit()

    response = browser.post("/scheduled-tasks/process-due", data={"status": "failed"}, headers=hx("task-results"))

    fragment = text(response)
    assert response.status_code == 200 and "<html" not in fragment
    assert "Ran 2 due tasks: 1 completed, 1 failed." in fragment
    assert "1 task matches these filters" in fragment  # the filters of the list are kept
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).tags == ["hot"]
    assert db.session.get(ScheduledTask, theirs.id).status == "pending"
    again = browser.post("/scheduled-tasks/process-due")
    assert again.status_code == 302
    assert "No task was due." in text(browser.get(again.headers["Location"]))


# --- one task ------------------------------------------------------------------------------------------


def test_the_task_page_shows_payload_recurrence_result_and_attempts(browser, org):
    lead = make_lead(org)
    task = create_task(
        org.id,
        "batch_operation",
        {"operation": "add_tag", "tag": "hot", "lead_ids": [lead.id]},
        name="Tag the hot ones",
        recurrence="every 2 hours",
    )
    db.session.commit()
    process_due(org.id)
    db.session.refresh(task)

    page = text(browser.get(f"/scheduled-tasks/{task.id}"))

    assert "Tag the hot ones" in page and "every 2 hours" in page
    assert "&#34;operation&#34;: &#34;add_tag&#34;" in page  # the payload, as escaped JSON
    assert "&#34;changed&#34;: 1" in page  # the result
    history = page.split('id="attempt-history"')[1].split("</table>")[0]
    assert '<span class="badge completed">completed</span>' in history
    assert "process-due:" in history  # the worker
    assert '<span class="badge pending">pending</span>' in page  # a recurring task waits for its next occurrence


def test_a_long_list_of_lead_ids_is_shown_cut(browser, org):
    task = add_task(org, task_type="batch_operation", payload={"operation": "add_tag", "tag": "x", "lead_ids": list(range(1, 1001))})
    page = text(browser.get(f"/scheduled-tasks/{task.id}"))
    assert "… 980 more (1,000 in all)" in page and "\n    999" not in page


def test_retry_with_htmx_swaps_the_task_block(browser, org):
    task = failed_task(org)

    response = browser.post(f"/scheduled-tasks/{task.id}/retry", headers=hx("task-detail"))

    fragment = text(response)
    assert response.status_code == 200 and "<html" not in fragment
    assert 'id="task-status"><span class="badge pending">pending</span>' in fragment
    assert "pending again" in fragment and 'id="cancel-task"' in fragment and 'id="retry-task"' not in fragment
    db.session.refresh(task)
    assert (task.status, task.attempts) == ("pending", 0)


def test_cancel_without_htmx_redirects_to_the_task(browser, org):
    task = add_task(org, scheduled_for=utcnow() + timedelta(days=1))

    response = browser.post(f"/scheduled-tasks/{task.id}/cancel")

    assert response.status_code == 302 and response.headers["Location"].endswith(f"/scheduled-tasks/{task.id}")
    page = text(browser.get(response.headers["Location"]))
    assert "The task is cancelled." in page and 'id="retry-task"' in page
    db.session.refresh(task)
    assert task.status == "cancelled"


def test_a_finished_task_cannot_be_cancelled(browser, org):
    task = add_task(org, status="completed")

    response = browser.post(f"/scheduled-tasks/{task.id}/cancel", headers=hx("task-detail"))

    assert response.status_code == 422
    assert "a completed task cannot be cancelled" in text(response)
    db.session.refresh(task)
    assert task.status == "completed"


def test_viewers_see_the_pages_without_buttons_and_may_not_change_anything(client, org):
    task = failed_task(org)
    viewer = make_user(org, role="viewer")
    login_browser(client, viewer.email)

    page = text(client.get(f"/scheduled-tasks/{task.id}"))

    assert "Broken batch" in page and 'id="retry-task"' not in page
    assert "Run due tasks now" not in text(client.get("/scheduled-tasks/"))
    assert client.post(f"/scheduled-tasks/{task.id}/retry").status_code == 403
    assert client.post("/scheduled-tasks/process-due").status_code == 403
    assert client.get("/scheduled-tasks/bulk").status_code == 403
    db.session.refresh(task)
    assert task.status == "failed"


def test_another_organizations_task_is_not_found(browser, org):
    theirs = failed_task(make_org("Rival"), name="Rival secret task")

    for method, url in [("GET", ""), ("POST", "/retry"), ("POST", "/cancel")]:
        response = browser.open(f"/scheduled-tasks/{theirs.id}{url}", method=method)
        assert response.status_code == 404 and "Rival secret" not in text(response)
    assert "Rival secret" not in text(browser.get("/scheduled-tasks/"))
    db.session.refresh(theirs)
    assert theirs.status == "failed"


# --- the bulk lead action ------------------------------------------------------------------------------------


def test_the_lead_list_links_to_the_bulk_action_with_its_filters(browser, org, client):
    make_lead(org, status="new", tags=("vip",))

    fragment = text(browser.get("/leads/?status=new&tag=vip", headers=hx("lead-results")))

    link = re.search(r'id="bulk-action" href="([^"]+)"', fragment).group(1).replace("&amp;", "&")
    assert link.startswith("/scheduled-tasks/bulk?") and "status=new" in link and "tag=vip" in link


def test_the_bulk_page_counts_the_leads_the_filters_match(browser, org):
    make_lead(org, status="new", tags=("vip",))
    make_lead(org, status="new", tags=("vip",))
    make_lead(org, status="lost", tags=("vip",))
    make_lead(make_org("Rival"), status="new", tags=("vip",))

    page = text(browser.get("/scheduled-tasks/bulk?status=new&tag=vip"))

    assert re.search(r'id="matching-count">2<', page)
    assert "Schedule for 2 leads" in page and "status:</span> new" in page


def test_the_operation_picker_swaps_in_the_value_field(browser, org):
    fragment = text(browser.get("/scheduled-tasks/bulk?status=new&operation=set_priority", headers=hx("bulk-value")))
    assert "<html" not in fragment and 'name="new_priority"' in fragment and 'name="tag"' not in fragment
    assert 'value="urgent"' in fragment


def test_a_bulk_action_schedules_a_batch_task_with_the_filtered_leads_which_then_change(browser, org, admin):
    matching = [make_lead(org, status="new", tags=("vip",)) for _ in range(3)]
    other = make_lead(org, status="lost", tags=("vip",))

    response = browser.post("/scheduled-tasks/bulk?status=new&tag=vip", data={"operation": "add_tag", "tag": " Hot "})

    assert response.status_code == 302
    task = db.session.scalars(select(ScheduledTask)).one()
    assert response.headers["Location"].endswith(f"/scheduled-tasks/{task.id}")
    assert (task.task_type, task.status, task.created_by_id) == ("batch_operation", "pending", admin.id)
    assert task.payload == {"operation": "add_tag", "tag": "hot", "lead_ids": [lead.id for lead in matching]}
    assert task.name == "Add tag 'hot' on 3 leads"
    assert "Scheduled for 3 leads." in text(browser.get(response.headers["Location"]))

    assert process_due(org.id) == {"processed": 1, "completed": 1, "failed": 0, "retry_scheduled": 0}

    db.session.expire_all()
    for lead in matching:
        assert db.session.get(Lead, lead.id).tags == ["hot", "vip"]
    assert db.session.get(Lead, other.id).tags == ["vip"]
    events = db.session.scalars(select(LeadEvent).where(LeadEvent.event_type == "tag_added")).all()
    assert sorted(e.lead_id for e in events) == [lead.id for lead in matching]
    assert all(e.actor_id == admin.id for e in events)


def test_a_bulk_status_change_can_be_scheduled_for_later(browser, org):
    lead = make_lead(org, status="new")
    later = (utcnow() + timedelta(days=2)).replace(second=0, microsecond=0)

    browser.post(
        "/scheduled-tasks/bulk?status=new",
        data={"operation": "set_status", "new_status": "contacted", "run_at": later.strftime("%Y-%m-%dT%H:%M"), "name": "Monday calls"},
    )

    task = db.session.scalars(select(ScheduledTask)).one()
    assert (task.name, task.scheduled_for, task.payload["status"]) == ("Monday calls", later, "contacted")
    assert process_due(org.id)["processed"] == 0
    assert process_due(org.id, now=later + timedelta(minutes=1))["completed"] == 1
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).status == "contacted"
    assert db.session.scalar(select(LeadEvent.event_type).where(LeadEvent.lead_id == lead.id)) == "lead_status_changed"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"operation": "add_tag", "tag": ""}, "must be a tag of 1 to 50 characters"),
        ({"operation": "add_tag", "tag": "x" * 51}, "Field cannot be longer than 50 characters."),
        ({"operation": "set_status", "new_status": "purple"}, "must be one of: new, contacted"),
        ({"operation": "set_priority", "new_priority": ""}, "must be one of: low, medium, high, urgent"),
        ({"operation": "teleport"}, "Not a valid choice."),
        ({"operation": "add_tag", "tag": "hot", "run_at": "soon"}, "Not a valid datetime value."),
    ],
)
def test_bad_bulk_input_is_shown_inline_and_schedules_nothing(browser, org, data, message):
    make_lead(org)

    response = browser.post("/scheduled-tasks/bulk", data=data)

    assert response.status_code == 422
    page = text(response)
    assert message in page and 'class="error"' in page
    assert count_tasks() == 0


def test_no_matching_lead_schedules_nothing(browser, org):
    make_lead(org, status="new")

    response = browser.post("/scheduled-tasks/bulk?status=lost", data={"operation": "add_tag", "tag": "hot"})

    assert response.status_code == 422 and "No lead matches these filters" in text(response)
    assert count_tasks() == 0


def test_more_leads_than_a_batch_may_change_are_refused_clearly(browser, org, monkeypatch):
    monkeypatch.setattr("webapp.scheduled_tasks.views.MAX_LEAD_IDS", 2)
    for _ in range(3):
        make_lead(org, tags=("vip",))

    page = text(browser.get("/scheduled-tasks/bulk?tag=vip"))
    response = browser.post("/scheduled-tasks/bulk?tag=vip", data={"operation": "add_tag", "tag": "hot"})

    assert "3 leads match these filters; a bulk action changes at most 2 leads at once" in page
    assert response.status_code == 422
    assert "a bulk action changes at most 2 leads at once" in text(response)
    assert count_tasks() == 0
