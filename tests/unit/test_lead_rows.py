"""The rows of a file (``LeadRows``) get what each row alone gets (``validate_lead_row``), the ids
they name looked up once for the file."""

from tests.factories import make_campaign, make_org, make_user
from webapp.leads import services
from webapp.leads.services import LeadRows, validate_lead_row
from webapp.validation import ValidationFailed


def outcome(check):
    """The clean values, or the errors."""
    try:
        return check()
    except ValidationFailed as exc:
        return exc.errors


def test_each_row_of_a_file_gets_what_it_gets_alone_and_each_id_is_looked_up_once(org, monkeypatch):
    campaign, user, others_campaign = make_campaign(org), make_user(org), make_campaign(make_org("Other"))
    file = [
        {"first_name": "Ann", "campaign_id": str(campaign.id), "assigned_to_id": str(user.id), "tags": "vip"},
        {"first_name": "Bob", "campaign_id": str(others_campaign.id)},
        {"first_name": "Cy", "campaign_id": str(campaign.id), "assigned_to_id": "999999", "tags": "vip"},
        {"first_name": "Di", "campaign_id": str(others_campaign.id), "assigned_to_id": str(user.id)},
        {"last_name": "Lee", "value_estimate": "about 2k", "campaign_id": "abc"},
        {"email": "", "status": " "},
    ]
    alone = [outcome(lambda data=data: validate_lead_row(data, org.id)) for data in file]
    lookups = []
    monkeypatch.setattr(services, "ids_in_org", _counting(services.ids_in_org, lookups))
    lead_rows = LeadRows(org.id)

    assert [outcome(lambda data=data: lead_rows.check(data)) for data in file] == alone
    assert len(lookups) == 4  # two campaigns, the user, the unknown user


def _counting(function, calls: list):
    def counted(*args):
        calls.append(args)
        return function(*args)

    return counted
