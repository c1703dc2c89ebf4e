"""The users page: statuses "active"/"deactivated", and activating or deactivating swaps the row in place."""

import pytest

from tests.conftest import login_browser
from tests.factories import make_user
from webapp.extensions import db
from webapp.models import AuditLog, User


@pytest.fixture
def admin_browser(client, admin):
    login_browser(client, admin.email)
    return client


def hx(target: str) -> dict:
    return {"HX-Request": "true", "HX-Target": target}


def test_a_deactivated_account_reads_deactivated_not_cancelled(admin_browser, org):
    make_user(org, email="gone@acme.example.com", role="agent").is_active = False
    db.session.commit()
    html = admin_browser.get("/admin/users").get_data(as_text=True)
    assert '<span class="badge deactivated">deactivated</span>' in html and "cancelled" not in html
    assert '<span class="badge active">active</span>' in html  # the admin


def test_deactivating_with_htmx_returns_only_the_users_row(admin_browser, org):
    agent = make_user(org, email="alex@acme.example.com", role="agent")
    response = admin_browser.post(f"/admin/users/{agent.id}/toggle", headers=hx(f"user-{agent.id}"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().startswith(f'<tr id="user-{agent.id}">') and "<html" not in html and "<table" not in html
    assert "badge deactivated" in html and ">Activate</button>" in html
    assert db.session.get(User, agent.id, populate_existing=True).is_active is False
    entry = db.session.scalar(db.select(AuditLog).where(AuditLog.object_id == agent.id))
    assert entry.changes == {"is_active": [True, False]}

    again = admin_browser.post(f"/admin/users/{agent.id}/toggle", headers=hx(f"user-{agent.id}")).get_data(as_text=True)
    assert "badge active" in again and ">Deactivate</button>" in again


def test_the_row_swaps_itself_in_place(admin_browser, org):
    agent = make_user(org, role="agent")
    html = admin_browser.get("/admin/users").get_data(as_text=True)
    assert f'hx-post="/admin/users/{agent.id}/toggle" hx-target="#user-{agent.id}" hx-swap="outerHTML"' in html


def test_an_admin_cannot_deactivate_themself_and_is_told_in_the_row(admin_browser, admin):
    html = admin_browser.post(f"/admin/users/{admin.id}/toggle", headers=hx(f"user-{admin.id}")).get_data(as_text=True)
    assert 'role="alert">You cannot deactivate yourself.' in html
    assert db.session.get(User, admin.id, populate_existing=True).is_active is True


def test_without_htmx_the_form_still_posts_and_redirects(admin_browser, org):
    agent = make_user(org, role="agent")
    response = admin_browser.post(f"/admin/users/{agent.id}/toggle")
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/users")
    assert db.session.get(User, agent.id, populate_existing=True).is_active is False
