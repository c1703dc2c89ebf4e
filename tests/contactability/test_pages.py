"""The "Contact policy" admin page and the lead page's "Contactability" card (SPEC §17)."""

from tests.conftest import login_browser
from tests.factories import make_lead, make_user
from webapp.extensions import db
from webapp.models import Organization

FORM = {
    "quiet_enabled": "1",
    "quiet_start": "21:00",
    "quiet_end": "08:00",
    "cap_channel": ["email", "sms"],
    "cap_max": ["3", ""],
    "cap_per_days": ["7", ""],
    "consent_sms": "1",
    "when_blocked": "skip",
    "default_timezone": "America/Denver",
}


def signed_in(client, org, role="admin"):
    user = make_user(org, role=role)
    login_browser(client, user.email)
    return client


def test_the_admin_menu_leads_to_the_contact_policy_page(client, org):
    signed_in(client, org)
    page = client.get("/admin/contact-policy/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'href="/admin/contact-policy/"' in text and "Quiet hours" in text and "Frequency caps" in text


def test_saving_the_form_stores_the_policy(client, org):
    signed_in(client, org, role="marketer")
    response = client.post("/admin/contact-policy/", data=FORM)
    assert response.status_code == 302
    db.session.expire_all()
    stored = db.session.get(Organization, org.id).contact_policy
    assert stored["quiet_hours"] == {"start": "21:00", "end": "08:00"}
    assert stored["frequency_caps"] == [{"channel": "email", "max": 3, "per_days": 7}]
    assert stored["require_consent"] == {"email": False, "sms": True, "phone": False}
    assert (stored["when_blocked"], stored["default_timezone"], stored["dedupe"]) == ("skip", "America/Denver", None)


def test_a_wrong_value_is_shown_next_to_its_field_and_nothing_is_saved(client, org):
    signed_in(client, org)
    response = client.post("/admin/contact-policy/", data={**FORM, "cap_per_days": ["400", ""], "default_timezone": "Moon/Base"})
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "less than or equal to 365" in text and "IANA time zone" in text
    db.session.expire_all()
    assert db.session.get(Organization, org.id).contact_policy is None


def test_agents_may_read_the_page_but_not_change_the_policy(client, org):
    signed_in(client, org, role="agent")
    assert client.get("/admin/contact-policy/").status_code == 200
    assert client.post("/admin/contact-policy/", data=FORM).status_code == 403


def test_the_lead_page_shows_the_zone_the_local_time_and_each_channels_verdict(client, org):
    signed_in(client, org)
    lead = make_lead(org, state="AZ", email_opt_out=True, phone="+16025550142")
    text = client.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert 'id="lead-contactability"' in text
    assert "America/Phoenix" in text and "from the state" in text and 'id="lead-local-time"' in text
    assert 'data-code="opted_out"' in text
    assert text.count("allowed</span>") == 2  # text and phone


def test_the_lead_form_takes_a_time_zone(client, org):
    signed_in(client, org)
    lead = make_lead(org, state="NY")
    form = {"first_name": "Jane", "status": "new", "priority": "medium"}
    response = client.post(f"/leads/{lead.id}/edit", data={**form, "timezone": "Nowhere"})
    assert response.status_code == 422 and "IANA time zone" in response.get_data(as_text=True)
    response = client.post(f"/leads/{lead.id}/edit", data={**form, "timezone": "Asia/Tokyo"})
    assert response.status_code == 302
    text = client.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert "Asia/Tokyo" in text and "set on the lead" in text
