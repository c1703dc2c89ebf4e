"""The unsubscribe link (SPEC §6, RFC 8058): signed, public, GET confirms, POST opts out — also as a
mail client's one-click POST, which carries no CSRF token."""

import pytest
from sqlalchemy import select

from tests.factories import make_lead, make_org
from webapp.email_templates.unsubscribe import lead_for_token, unsubscribe_token, unsubscribe_url
from webapp.extensions import db
from webapp.models import Lead, LeadEvent


@pytest.fixture
def csrf_app(app):
    """The app as served, with CSRF protection on (the test app turns it off)."""
    from webapp import create_app

    served = create_app({"TESTING": True, "WTF_CSRF_ENABLED": True})
    with served.app_context():
        yield served


def test_a_token_names_one_lead_and_cannot_be_forged(app, org):
    lead = make_lead(org)
    other = make_lead(org)
    token = unsubscribe_token(lead)

    assert lead_for_token(token) == lead
    assert lead_for_token(token[:-2] + ("AA" if not token.endswith("AA") else "BB")) is None
    payload, signature = token.rsplit(".", 1)
    other_payload = unsubscribe_token(other).rsplit(".", 1)[0]
    assert lead_for_token(f"{other_payload}.{signature}") is None  # another lead's id with this signature
    assert len(signature) >= 40  # HMAC-SHA256: not guessable
    assert unsubscribe_url(lead).endswith(f"/u/{token}")


def test_get_asks_and_post_opts_out_once_with_an_event(client, org):
    lead = make_lead(org, email="jane@example.com")
    path = f"/u/{unsubscribe_token(lead)}"

    page = client.get(path)
    assert page.status_code == 200 and b"Acme Insurance" in page.data and b"j***@example.com" in page.data
    assert b"jane@example.com" not in page.data

    assert client.post(path).status_code == 200
    assert client.post(path).status_code == 200  # a second click changes nothing more
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).email_opt_out is True
    events = db.session.scalars(select(LeadEvent).where(LeadEvent.event_type == "email_opt_out")).all()
    assert len(events) == 1 and events[0].data["via"] == "unsubscribe_page"
    assert b"You are unsubscribed" in client.get(path).data


def test_one_click_post_works_without_a_csrf_token_while_the_app_enforces_csrf(csrf_app, org):
    lead = make_lead(org)
    client = csrf_app.test_client()
    assert client.post("/login", data={"email": "x@example.com", "password": "y"}).status_code == 400  # CSRF is on

    response = client.post(
        f"/u/{unsubscribe_token(lead)}", data={"List-Unsubscribe": "One-Click"}, content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 200
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).email_opt_out is True


def test_bad_and_preview_tokens_change_nothing(client, org):
    lead = make_lead(org)
    assert client.get("/u/not-a-token").status_code == 404
    assert client.post("/u/not-a-token").status_code == 404
    preview = client.post("/u/preview")
    assert preview.status_code == 200 and b"changes nothing" in preview.data
    foreign = make_lead(make_org("Other Brokers"))
    db.session.delete(foreign)
    db.session.commit()
    assert client.post(f"/u/{unsubscribe_token(foreign)}").status_code == 404
    assert db.session.get(Lead, lead.id).email_opt_out is False
