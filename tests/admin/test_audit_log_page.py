"""The audit log reads field by field ("status: new → contacted") and links to objects that still exist."""

import pytest

from tests.conftest import login_browser
from tests.factories import make_lead, make_org, make_user
from webapp.admin.services import FieldChange, describe_changes
from webapp.audit import audit
from webapp.extensions import db
from webapp.leads.services import update_lead
from webapp.models import Segment


@pytest.mark.parametrize(
    ("changes", "lines"),
    [
        ({"status": ["new", "contacted"]}, [FieldChange("status", "contacted", "new")]),
        ({"is_active": [True, False]}, [FieldChange("is active", "no", "yes")]),
        ({"name": {"old": "Spring", "new": "Summer"}}, [FieldChange("name", "Summer", "Spring")]),
        (
            {"lead_status_changed": {"field": "status", "old": "new", "new": "contacted"}},
            [FieldChange("status", "contacted", "new")],
        ),
        (
            {"lead_updated": {"changes": {"city": {"old": None, "new": "Austin"}, "phone": {"old": "1", "new": "2"}}}},
            [FieldChange("city", "Austin", "—"), FieldChange("phone", "2", "1")],
        ),
        ({"email": "a@example.com", "role": "agent"}, [FieldChange("email", "a@example.com"), FieldChange("role", "agent")]),
        ({"added_leads": [3, 5]}, [FieldChange("added leads", "3, 5")]),  # a list of ids, not "3 → 5"
        ({"tag_added": {"tag": "vip"}}, [FieldChange("tag added", "tag: vip")]),
        ({"lead_ids": list(range(12))}, [FieldChange("lead ids", "0, 1, 2, 3, 4, 5, 6, 7, 8, 9 and 2 more")]),
        ({}, []),
        (None, []),
    ],
)
def test_changes_read_field_by_field_whatever_shape_was_recorded(changes, lines):
    assert describe_changes(changes) == lines


def test_long_values_are_cut():
    (line,) = describe_changes({"description": "x" * 500})
    assert len(line.new) == 120 and line.new.endswith("…")


@pytest.fixture
def admin_browser(client, admin):
    login_browser(client, admin.email)
    return client


def test_the_page_shows_old_and_new_values_as_text_not_escaped_json(admin_browser, org, admin):
    lead = make_lead(org, first_name="Maria", last_name="<b>Garcia</b>", status="new")
    events = update_lead(lead, {"status": "contacted"}, admin.id)
    audit("update", lead, {e.event_type: e.data for e in events}, organization_id=org.id, user_id=admin.id)
    db.session.commit()

    html = admin_browser.get("/admin/audit").get_data(as_text=True)
    assert '<span class="change-field">status:</span>' in html
    assert '<span class="change-old">new</span>' in html and '<span class="change-new">contacted</span>' in html
    assert "\\u003c" not in html and "&lt;b&gt;Garcia&lt;/b&gt;" in html  # the name escaped once, as text
    assert f'href="/leads/{lead.id}"' in html


def test_objects_that_still_exist_are_linked_and_deleted_ones_are_named(admin_browser, org, admin):
    kept = Segment(organization_id=org.id, name="Hot prospects", slug="hot", is_dynamic=False)
    gone = Segment(organization_id=org.id, name="Old list", slug="old", is_dynamic=False)
    db.session.add_all([kept, gone])
    db.session.flush()
    audit("create", kept, {"name": kept.name}, organization_id=org.id, user_id=admin.id)
    audit("create", gone, {"name": gone.name}, organization_id=org.id, user_id=admin.id)
    gone_id = gone.id
    db.session.delete(gone)
    db.session.commit()

    html = admin_browser.get("/admin/audit").get_data(as_text=True)
    assert f'<a href="/segments/{kept.id}">Hot prospects</a>' in html
    assert f'#{gone_id} <span class="muted small">(deleted)</span>' in html
    assert f'href="/segments/{gone_id}"' not in html


def test_an_object_of_another_organization_is_never_linked(admin_browser, org, admin):
    rival = make_org("Rival")
    theirs = make_lead(rival, first_name="Secret")
    audit("update", theirs, {"status": ["new", "lost"]}, organization_id=org.id, user_id=admin.id)  # a stray entry
    db.session.commit()
    html = admin_browser.get("/admin/audit").get_data(as_text=True)
    assert "Secret" not in html and f'href="/leads/{theirs.id}"' not in html


def test_a_user_entry_links_to_the_users_row(admin_browser, org, admin):
    agent = make_user(org, role="agent", name="Alex Agent")
    audit("update", agent, {"is_active": [True, False]}, organization_id=org.id, user_id=admin.id)
    db.session.commit()
    html = admin_browser.get("/admin/audit").get_data(as_text=True)
    assert f'<a href="/admin/users#user-{agent.id}">Alex Agent</a>' in html
    assert '<span class="change-old">yes</span>' in html and '<span class="change-new">no</span>' in html
