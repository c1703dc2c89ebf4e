"""HTMX requests get the swapped block of the page alone, rendered from the page's own template."""

import pytest

from tests.conftest import login_browser
from tests.factories import make_lead
from webapp.extensions import db
from webapp.models import ImportJob, Notification


@pytest.fixture
def signed_in(client, org, admin):
    make_lead(org, first_name="Maria", tags=("vip",))
    db.session.add(Notification(organization_id=org.id, user_id=admin.id, message="Hello"))
    db.session.add(ImportJob(organization_id=org.id, user_id=admin.id, filename="x.csv", content="first_name\n"))
    db.session.commit()
    login_browser(client, admin.email)
    return client


@pytest.mark.parametrize(
    ("url", "target", "expected"),
    [
        ("/leads/?q=maria", "lead-results", "Maria"),
        ("/admin/audit?action=login", "audit-entries", "login"),
        ("/notifications", "notification-list", "Hello"),
        ("/leads/import/1", "import-progress", "Waiting for a worker"),
    ],
)
def test_an_htmx_request_gets_only_the_block(signed_in, url, target, expected):
    full = signed_in.get(url)
    fragment = signed_in.get(url, headers={"HX-Request": "true", "HX-Target": target})

    assert full.status_code == fragment.status_code == 200
    body = fragment.get_data(as_text=True)
    assert expected in body
    assert "<html" not in body and "<html" in full.get_data(as_text=True)
    assert "HX-Request" in fragment.headers["Vary"]
