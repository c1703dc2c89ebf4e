"""Read replicas (DATABASE_READ_URL): read-only pages read from a real streaming standby while it is
within the lag limit, from the primary otherwise; writes always go to the primary."""

import logging

import pytest
from sqlalchemy import create_engine, event, func, select, text

from tests.conftest import login_browser
from tests.factories import make_campaign, make_lead
from tests.replica.conftest import free_port, wait_until
from webapp import create_app
from webapp.extensions import db
from webapp.models import Lead
from webapp.replica import Replica, reading_from_replica, replica_of

PREVIEW_FORM = {"match_all": "true", "rules-0-field": "insurance_type", "rules-0-operator": "equals", "rules-0-value": "auto"}
RULES = {"match_all_rules": True, "rules": [{"field": "insurance_type", "operator": "equals", "value": "auto"}]}


def listed_lead_ids(api) -> list[int]:
    return [lead["id"] for lead in api.get("/api/v1/leads").get_json()["items"]]


def in_recovery(session) -> bool:
    """True when a plain SELECT of this session ran on the standby."""
    return session.scalar(select(func.pg_is_in_recovery()))


def dead_engine():
    return create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/leadflow", connect_args={"connect_timeout": 2})


def test_list_pages_and_previews_read_from_the_replica_while_it_is_within_the_lag_limit(app, api, client, org, admin, paused_replay):
    lead = make_lead(org, insurance_type="auto")
    paused_replay.wait_for_standby(applied=False)  # received, not replayed: the standby lags

    assert lead.id not in listed_lead_ids(api)
    assert api.post("/api/v1/segments/preview", json=RULES).get_json()["count"] == 0
    login_browser(client, admin.email)
    assert lead.email not in client.get("/leads/").get_data(as_text=True)


@pytest.mark.parametrize(
    "method, url, body",
    [
        ("GET", "/", None),
        ("GET", "/leads/", None),
        ("GET", "/segments/", None),
        ("GET", "/outbox/", None),
        ("POST", "/segments/preview", PREVIEW_FORM),
        ("GET", "/api/v1/leads", None),
        ("GET", "/api/v1/segments", None),
        ("POST", "/api/v1/segments/preview", RULES),
        ("POST", "/api/v1/segments/{segment}/evaluate", None),
        ("GET", "/api/v1/campaigns/{campaign}/stats", None),
    ],
)
def test_each_read_only_page_sends_its_queries_to_the_replica(app, api, client, org, admin, method, url, body):
    segment = api.post("/api/v1/segments", json={"name": "Auto", **RULES}).get_json()["id"]
    url = url.format(segment=segment, campaign=make_campaign(org).id)
    login_browser(client, admin.email)
    statements = []

    def record(conn, cursor, statement, *rest):
        statements.append(statement)

    event.listen(replica_of(app).engine, "before_cursor_execute", record)
    try:
        if url.startswith("/api/"):
            response = api.request(method, url, json=body)
        else:
            response = client.open(url, method=method, data=body)
    finally:
        event.remove(replica_of(app).engine, "before_cursor_execute", record)

    assert response.status_code == 200
    assert [statement for statement in statements if "pg_last_wal_replay_lsn" not in statement] != []


def test_reads_fall_back_to_the_primary_when_the_replica_lags_past_the_limit(app, api, client, org, admin, paused_replay, monkeypatch):
    lead = make_lead(org, insurance_type="auto")
    paused_replay.wait_for_standby(applied=False)
    monkeypatch.setitem(app.config, "DATABASE_READ_MAX_LAG_SECONDS", 0.2)
    wait_until(lambda: paused_replay.standby_lag() > 0.2)

    assert lead.id in listed_lead_ids(api)
    assert api.post("/api/v1/segments/preview", json=RULES).get_json()["count"] == 1
    login_browser(client, admin.email)
    assert lead.email in client.get("/leads/").get_data(as_text=True)


def test_a_caught_up_replica_is_not_lagging_however_long_the_primary_has_been_idle(app_ctx, caught_up, monkeypatch):
    monkeypatch.setitem(app_ctx.config, "DATABASE_READ_MAX_LAG_SECONDS", 0.2)
    last_write = caught_up.primary.scalar("SELECT now()")
    wait_until(lambda: (caught_up.primary.scalar("SELECT now()") - last_write).total_seconds() > 0.3)

    assert caught_up.standby_lag() == 0
    with app_ctx.test_request_context(), reading_from_replica() as on_replica:
        assert on_replica and in_recovery(db.session)


def test_only_plain_selects_go_to_the_replica(app_ctx, org, caught_up):
    with app_ctx.test_request_context(), reading_from_replica():
        assert in_recovery(db.session) is True
        assert db.session.scalar(text("SELECT pg_is_in_recovery()")) is False  # text SQL may have effects
        assert db.session.scalars(select(Lead).with_for_update()).all() == []  # a standby refuses FOR UPDATE


def test_writes_while_reading_from_the_replica_go_to_the_primary(app_ctx, org, paused_replay):
    with app_ctx.test_request_context(), reading_from_replica():
        lead = Lead(organization_id=org.id, first_name="Wes", last_name="Write", email="wes@example.com")
        db.session.add(lead)
        db.session.flush()
        lead_id = lead.id  # read before the commit expires it: reloading it would read from the standby
        db.session.commit()
        assert db.session.scalar(select(Lead.id).where(Lead.id == lead_id)) is None  # read back from the paused standby

    assert db.session.get(Lead, lead_id).email == "wes@example.com"  # outside: the primary has it
    assert paused_replay.primary.scalar("SELECT count(*) FROM leads WHERE id = %s", lead_id) == 1


def test_the_block_leaves_the_requests_own_session_in_place(app_ctx, caught_up):
    outer = db.session()
    with app_ctx.test_request_context(), reading_from_replica():
        assert db.session() is not outer
    assert db.session() is outer and not in_recovery(db.session)


def test_a_replica_that_does_not_answer_leaves_reads_on_the_primary_and_is_logged_once(app, api, org, caught_up, monkeypatch, caplog):
    lead = make_lead(org)
    monkeypatch.setitem(app.extensions, "leadflow_replica", Replica(dead_engine()))
    monkeypatch.setattr(logging.getLogger("webapp.replica"), "disabled", False)  # an earlier logging setup may have disabled it

    with caplog.at_level(logging.WARNING, logger="webapp.replica"):
        assert lead.id in listed_lead_ids(api)
        assert lead.id in listed_lead_ids(api)

    assert [record.getMessage() for record in caplog.records if "unreachable" in record.getMessage()] != []
    assert len([record for record in caplog.records if record.name == "webapp.replica"]) == 1


def test_a_replica_failing_during_a_page_leaves_that_page_to_the_primary(app, api, org, paused_replay, monkeypatch):
    lead = make_lead(org)
    replica = Replica(replica_of(app).engine)
    monkeypatch.setitem(app.extensions, "leadflow_replica", replica)
    monkeypatch.setitem(app.config, "DATABASE_READ_LAG_CHECK_SECONDS", 60)
    assert lead.id not in listed_lead_ids(api)  # measured: the replica may be read for a minute

    replica.engine = dead_engine()

    assert lead.id in listed_lead_ids(api)


def test_the_lag_is_measured_at_most_once_per_check_interval(app, api, caught_up, monkeypatch):
    replica = Replica(replica_of(app).engine)
    measured = []
    monkeypatch.setattr(replica, "_measure", lambda max_lag: measured.append(max_lag))
    monkeypatch.setitem(app.extensions, "leadflow_replica", replica)
    monkeypatch.setitem(app.config, "DATABASE_READ_LAG_CHECK_SECONDS", 60)

    listed_lead_ids(api)
    listed_lead_ids(api)

    assert len(measured) == 1


@pytest.mark.parametrize("database_url", ["sqlite://", None])
def test_without_a_replica_reads_stay_on_the_primary(test_env, standby_pair, database_url):
    overrides = {"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url or standby_pair.primary.url()}
    if database_url:
        overrides["DATABASE_READ_URL"] = standby_pair.standby.url()  # SQLite never has a replica
    app = create_app(overrides)

    assert replica_of(app) is None
    with app.test_request_context(), reading_from_replica() as on_replica:
        assert not on_replica
    with app.app_context():
        db.engine.dispose()
