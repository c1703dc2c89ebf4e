"""Sessions are revocable (SPEC §3): signing out, a password change, an admin's reset, deactivation."""

import pytest

from tests.conftest import ApiClient, login_browser, token_for
from tests.factories import make_user
from webapp.extensions import db
from webapp.models import User


@pytest.fixture
def maria(org):
    return make_user(org, email="maria@acme.example.com", role="marketer", name="Maria Marketer")


class Browser:
    """A browser of its own: each request in a fresh app context, as in production (the test's own
    context would otherwise share ``g``, and the signed-in user cached on it, between browsers)."""

    def __init__(self, app):
        self.app, self.client = app, app.test_client()

    def open(self, url, **kwargs):
        with self.app.app_context():
            return self.client.open(url, **kwargs)

    def get(self, url, **kwargs):
        return self.open(url, method="GET", **kwargs)

    def post(self, url, **kwargs):
        return self.open(url, method="POST", **kwargs)


def browser_for(app, user, password="secret-pass-1"):
    browser = Browser(app)
    with app.app_context():
        assert login_browser(browser.client, user.email, password).status_code == 302
    return browser


def can_sign_in(app, user, password) -> bool:
    with app.app_context():
        return login_browser(app.test_client(), user.email, password).status_code == 302


def test_signing_out_ends_that_session_even_for_a_kept_cookie(app, maria):
    browser = browser_for(app, maria)
    kept = browser.client.get_cookie("session").value
    assert browser.get("/leads/").status_code == 200
    assert browser.post("/logout").status_code == 302
    replay = Browser(app)
    replay.client.set_cookie("session", kept)
    assert "/login" in replay.get("/leads/").headers["Location"]


def test_a_password_change_ends_the_users_other_sessions_and_tokens_but_not_this_one(app, maria):
    here, elsewhere = browser_for(app, maria), browser_for(app, maria)
    api = ApiClient(Browser(app), token_for(app, maria))
    assert api.get("/api/v1/leads").status_code == 200
    response = here.post("/account", data={"current_password": "secret-pass-1", "new_password": "a-new-pass-2", "confirm": "a-new-pass-2"})
    assert response.status_code == 302
    assert here.get("/leads/").status_code == 200
    assert elsewhere.get("/leads/").status_code == 302
    assert api.get("/api/v1/leads").status_code == 401
    assert can_sign_in(app, maria, "a-new-pass-2")


@pytest.mark.parametrize(
    "form, error",
    [
        ({"current_password": "wrong-pass-0", "new_password": "a-new-pass-2", "confirm": "a-new-pass-2"}, "not your current password"),
        ({"current_password": "secret-pass-1", "new_password": "short", "confirm": "short"}, "at least 8"),
        ({"current_password": "secret-pass-1", "new_password": "a-new-pass-2", "confirm": "a-new-pass-3"}, "differ"),
    ],
)
def test_a_refused_password_change_says_why_and_changes_nothing(app, maria, form, error):
    browser = browser_for(app, maria)
    response = browser.post("/account", data=form)
    assert response.status_code == 422 and error in response.get_data(as_text=True)
    assert db.session.get(User, maria.id, populate_existing=True).check_password("secret-pass-1")


def test_an_admins_reset_ends_all_the_users_sessions_and_tokens(app, admin, maria):
    theirs = browser_for(app, maria)
    api = ApiClient(Browser(app), token_for(app, maria))
    assert browser_for(app, admin).post(f"/admin/users/{maria.id}/password", data={"password": "reset-pass-9"}).status_code == 302
    assert theirs.get("/leads/").status_code == 302
    assert api.get("/api/v1/leads").status_code == 401
    assert can_sign_in(app, maria, "reset-pass-9")


def test_a_reset_to_a_short_password_changes_nothing(app, admin, maria):
    browser_for(app, admin).post(f"/admin/users/{maria.id}/password", data={"password": "short"})
    assert db.session.get(User, maria.id, populate_existing=True).check_password("secret-pass-1")


def test_deactivation_ends_every_session_and_token_for_good(app, admin, maria):
    theirs = browser_for(app, maria)
    api = ApiClient(Browser(app), token_for(app, maria))
    admin_browser = browser_for(app, admin)
    admin_browser.post(f"/admin/users/{maria.id}/toggle")
    admin_browser.post(f"/admin/users/{maria.id}/toggle")  # active again: the old sessions stay ended
    assert theirs.get("/leads/").status_code == 302
    assert api.get("/api/v1/leads").status_code == 401


def test_an_address_on_a_reserved_domain_can_sign_in_in_the_browser(app, org):
    assert can_sign_in(app, make_user(org, email="admin@acme.test", role="admin"), "secret-pass-1")


def test_the_users_page_and_the_cli_agree_with_sign_in_on_what_an_address_is(app, admin):
    from webapp.cli import create_user

    browser = browser_for(app, admin)
    form = {"email": "agent@acme.test", "name": "Test Agent", "role": "agent", "password": "agent-pass-1"}
    assert browser.post("/admin/users", data=form).status_code == 302
    assert browser.post("/admin/users", data={**form, "email": "not-an-address"}).status_code == 422
    with app.app_context():
        with pytest.raises(Exception, match="not an email address"):
            create_user("not-an-address", "pass-word-1", "Acme Insurance")
        assert create_user("ops@acme.test", "pass-word-1", "Acme Insurance").id
    assert can_sign_in(app, db.session.scalar(db.select(User).where(User.email == "agent@acme.test")), "agent-pass-1")
