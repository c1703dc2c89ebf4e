"""The tasks pages (server side): agents land on "My tasks", sections by due time, one-click completion
over HTMX with the navigation count, the lead page's tasks card, and automation-made tasks."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.automations.helpers import make_automation, runs_of, step
from tests.conftest import login_browser
from tests.factories import make_lead, make_user
from webapp.extensions import db
from webapp.models import LeadEvent, Task, utcnow
from webapp.tasks.services import create_task, end_of_today

HX = {"HX-Request": "true", "HX-Target": "task-1"}


@pytest.fixture
def agent(org):
    return make_user(org, email="alex@acme.example.com", role="agent", name="Alex Agent")


@pytest.fixture
def lead(org, agent):
    return make_lead(org, first_name="Priya", last_name="Johnson", email="priya@example.com", assigned_to_id=agent.id)


def add_task(lead, assignee, title="Call {{ first_name }}", due_in=timedelta(hours=1), task_type="call", **values):
    due_at = None if due_in is None else utcnow() + due_in
    task = create_task(
        lead, {"title": title, "assignee_id": assignee.id if assignee else None, "due_at": due_at, "task_type": task_type, **values}
    )
    db.session.commit()
    return task


def signed_in(client, user):
    assert login_browser(client, user.email).status_code == 302
    return client


def section_of(html: str, key: str) -> str:
    return re.search(rf'<ul id="tasks-{key}".*?</ul>', html, re.S).group()


# --- landing ------------------------------------------------------------------------------------


def test_agents_land_on_my_tasks_after_signing_in(client, agent):
    response = login_browser(client, agent.email)
    assert response.status_code == 302 and response.headers["Location"].endswith("/tasks/")
    assert client.get("/login").headers["Location"].endswith("/tasks/")


def test_others_land_on_the_dashboard(client, admin):
    assert login_browser(client, admin.email).headers["Location"] == "/"


def test_an_agent_sent_to_sign_in_from_a_page_goes_back_to_it(client, agent):
    response = client.post("/login?next=/leads/", data={"email": agent.email, "password": "secret-pass-1"})
    assert response.headers["Location"] == "/leads/"


# --- my tasks -----------------------------------------------------------------------------------


def test_my_tasks_shows_my_open_tasks_by_section(client, org, agent, lead, admin):
    now = utcnow()
    overdue = add_task(lead, agent, "Call {{ first_name }} back", due_in=timedelta(hours=-3))
    later_today = end_of_today(now) - now > timedelta(minutes=10)
    today = add_task(lead, agent, "Email {{ last_name }}", due_in=(end_of_today(now) - now) / 2, task_type="email") if later_today else None
    upcoming = add_task(lead, agent, "Meet {{ full_name }}", due_in=timedelta(days=3), task_type="meeting")
    undated = add_task(lead, agent, "Review the file", due_in=None, task_type="review")
    add_task(lead, admin, "Not mine")
    done = add_task(lead, agent, "Already done", task_type="follow_up")
    done.status = "done"
    db.session.commit()

    html = signed_in(client, agent).get("/tasks/").get_data(as_text=True)

    assert "Call Priya back" in section_of(html, "overdue")
    if today is not None:
        assert "Email Johnson" in section_of(html, "today")
    assert "Meet Priya Johnson" in section_of(html, "upcoming") and "Review the file" in section_of(html, "upcoming")
    assert "Not mine" not in html and "Already done" not in html
    assert {overdue.id, upcoming.id, undated.id} <= {int(n) for n in re.findall(r'id="task-(\d+)"', html)}
    assert re.search(r'aria-label="(\d+) open tasks due"', html).group(1) == str(2 if today else 1)


def test_call_tasks_offer_the_four_outcomes_and_others_a_done_button(client, agent, lead):
    add_task(lead, agent, "Call", task_type="call")
    add_task(lead, agent, "Write", task_type="email")
    html = signed_in(client, agent).get("/tasks/").get_data(as_text=True)
    assert [value for value in re.findall(r'name="outcome" value="(\w+)"', html)] == ["reached", "voicemail", "no_answer", "wrong_number"]
    assert html.count(">Done</button>") == 1


def test_admins_and_marketers_may_look_at_anyones_tasks(client, agent, lead, admin):
    add_task(lead, agent, "Call for the agent")
    add_task(lead, admin, "Call for the admin")

    as_admin = signed_in(client, admin)
    assert "Call for the agent" not in as_admin.get("/tasks/").get_data(as_text=True)
    assert "Call for the agent" in as_admin.get(f"/tasks/?assignee={agent.id}").get_data(as_text=True)
    everyone = as_admin.get("/tasks/?assignee=all", headers={"HX-Request": "true", "HX-Target": "task-sections"}).get_data(as_text=True)
    assert "Call for the agent" in everyone and "Call for the admin" in everyone and "<html" not in everyone


def test_agents_see_only_their_own_tasks_whatever_they_ask(client, agent, lead, admin):
    add_task(lead, admin, "Call for the admin")
    html = signed_in(client, agent).get(f"/tasks/?assignee={admin.id}").get_data(as_text=True)
    assert "Call for the admin" not in html and 'id="assignee"' not in html


# --- completing ---------------------------------------------------------------------------------


def test_completing_a_call_in_one_click_swaps_its_row_and_the_navigation_count(client, agent, lead):
    task = add_task(lead, agent, due_in=timedelta(hours=-1))
    as_agent = signed_in(client, agent)

    response = as_agent.post(f"/tasks/{task.id}/complete", data={"outcome": "voicemail"}, headers=HX)

    assert response.status_code == 200 and response.headers["HX-Trigger"] == "tasks-changed"
    html = response.get_data(as_text=True)
    assert f'id="task-{task.id}"' in html and 'data-status="done"' in html and "Voicemail" in html
    assert 'id="nav-badge-tasks-index" hx-swap-oob="true"' in html and 'aria-label="0 open tasks due"' in html
    db.session.expire_all()
    done = db.session.get(Task, task.id)
    assert (done.status, done.outcome, done.completed_by_id) == ("done", "voicemail", agent.id)
    [event] = db.session.scalars(select(LeadEvent).where(LeadEvent.event_type == "task_completed")).all()
    assert event.data["outcome"] == "voicemail" and event.actor_id == agent.id


def test_a_call_without_an_outcome_stays_open_and_says_why(client, agent, lead):
    task = add_task(lead, agent)
    html = signed_in(client, agent).post(f"/tasks/{task.id}/complete", data={}, headers=HX).get_data(as_text=True)
    assert "a call&#39;s outcome must be one of" in html and 'data-status="open"' in html
    db.session.expire_all()
    assert db.session.get(Task, task.id).status == "open"


def test_completing_without_htmx_redirects_back(client, agent, lead):
    task = add_task(lead, agent, task_type="follow_up")
    response = signed_in(client, agent).post(f"/tasks/{task.id}/complete", data={})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Task, task.id).status == "done"


def test_viewers_may_not_complete_tasks(client, org, agent, lead):
    task = add_task(lead, agent, task_type="follow_up")
    viewer = make_user(org, email="val@acme.example.com", role="viewer")
    assert signed_in(client, viewer).post(f"/tasks/{task.id}/complete", data={}).status_code == 403


# --- the lead page ------------------------------------------------------------------------------


def test_the_lead_page_shows_its_tasks_and_a_new_task_form(client, agent, lead):
    add_task(lead, agent, "Call {{ first_name }} today")
    html = signed_in(client, agent).get(f"/leads/{lead.id}").get_data(as_text=True)
    assert 'id="lead-tasks"' in html and "Call Priya today" in html
    assert f'hx-get="/tasks/lead/{lead.id}"' in html and "every 10s" in html
    assert f'action="/tasks/lead/{lead.id}"' in html


def test_a_task_added_on_the_lead_page_is_rendered_for_the_lead(client, agent, lead):
    as_agent = signed_in(client, agent)
    form = {
        "task_type": "call",
        "title": "Call {{ first_name }} now",
        "due_date": "2030-01-02",
        "due_time": "",
        "assignee_id": str(agent.id),
        "notes": "",
    }

    response = as_agent.post(f"/tasks/lead/{lead.id}", data=form, headers={"HX-Request": "true", "HX-Target": "lead-tasks"})

    assert response.status_code == 200 and response.headers["HX-Trigger"] == "tasks-changed"
    assert "Call Priya now" in response.get_data(as_text=True)
    task = db.session.scalar(select(Task))
    assert (task.title, task.assignee_id, task.due_at.isoformat()) == ("Call Priya now", agent.id, "2030-01-02T17:00:00+00:00")
    assert "Call Priya now" in as_agent.get(f"/tasks/lead/{lead.id}").get_data(as_text=True)


def test_a_bad_template_on_the_lead_page_is_shown_inline(client, agent, lead):
    form = {"task_type": "call", "title": "Call {{ first_name", "due_date": "", "due_time": "", "assignee_id": "", "notes": ""}
    response = signed_in(client, agent).post(f"/tasks/lead/{lead.id}", data=form, headers={"HX-Request": "true", "HX-Target": "lead-tasks"})
    assert response.status_code == 422
    assert "not a valid template" in response.get_data(as_text=True)
    assert db.session.scalar(select(Task)) is None


def test_another_organizations_lead_has_no_tasks_card(client, agent):
    from tests.factories import make_org

    other = make_lead(make_org("Beta Brokers"), first_name="Zed")
    as_agent = signed_in(client, agent)
    assert as_agent.get(f"/tasks/lead/{other.id}").status_code == 404
    form = {"task_type": "call", "title": "Hi", "due_date": "", "due_time": "", "assignee_id": "", "notes": ""}
    assert as_agent.post(f"/tasks/lead/{other.id}", data=form).status_code == 404


# --- automations --------------------------------------------------------------------------------


def test_the_create_task_step_renders_its_title_for_the_lead(api, run_jobs, org, agent):
    automation = make_automation(api, actions=[step("create_task", task_type="call", title="Call {{ first_name }} now", due_in_days=1)])
    response = api.post("/api/v1/leads", json={"first_name": "Priya", "email": "priya@example.com", "assigned_to_id": agent.id})
    run_jobs()

    [run] = runs_of(automation["id"])
    assert run.status == "completed"
    task = db.session.scalar(select(Task).where(Task.lead_id == response.get_json()["id"]))
    assert (task.title, task.assignee_id, task.status) == ("Call Priya now", agent.id, "open")
    assert task.due_at == (utcnow() + timedelta(days=1)).replace(hour=17, minute=0, second=0, microsecond=0)
    assert run.steps[0].output["title"] == "Call Priya now"


def test_a_create_task_step_with_bad_template_syntax_is_refused(api):
    response = api.post(
        "/api/v1/automations",
        json={"name": "Broken", "trigger_type": "lead_created", "actions": [step("create_task", title="Call {{ first_name")]},
    )
    assert response.status_code == 422
    assert any(error["field"] == "actions[0].configuration.title" for error in response.get_json()["errors"])
