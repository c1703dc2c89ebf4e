"""Tasks through the API (SPEC §14): create with titles rendered for the lead, filters, complete with an
outcome, lead events, roles, and another organization's tasks and leads as missing ones."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.api.helpers import assert_problem, row_counts
from tests.factories import make_lead, make_org, make_user
from webapp.extensions import db
from webapp.models import LeadEvent, Task, utcnow


@pytest.fixture
def lead(org):
    return make_lead(org, first_name="Priya", last_name="Johnson", email="priya@example.com")


@pytest.fixture
def agent(org):
    return make_user(org, email="agent@acme.example.com", role="agent", name="Alex Agent")


def new_task(api, lead_id, **fields):
    response = api.post("/api/v1/tasks", json={"lead_id": lead_id, "title": "Call {{ first_name }}", **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def events_of(lead_id, event_type):
    db.session.rollback()
    return db.session.scalars(select(LeadEvent).where(LeadEvent.lead_id == lead_id, LeadEvent.event_type == event_type)).all()


# --- create -----------------------------------------------------------------------------------------


def test_create_renders_the_title_and_notes_for_the_lead(api, lead, agent):
    response = api.post(
        "/api/v1/tasks",
        json={
            "lead_id": lead.id,
            "task_type": "call",
            "title": "Call {{ first_name }} now",
            "notes": "{{ full_name }} asked for {{ email }}",
            "assignee_id": agent.id,
            "due_at": "2030-05-01T09:30:00+02:00",
        },
    )

    assert response.status_code == 201
    task = response.get_json()
    assert response.headers["Location"].endswith(f"/api/v1/tasks/{task['id']}")
    assert task["title"] == "Call Priya now"
    assert task["notes"] == "Priya Johnson asked for priya@example.com"
    assert (task["task_type"], task["status"], task["assignee_id"], task["lead_id"]) == ("call", "open", agent.id, lead.id)
    assert task["due_at"] == "2030-05-01T07:30:00Z"
    assert task["completed_at"] is None and task["outcome"] is None
    [created] = events_of(lead.id, "task_created")
    assert created.data["task_id"] == task["id"] and created.data["title"] == "Call Priya now"


def test_a_due_date_alone_means_five_in_the_afternoon_utc(api, lead):
    task = new_task(api, lead.id, due_date="2030-05-01")
    assert task["due_at"] == "2030-05-01T17:00:00Z"


def test_defaults_are_a_follow_up_without_assignee_or_due_time(api, lead):
    task = new_task(api, lead.id)
    assert (task["task_type"], task["assignee_id"], task["due_at"], task["notes"]) == ("follow_up", None, None, None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "Call"}, "lead_id"),
        ({"lead_id": 1}, "title"),
        ({"lead_id": 1, "title": "   "}, "title"),
        ({"lead_id": 1, "title": "Call", "task_type": "nap"}, "task_type"),
        ({"lead_id": 1, "title": "Call", "due_at": "soon"}, "due_at"),
        ({"lead_id": 1, "title": "Call", "due_date": "2030-02-30"}, "due_date"),
        ({"lead_id": 1, "title": "Call", "assignee_id": 999999}, "assignee_id"),
        ({"lead_id": 1, "title": "Call", "colour": "red"}, "colour"),
        ({"lead_id": 1, "title": "Call", "status": "done"}, "status"),
    ],
)
def test_bad_bodies_are_422_naming_the_field_and_change_nothing(api, lead, body, field):
    before = row_counts()
    assert_problem(api.post("/api/v1/tasks", json=body), 422, field)
    assert row_counts() == before


def test_due_at_given_with_a_due_date_wins(api, lead):
    task = new_task(api, lead.id, due_at="2030-01-01T10:00:00Z", due_date="2030-01-05")
    assert task["due_at"] == "2030-01-01T10:00:00Z"


@pytest.mark.parametrize("title", ["Call {{ first_name", "Call {% if %}", "{{ first_name | nosuchfilter }}"])
def test_bad_template_syntax_is_a_422_with_a_clear_message(api, lead, title):
    before = row_counts()
    body = assert_problem(api.post("/api/v1/tasks", json={"lead_id": lead.id, "title": title}), 422, "title")
    [error] = body["errors"]
    assert error["message"].startswith("not a valid template")
    assert row_counts() == before


def test_a_template_that_asks_too_much_fails_without_harm(api, lead):
    body = assert_problem(api.post("/api/v1/tasks", json={"lead_id": lead.id, "title": "{{ 'A' * 10**9 }}"}), 422, "title")
    assert "template" in body["errors"][0]["message"]


def test_an_idempotency_key_creates_one_task(api, lead):
    headers = {"Idempotency-Key": "vendor-retry-1"}
    first = api.post("/api/v1/tasks", json={"lead_id": lead.id, "title": "Call"}, headers=headers)
    again = api.post("/api/v1/tasks", json={"lead_id": lead.id, "title": "Call"}, headers=headers)
    other = api.post("/api/v1/tasks", json={"lead_id": lead.id, "title": "Email"}, headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json() and again.headers["Idempotent-Replayed"] == "true"
    assert_problem(other, 409)
    assert db.session.scalar(select(db.func.count()).select_from(Task)) == 1


# --- read, filter -------------------------------------------------------------------------------


@pytest.fixture
def spread(api, org, lead, agent, admin):
    """Tasks due yesterday (the agent's), in two hours (the admin's), next week (the agent's, done) and never."""
    other_lead = make_lead(org, first_name="Omar", email="omar@example.com")
    now = utcnow()
    ids = {
        "overdue": new_task(api, lead.id, assignee_id=agent.id, due_at=(now - timedelta(days=1)).isoformat())["id"],
        "soon": new_task(api, lead.id, assignee_id=admin.id, due_at=(now + timedelta(hours=2)).isoformat())["id"],
        "later": new_task(api, other_lead.id, assignee_id=agent.id, due_at=(now + timedelta(days=7)).isoformat())["id"],
        "never": new_task(api, other_lead.id)["id"],
    }
    assert api.post(f"/api/v1/tasks/{ids['later']}/complete", json={}).status_code == 200
    ids["other_lead"] = other_lead.id
    return ids


def listed(api, query=""):
    response = api.get(f"/api/v1/tasks{query}")
    assert response.status_code == 200, response.get_json()
    return [item["id"] for item in response.get_json()["items"]]


def test_the_list_is_soonest_due_first_and_paginated(api, spread):
    assert listed(api) == [spread["overdue"], spread["soon"], spread["later"], spread["never"]]
    page = api.get("/api/v1/tasks?per_page=2&page=2").get_json()
    assert (page["total"], page["page"], page["per_page"]) == (4, 2, 2)
    assert [item["id"] for item in page["items"]] == [spread["later"], spread["never"]]


def test_filters(api_as, api, spread, lead, agent, admin):
    assert listed(api, f"?assignee_id={agent.id}") == [spread["overdue"], spread["later"]]
    assert listed(api, "?assignee=me") == [spread["soon"]]
    assert listed(api_as(agent), "?assignee=me") == [spread["overdue"], spread["later"]]
    assert listed(api, "?status=done") == [spread["later"]]
    assert listed(api, "?status=open") == [spread["overdue"], spread["soon"], spread["never"]]
    assert listed(api, f"?lead_id={lead.id}") == [spread["overdue"], spread["soon"]]
    assert listed(api, "?overdue=true") == [spread["overdue"]]
    assert listed(api, "?overdue=false") == [spread["soon"], spread["later"], spread["never"]]
    tomorrow = (utcnow() + timedelta(days=1)).date().isoformat()
    assert listed(api, f"?due_before={tomorrow}T23:59:59Z") == [spread["overdue"], spread["soon"]]
    assert listed(api, f"?assignee_id={agent.id}&status=open") == [spread["overdue"]]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?status=later", "status"),
        ("?overdue=yes", "overdue"),
        ("?due_before=tuesday", "due_before"),
        ("?assignee=you", "assignee"),
        ("?lead_id=abc", "lead_id"),
        ("?assignee_id=-1", "assignee_id"),
        ("?per_page=500", "per_page"),
    ],
)
def test_bad_filters_are_422_naming_the_filter(api, query, field):
    assert_problem(api.get(f"/api/v1/tasks{query}"), 422, field)


def test_get_one_task(api, lead):
    task = new_task(api, lead.id)
    assert api.get(f"/api/v1/tasks/{task['id']}").get_json() == task
    assert_problem(api.get("/api/v1/tasks/987654"), 404)


# --- complete, change, delete -------------------------------------------------------------------


def test_completing_a_call_needs_one_of_the_four_outcomes(api, lead, admin):
    task = new_task(api, lead.id, task_type="call")

    assert_problem(api.post(f"/api/v1/tasks/{task['id']}/complete", json={}), 422, "outcome")
    assert_problem(api.post(f"/api/v1/tasks/{task['id']}/complete", json={"outcome": "talked a lot"}), 422, "outcome")
    assert events_of(lead.id, "task_completed") == []

    response = api.post(f"/api/v1/tasks/{task['id']}/complete", json={"outcome": "voicemail"})
    assert response.status_code == 200
    done = response.get_json()
    assert (done["status"], done["outcome"], done["completed_by_id"]) == ("done", "voicemail", admin.id)
    assert done["completed_at"] is not None
    [event] = events_of(lead.id, "task_completed")
    assert event.data == {"task_id": task["id"], "title": "Call Priya", "task_type": "call", "outcome": "voicemail"}
    assert event.actor_id == admin.id

    assert_problem(api.post(f"/api/v1/tasks/{task['id']}/complete", json={"outcome": "reached"}), 409)


def test_other_tasks_complete_with_free_text_or_nothing(api, lead):
    first, second = new_task(api, lead.id, task_type="email"), new_task(api, lead.id, task_type="meeting")
    assert api.post(f"/api/v1/tasks/{first['id']}/complete", json={"outcome": "Sent the comparison"}).get_json()["outcome"] == (
        "Sent the comparison"
    )
    assert api.post(f"/api/v1/tasks/{second['id']}/complete", json={}).get_json()["status"] == "done"
    assert_problem(api.post(f"/api/v1/tasks/{second['id']}/complete", json={"result": "x"}), 422, "result")


def test_patch_changes_only_what_it_is_given_and_records_task_updated(api, lead, agent):
    task = new_task(api, lead.id, notes="Keep me", due_date="2030-01-01")

    response = api.patch(f"/api/v1/tasks/{task['id']}", json={"title": "Email {{ last_name }}", "assignee_id": agent.id})

    assert response.status_code == 200
    changed = response.get_json()
    assert (changed["title"], changed["assignee_id"], changed["notes"], changed["due_at"]) == (
        "Email Johnson",
        agent.id,
        "Keep me",
        task["due_at"],
    )
    [event] = events_of(lead.id, "task_updated")
    assert set(event.data["changes"]) == {"title", "assignee_id"}
    assert event.data["changes"]["title"] == {"old": "Call Priya", "new": "Email Johnson"}


def test_patch_that_changes_nothing_records_nothing(api, lead):
    task = new_task(api, lead.id)
    assert api.patch(f"/api/v1/tasks/{task['id']}", json={"title": "Call Priya"}).status_code == 200
    assert events_of(lead.id, "task_updated") == []


def test_cancelling_is_a_patch_of_status_and_reopening_clears_the_completion(api, lead):
    task = new_task(api, lead.id, task_type="call")

    cancelled = api.patch(f"/api/v1/tasks/{task['id']}", json={"status": "cancelled"}).get_json()
    assert cancelled["status"] == "cancelled"
    assert_problem(api.post(f"/api/v1/tasks/{task['id']}/complete", json={"outcome": "reached"}), 409)

    done = api.patch(f"/api/v1/tasks/{task['id']}", json={"status": "open"}).get_json()
    assert done["status"] == "open"
    assert_problem(api.patch(f"/api/v1/tasks/{task['id']}", json={"status": "done"}), 422, "outcome")
    done = api.patch(f"/api/v1/tasks/{task['id']}", json={"status": "done", "outcome": "no_answer"}).get_json()
    assert (done["status"], done["outcome"]) == ("done", "no_answer") and done["completed_at"]
    assert len(events_of(lead.id, "task_completed")) == 1

    reopened = api.patch(f"/api/v1/tasks/{task['id']}", json={"status": "open"}).get_json()
    assert (reopened["status"], reopened["outcome"], reopened["completed_at"], reopened["completed_by_id"]) == ("open", None, None, None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": None}, "title"),
        ({"status": None}, "status"),
        ({"task_type": None}, "task_type"),
        ({"status": "finished"}, "status"),
        ({"lead_id": 2}, "lead_id"),
        ({"title": "{{ oops"}, "title"),
        ({"assignee_id": 999999}, "assignee_id"),
    ],
)
def test_bad_changes_are_422_and_change_nothing(api, lead, body, field):
    task = new_task(api, lead.id)
    assert_problem(api.patch(f"/api/v1/tasks/{task['id']}", json=body), 422, field)
    assert api.get(f"/api/v1/tasks/{task['id']}").get_json() == task


def test_delete(api, lead):
    task = new_task(api, lead.id)
    assert api.delete(f"/api/v1/tasks/{task['id']}").status_code == 204
    assert_problem(api.get(f"/api/v1/tasks/{task['id']}"), 404)


def test_deleting_the_lead_deletes_its_tasks(api, lead):
    task = new_task(api, lead.id)
    assert api.delete(f"/api/v1/leads/{lead.id}").status_code == 204
    assert_problem(api.get(f"/api/v1/tasks/{task['id']}"), 404)


# --- roles --------------------------------------------------------------------------------------


def test_agents_work_tasks_but_do_not_delete_them(api_as, api, lead, agent):
    as_agent = api_as(agent)
    task = new_task(as_agent, lead.id, task_type="call", assignee_id=agent.id)
    assert as_agent.patch(f"/api/v1/tasks/{task['id']}", json={"notes": "Prefers mornings"}).status_code == 200
    assert as_agent.post(f"/api/v1/tasks/{task['id']}/complete", json={"outcome": "reached"}).status_code == 200
    assert_problem(as_agent.delete(f"/api/v1/tasks/{task['id']}"), 403)
    marketer = make_user(lead_org(lead), role="marketer")
    assert api_as(marketer).delete(f"/api/v1/tasks/{task['id']}").status_code == 204


def test_viewers_read_tasks_and_change_nothing(api_as, api, lead):
    task = new_task(api, lead.id)
    viewer = api_as(make_user(lead_org(lead), role="viewer"))
    assert viewer.get("/api/v1/tasks").get_json()["total"] == 1
    assert viewer.get(f"/api/v1/tasks/{task['id']}").status_code == 200
    assert_problem(viewer.post("/api/v1/tasks", json={"lead_id": lead.id, "title": "x"}), 403)
    assert_problem(viewer.patch(f"/api/v1/tasks/{task['id']}", json={"title": "x"}), 403)
    assert_problem(viewer.post(f"/api/v1/tasks/{task['id']}/complete", json={}), 403)
    assert_problem(viewer.delete(f"/api/v1/tasks/{task['id']}"), 403)


def lead_org(lead):
    from webapp.models import Organization

    return db.session.get(Organization, lead.organization_id)


# --- tenancy ------------------------------------------------------------------------------------


def test_another_organizations_tasks_and_leads_are_missing_everywhere(api, api_as, lead):
    other_org = make_org("Beta Brokers")
    other_admin = make_user(other_org, role="admin")
    other_lead = make_lead(other_org, first_name="Zed", email="zed@example.com")
    theirs = new_task(api_as(other_admin), other_lead.id, task_type="call")
    before = row_counts()

    missing = 987654
    for task_id in (theirs["id"], missing):
        assert_problem(api.get(f"/api/v1/tasks/{task_id}"), 404)
        assert_problem(api.patch(f"/api/v1/tasks/{task_id}", json={"title": "Mine now"}), 404)
        assert_problem(api.post(f"/api/v1/tasks/{task_id}/complete", json={"outcome": "reached"}), 404)
        assert_problem(api.delete(f"/api/v1/tasks/{task_id}"), 404)
    for lead_id in (other_lead.id, missing):
        body = assert_problem(api.post("/api/v1/tasks", json={"lead_id": lead_id, "title": "Call"}), 404, "lead_id")
        assert "Zed" not in str(body)
        assert api.get(f"/api/v1/tasks?lead_id={lead_id}").get_json()["total"] == 0
    assert api.get("/api/v1/tasks").get_json()["total"] == 0
    assert api.get(f"/api/v1/tasks?assignee_id={other_admin.id}").get_json()["total"] == 0
    assert_problem(api.post("/api/v1/tasks", json={"lead_id": lead.id, "title": "Call", "assignee_id": other_admin.id}), 422, "assignee_id")
    assert row_counts() == before
