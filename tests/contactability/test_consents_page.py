"""The lead page's "Consent" card (SPEC §17): the history with its evidence, and the form that records
a consent or a revocation (HTMX: the card again, and the "Contactability" card out of band)."""

from sqlalchemy import func, select

from tests.conftest import login_browser
from tests.factories import make_lead, make_org, make_user
from webapp.extensions import db
from webapp.leads.consents import record_lead_consent
from webapp.models import LeadConsent, Organization

HTMX = {"HX-Request": "true", "HX-Target": "lead-consents"}
CERTIFICATE = "https://cert.trustedform.com/abc123"


def signed_in(client, org, role="admin"):
    login_browser(client, make_user(org, role=role).email)
    return client


def test_the_lead_page_shows_the_history_with_its_evidence(client, org):
    lead = make_lead(org)
    values = {"channel": "sms", "status": "granted", "method": "web_form", "certificate_url": CERTIFICATE, "lead_id_token": "LID-42"}
    record_lead_consent(lead, values)
    db.session.commit()
    text = signed_in(client, org).get(f"/leads/{lead.id}").get_data(as_text=True)
    assert 'id="lead-consents"' in text and 'id="consent-history"' in text
    assert f'href="{CERTIFICATE}"' in text and "LID-42" in text
    assert "Text consent granted" in text  # the timeline's event


def test_recording_a_consent_answers_both_cards(client, org):
    db.session.get(Organization, org.id).contact_policy = {"require_consent": {"phone": True}}
    db.session.commit()
    lead = make_lead(org, phone="+15125550142")
    browser = signed_in(client, org, role="agent")
    before = browser.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert 'data-code="no_consent"' in before
    response = browser.post(f"/leads/{lead.id}/consents", data={"channel": "phone", "status": "granted", "method": "phone"}, headers=HTMX)
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "Phone consent granted." in text
    assert 'id="lead-contactability" hx-swap-oob="true"' in text and 'data-code="no_consent"' not in text
    assert db.session.scalar(select(func.count()).select_from(LeadConsent)) == 1


def test_a_wrong_value_is_shown_next_to_its_field_and_nothing_is_recorded(client, org):
    lead = make_lead(org)
    browser = signed_in(client, org)
    data = {
        "channel": "email",
        "status": "granted",
        "method": "web_form",
        "certificate_url": "not a link",
        "captured_at": "2999-01-01T10:00",
    }
    response = browser.post(f"/leads/{lead.id}/consents", data=data, headers=HTMX)
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert 'id="consent-captured_at-error"' in text and "must not be in the future" in text
    assert 'id="consent-certificate_url-error"' in text and 'value="not a link"' in text
    assert "lead-contactability" not in text
    assert db.session.scalar(select(func.count()).select_from(LeadConsent)) == 0


def test_without_htmx_the_form_returns_to_the_lead_page(client, org):
    lead = make_lead(org)
    response = signed_in(client, org).post(f"/leads/{lead.id}/consents", data={"channel": "email", "status": "revoked", "method": "paper"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/leads/{lead.id}")
    assert db.session.scalar(select(LeadConsent.status)) == "revoked"


def test_viewers_see_the_history_but_not_the_form(client, org):
    lead = make_lead(org)
    browser = signed_in(client, org, role="viewer")
    text = browser.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert 'id="lead-consents"' in text and "Record a consent" not in text
    assert browser.post(f"/leads/{lead.id}/consents", data={"channel": "email", "status": "granted"}).status_code == 403


def test_another_organizations_lead_is_not_found(client, org):
    other = make_lead(make_org("Other Agency"))
    response = signed_in(client, org).post(f"/leads/{other.id}/consents", data={"channel": "email", "status": "granted"}, headers=HTMX)
    assert response.status_code == 404
    assert db.session.scalar(select(func.count()).select_from(LeadConsent)) == 0
