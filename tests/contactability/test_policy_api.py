"""The contact policy API (SPEC §17): defaults, changing some fields, every rule a 422 naming its field,
and who may change it."""

import pytest

from tests.api.helpers import assert_problem
from tests.factories import make_org, make_user
from webapp.extensions import db
from webapp.models import AuditLog

URL = "/api/v1/settings/contact-policy"
DEFAULTS = {
    "quiet_hours": None,
    "frequency_caps": [],
    "require_consent": {"email": False, "sms": False, "phone": False},
    "when_blocked": "defer",
    "default_timezone": "America/New_York",
    "dedupe": None,
}
FULL = {
    "quiet_hours": {"start": "21:00", "end": "08:00"},
    "frequency_caps": [{"channel": "email", "max": 3, "per_days": 7}, {"channel": "phone", "max": 1, "per_days": 1}],
    "require_consent": {"email": False, "sms": True, "phone": True},
    "when_blocked": "skip",
    "default_timezone": "America/Chicago",
    "dedupe": {"match_on": ["email", "phone"], "window_days": 30, "action": "merge"},
}


def test_an_organization_without_a_policy_has_the_defaults(api):
    response = api.get(URL)
    assert response.status_code == 200
    assert response.get_json() == DEFAULTS


def test_a_policy_is_stored_and_read_back(api):
    response = api.put(URL, json=FULL)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == FULL
    assert api.get(URL).get_json() == FULL
    entry = db.session.query(AuditLog).filter_by(action="update").one()
    assert entry.changes["contact_policy"]["when_blocked"] == {"old": "defer", "new": "skip"}


def test_a_put_changes_only_the_fields_it_gives(api):
    api.put(URL, json=FULL)
    response = api.put(URL, json={"quiet_hours": None, "when_blocked": "defer"})
    assert response.get_json() == {**FULL, "quiet_hours": None, "when_blocked": "defer"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"quiet_hours": {"start": "9pm", "end": "08:00"}}, "quiet_hours.start"),
        ({"quiet_hours": {"start": "21:00", "end": "24:00"}}, "quiet_hours.end"),
        ({"quiet_hours": {"start": "21:00"}}, "quiet_hours.end"),
        ({"quiet_hours": {"start": "21:00", "end": "08:00", "tz": "UTC"}}, "quiet_hours.tz"),
        ({"frequency_caps": [{"channel": "fax", "max": 1, "per_days": 1}]}, "frequency_caps[0].channel"),
        ({"frequency_caps": [{"channel": "sms", "max": 0, "per_days": 1}]}, "frequency_caps[0].max"),
        ({"frequency_caps": [{"channel": "sms", "max": "3", "per_days": 1}]}, "frequency_caps[0].max"),
        ({"frequency_caps": [{"channel": "sms", "max": 1, "per_days": 0}]}, "frequency_caps[0].per_days"),
        ({"frequency_caps": [{"channel": "sms", "max": 1, "per_days": 366}]}, "frequency_caps[0].per_days"),
        ({"frequency_caps": [{"channel": "sms", "max": 1, "per_days": 1}] * 21}, "frequency_caps"),
        ({"frequency_caps": None}, "frequency_caps"),
        ({"require_consent": {"email": "yes"}}, "require_consent.email"),
        ({"require_consent": {"fax": True}}, "require_consent.fax"),
        ({"when_blocked": "wait"}, "when_blocked"),
        ({"default_timezone": "Mars/Olympus_Mons"}, "default_timezone"),
        ({"default_timezone": "america/chicago"}, "default_timezone"),
        ({"default_timezone": None}, "default_timezone"),
        ({"dedupe": {"match_on": [], "window_days": 30, "action": "merge"}}, "dedupe.match_on"),
        ({"dedupe": {"match_on": ["name"], "window_days": 30, "action": "merge"}}, "dedupe.match_on[0]"),
        ({"dedupe": {"match_on": ["email", "email"], "window_days": 30, "action": "merge"}}, "dedupe.match_on"),
        ({"dedupe": {"match_on": ["email"], "window_days": 0, "action": "merge"}}, "dedupe.window_days"),
        ({"dedupe": {"match_on": ["email"], "window_days": 30, "action": "ignore"}}, "dedupe.action"),
        ({"dedupe": {"match_on": ["email"], "window_days": 30}}, "dedupe.action"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_each_rule_of_the_policy_is_a_422_naming_its_field(api, body, field):
    assert_problem(api.put(URL, json=body), 422, field)
    assert api.get(URL).get_json() == DEFAULTS  # nothing changed


def test_a_body_that_is_not_an_object_is_a_422(api):
    assert_problem(api.put(URL, json=[FULL]), 422, "body")


@pytest.mark.parametrize(("role", "may_change"), [("admin", True), ("marketer", True), ("agent", False), ("viewer", False)])
def test_admins_and_marketers_may_change_the_policy_and_everyone_may_read_it(org, api_as, role, may_change):
    client = api_as(make_user(org, role=role))
    assert client.get(URL).status_code == 200
    response = client.put(URL, json={"when_blocked": "skip"})
    if may_change:
        assert response.status_code == 200
    else:
        assert_problem(response, 403)
    assert client.get(URL).get_json()["when_blocked"] == ("skip" if may_change else "defer")


def test_each_organization_has_its_own_policy(api, api_as):
    api.put(URL, json=FULL)
    other = api_as(make_user(make_org("Other Brokers"), role="admin"))
    assert other.get(URL).get_json() == DEFAULTS


def test_a_stored_field_no_longer_valid_reads_as_its_default(api, org):
    org.contact_policy = {**FULL, "default_timezone": "Atlantis/Capital"}
    db.session.commit()
    assert api.get(URL).get_json() == {**FULL, "default_timezone": "America/New_York"}
