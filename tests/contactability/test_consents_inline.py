"""Consents that arrive with leads (SPEC §17): the ``consents`` list of lead create and bulk create,
the CSV import's consent columns, and the email revocation of an unsubscribe."""

from sqlalchemy import func, select

from tests.api.helpers import assert_problem, row_counts
from tests.factories import make_lead
from webapp.email_templates.unsubscribe import unsubscribe_token
from webapp.extensions import db
from webapp.leads import consents as consent_service
from webapp.leads import importer
from webapp.models import ImportJob, Lead, LeadConsent, LeadEvent

CERTIFICATE = "https://cert.trustedform.com/0123456789abcdef0123456789abcdef01234567"


def consents_of(lead_id: int) -> list[tuple]:
    rows = db.session.execute(
        select(LeadConsent.channel, LeadConsent.status, LeadConsent.method).where(LeadConsent.lead_id == lead_id).order_by(LeadConsent.id)
    )
    return [tuple(row) for row in rows]


def event_types(lead_id: int) -> list[str]:
    return list(db.session.scalars(select(LeadEvent.event_type).where(LeadEvent.lead_id == lead_id).order_by(LeadEvent.id)))


def test_a_new_lead_brings_its_consents(api, org, admin):
    body = {
        "first_name": "Maria",
        "email": "maria@example.com",
        "consents": [
            {"channel": "email", "status": "granted", "method": "web_form", "certificate_url": CERTIFICATE},
            {"channel": "sms", "status": "granted", "method": "web_form", "lead_id_token": "LEADID-1"},
        ],
    }
    response = api.post("/api/v1/leads", json=body)
    assert response.status_code == 201, response.get_json()
    lead_id = response.get_json()["id"]
    assert consents_of(lead_id) == [("email", "granted", "web_form"), ("sms", "granted", "web_form")]
    assert db.session.scalar(select(LeadConsent.created_by_id).where(LeadConsent.lead_id == lead_id).limit(1)) == admin.id
    assert event_types(lead_id) == ["lead_created", "consent_granted", "consent_granted"]
    assert "consents" not in response.get_json()
    history = api.get(f"/api/v1/leads/{lead_id}/consents").get_json()
    assert history["current"]["email"]["certificate_url"] == CERTIFICATE


def test_a_wrong_consent_of_a_new_lead_names_its_path_and_creates_nothing(api, org):
    before = row_counts()
    body = {"first_name": "Maria", "email": "nope", "consents": [{"channel": "email", "status": "granted"}, {"channel": "fax"}]}
    errors = assert_problem(api.post("/api/v1/leads", json=body), 422)["errors"]
    fields = {error["field"] for error in errors}
    assert {"email", "consents[1].channel", "consents[1].status"} <= fields
    assert row_counts() == before


def test_an_update_may_not_bring_consents(api, org):
    lead = make_lead(org)
    response = api.patch(f"/api/v1/leads/{lead.id}", json={"consents": [{"channel": "email", "status": "granted"}]})
    assert_problem(response, 422, "consents")
    assert consents_of(lead.id) == []


def test_a_bulk_create_records_every_consent_in_one_insert(api, org, monkeypatch):
    inserts = []
    real_insert = consent_service.insert_with_ids
    monkeypatch.setattr(
        consent_service, "insert_with_ids", lambda table, rows: inserts.append((table.name, len(rows))) or real_insert(table, rows)
    )
    leads = [
        {"first_name": f"Lead {n}", "consents": [{"channel": "phone", "status": "granted", "method": "web_form"}] * (1 + n % 2)}
        for n in range(40)
    ]
    response = api.post("/api/v1/leads/bulk", json={"leads": leads})
    assert response.status_code == 201, response.get_json()
    ids = response.get_json()["ids"]
    assert inserts == [("lead_consents", 60), ("lead_events", 60)]
    assert db.session.scalar(select(func.count()).select_from(LeadConsent).where(LeadConsent.lead_id.in_(ids))) == 60
    assert consents_of(ids[1]) == [("phone", "granted", "web_form")] * 2


def test_a_bulk_create_names_the_lead_and_the_consent_of_each_error(api, org):
    before = row_counts()
    leads = [
        {"first_name": "Fine", "consents": [{"channel": "sms", "status": "granted"}]},
        {"first_name": "Wrong", "consents": [{"channel": "sms", "status": "granted", "ip": "999.1.1.1"}]},
    ]
    body = assert_problem(api.post("/api/v1/leads/bulk", json={"leads": leads}), 422, "leads[1].consents[0].ip")
    assert [error["field"] for error in body["errors"]] == ["leads[1].consents[0].ip"]
    assert row_counts() == before


def test_the_import_reads_consent_columns_with_their_evidence(app_ctx, org, admin):
    content = (
        "First Name,Email,SMS consent,Consent email,TrustedForm URL,Jornaya LeadiD\n"
        f"Maria,maria@example.com,yes,no,{CERTIFICATE},ABC-123\n"
        "John,john@example.com,,TRUE,,\n"
        "Wei,wei@example.com,,,,\n"
    )
    assert importer.guess_mapping(content.splitlines()[0].split(",")) == [
        "first_name",
        "email",
        "consent_sms",
        "consent_email",
        "certificate_url",
        "leadid_token",
    ]
    job = run_import(org, admin, content)
    assert (job.status, job.created_count, job.errors) == ("completed", 3, [])
    maria, john, wei = (db.session.scalar(select(Lead.id).where(Lead.first_name == name)) for name in ("Maria", "John", "Wei"))
    assert consents_of(maria) == [("sms", "granted", "import")]
    assert consents_of(john) == [("email", "granted", "import")]
    assert consents_of(wei) == []
    evidence = db.session.execute(select(LeadConsent.certificate_url, LeadConsent.lead_id_token).where(LeadConsent.lead_id == maria)).one()
    assert tuple(evidence) == (CERTIFICATE, "ABC-123")


def test_a_wrong_consent_cell_is_reported_on_its_column(app_ctx, org, admin):
    content = "first_name,consent_phone,certificate_url\nMaria,perhaps,\nJohn,yes,not a link\n"
    job = run_import(org, admin, content)
    assert job.status == "failed"
    assert [(error["row"], error["column"]) for error in job.errors] == [(2, "consent_phone"), (3, "certificate_url")]
    assert job.errors[0]["message"] == "enter yes or no"
    assert db.session.scalar(select(func.count()).select_from(LeadConsent)) == 0


def run_import(org, admin, content: str) -> ImportJob:
    header, _ = importer.read_csv(content, limit=0)
    job = ImportJob(organization_id=org.id, user_id=admin.id, filename="leads.csv", content=content, status="pending")
    job.options = {"mapping": importer.guess_mapping(header), "mode": "all_or_nothing"}
    db.session.add(job)
    db.session.commit()
    importer.run_import(job.id)
    db.session.expire_all()
    return db.session.get(ImportJob, job.id)


def test_unsubscribing_revokes_the_email_consent(app, client, org):
    lead = make_lead(org, email="maria@example.com")
    consent_service.record_lead_consent(lead, {"channel": "email", "status": "granted", "method": "web_form"})
    db.session.commit()
    with app.test_request_context():
        token = unsubscribe_token(lead)
    assert client.post(f"/u/{token}").status_code == 200
    db.session.expire_all()
    assert consents_of(lead.id) == [("email", "granted", "web_form"), ("email", "revoked", "web_form")]
    revocation = db.session.scalar(select(LeadConsent).where(LeadConsent.status == "revoked"))
    assert revocation.source_url.endswith(f"/u/{token}") and revocation.created_by_id is None
    assert consent_service.current_consents(org.id, [lead.id]) == {(lead.id, "email"): "revoked"}
    assert "consent_revoked" in event_types(lead.id)
    assert client.post(f"/u/{token}").status_code == 200  # again: no second revocation
    assert len(consents_of(lead.id)) == 2
