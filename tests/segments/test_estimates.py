"""Estimate, then exact: ``POST /segments/preview?estimate=true`` answers from a random sample of the
leads, the exact count follows from a background query (``GET /segments/preview/results/{id}``), a
newer edit cancels the older query, and the builder shows both."""

import random
import threading
import time

import psycopg
import pytest
from sqlalchemy import text

from tests.factories import make_lead, make_org, make_user
from tests.segments.helpers import SEED_RULES
from webapp.extensions import db
from webapp.jobs import redis_connection
from webapp.segments import estimates

AUTO = [{"field": "insurance_type", "operator": "equals", "value": "auto"}]
MANY = 3000  # leads of the organization; a third of them auto


@pytest.fixture
def many_leads(org):
    db.session.execute(
        text(
            "INSERT INTO leads (organization_id, first_name, status, priority, insurance_type, email_opt_out, created_at, updated_at) "
            "SELECT :org, 'Lead ' || g, 'new', 'medium', CASE WHEN g % 3 = 0 THEN 'auto' ELSE 'home' END, false, now(), now() "
            "FROM generate_series(1, :count) AS g"
        ),
        {"org": org.id, "count": MANY},
    )
    db.session.commit()
    return MANY // 3


@pytest.fixture
def sampled(app, monkeypatch):
    """Estimates for every organization, from a sample of about 100 leads."""
    monkeypatch.setitem(app.config, "SEGMENT_ESTIMATE_ABOVE", 0)
    monkeypatch.setattr(estimates, "TARGET_SAMPLE", 100)


def preview(api, rules, **query):
    return api.post("/api/v1/segments/preview?" + "&".join(f"{k}={v}" for k, v in query.items()), json={"rules": rules})


# --- the interval -------------------------------------------------------------------------------------


def test_a_sample_of_every_lead_is_the_exact_count():
    assert estimates.interval(42, 1.0) == {"value": 42, "low": 42, "high": 42, "sample_fraction": 1.0}


def test_no_match_in_the_sample_still_leaves_room_above():
    found = estimates.interval(0, 0.01)
    assert found["value"] == 0 and found["low"] == 0 and 300 <= found["high"] <= 500


def test_the_interval_holds_the_true_count_95_times_in_100():
    """Each lead is in the sample with probability f, as the hash makes it: the interval must cover
    the true count about 95 % of the time, for rare and common segments alike."""
    rng = random.Random(11)
    for true_count, fraction in ((30, 0.05), (2_000, 0.01), (150_000, 0.002)):
        covered = 0
        for _ in range(400):
            matches = sum(rng.random() < fraction for _ in range(true_count)) if true_count < 5000 else _binomial(rng, true_count, fraction)
            found = estimates.interval(matches, fraction)
            covered += found["low"] <= true_count <= found["high"]
        assert covered >= 0.92 * 400, (true_count, fraction, covered)


def _binomial(rng, n, p):
    mean, spread = n * p, (n * p * (1 - p)) ** 0.5
    return max(0, round(rng.gauss(mean, spread)))


# --- the API --------------------------------------------------------------------------------------------


def test_without_estimate_the_preview_answers_as_before(api, many_leads):
    body = preview(api, AUTO, limit=2).get_json()
    assert body == {"count": many_leads, "lead_ids": body["lead_ids"]} and len(body["lead_ids"]) == 2


def test_a_small_organization_gets_the_exact_count_with_its_estimate(api, org, many_leads):
    body = preview(api, AUTO, estimate="true", limit=3).get_json()
    assert body["count"] == many_leads and body["result_id"] is None
    assert body["estimate"] == {"value": many_leads, "low": many_leads, "high": many_leads, "sample_fraction": 1.0}
    assert len(body["lead_ids"]) == 3


def test_an_estimate_then_the_exact_count(api, org, many_leads, sampled, run_jobs):
    started = time.perf_counter()
    response = preview(api, AUTO, estimate="true")
    body = response.get_json()
    assert response.status_code == 200 and body["count"] is None
    estimate = body["estimate"]
    assert 0 < estimate["sample_fraction"] < 0.2
    assert estimate["low"] <= many_leads <= estimate["high"] and estimate["low"] <= estimate["value"] <= estimate["high"]
    assert time.perf_counter() - started < 5
    result = api.get(f"/api/v1/segments/preview/results/{body['result_id']}").get_json()
    assert result == {"id": body["result_id"], "status": "queued", "count": None}

    run_jobs()

    result = api.get(f"/api/v1/segments/preview/results/{body['result_id']}").get_json()
    assert result == {"id": body["result_id"], "status": "completed", "count": many_leads}


def test_the_sample_is_a_uniform_random_one(org, many_leads, sampled):
    """Leads whose ids lie together (arrival order) are spread over the sample: the sample of the first
    and of the last thousand leads are about the same size."""
    cutoff = estimates.sample_cutoff(org.id)
    ids = db.session.scalars(text("SELECT id FROM leads WHERE organization_id = :org ORDER BY id"), {"org": org.id}).all()
    sample = text("SELECT id FROM leads WHERE organization_id = :org AND (hashint4(id) & 65535) < :cut")
    in_sample = set(db.session.scalars(sample, {"org": org.id, "cut": cutoff}))
    first, last = sum(i in in_sample for i in ids[:1000]), sum(i in in_sample for i in ids[-1000:])
    expected = 1000 * cutoff / estimates.BUCKETS
    assert abs(first - expected) < 4 * expected**0.5 + 3 and abs(last - expected) < 4 * expected**0.5 + 3


def test_invalid_rules_are_a_422_and_start_nothing(api, org, many_leads, sampled):
    response = preview(api, [{"field": "insurance_type", "operator": "equals", "value": "boat"}], estimate="true")
    assert response.status_code == 422
    assert list(redis_connection().scan_iter("leadflow:exact-count:*")) == []


def test_a_bad_estimate_flag_is_a_422(api, many_leads):
    assert preview(api, AUTO, estimate="maybe").status_code == 422


def test_a_newer_edit_cancels_the_older_exact_count(api, org, many_leads, sampled, run_jobs):
    older = preview(api, AUTO, estimate="true").get_json()["result_id"]
    newer = preview(api, SEED_RULES, estimate="true").get_json()["result_id"]

    run_jobs()

    assert api.get(f"/api/v1/segments/preview/results/{older}").get_json() == {"id": older, "status": "cancelled", "count": None}
    assert api.get(f"/api/v1/segments/preview/results/{newer}").get_json()["status"] == "completed"


def test_cancelling_stops_a_running_query(app, org, test_env):
    """The job records its backend; cancelling sends that backend pg_cancel_backend."""
    url = test_env["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    outcome = {}
    with psycopg.connect(url, autocommit=True) as busy:
        pid = busy.execute("SELECT pg_backend_pid()").fetchone()[0]
        estimates._write("abc123", {"organization_id": org.id, "status": "running", "count": None, "backend_pid": pid})

        def slow():
            started = time.perf_counter()
            try:
                busy.execute("SELECT pg_sleep(20)")
            except psycopg.errors.QueryCanceled:
                outcome["cancelled_after"] = time.perf_counter() - started

        thread = threading.Thread(target=slow)
        thread.start()
        time.sleep(0.3)
        estimates.cancel_exact_count("abc123")
        thread.join(10)
    assert outcome["cancelled_after"] < 5
    assert estimates.exact_count_result(org.id, "abc123")["status"] == "cancelled"


def test_another_organizations_count_is_a_404(api, app, client, org, many_leads, sampled):
    result_id = preview(api, AUTO, estimate="true").get_json()["result_id"]
    other = make_org("Beta Brokers")
    from tests.conftest import ApiClient, token_for

    theirs = ApiClient(client, token_for(app, make_user(other, email="b@beta.example.com", role="admin")))
    assert theirs.get(f"/api/v1/segments/preview/results/{result_id}").status_code == 404
    assert api.get("/api/v1/segments/preview/results/0123456789abcdef01234567").status_code == 404
    assert api.get("/api/v1/segments/preview/results/not-an-id").status_code == 404


# --- the builder ------------------------------------------------------------------------------------------


def test_the_builder_shows_the_estimate_then_the_exact_count(client, org, admin, many_leads, sampled, run_jobs):
    make_lead(org, insurance_type="auto")
    client.post("/login", data={"email": admin.email, "password": "secret-pass-1"})
    form = {"match_all": "true", "rules-0-field": "insurance_type", "rules-0-operator": "equals", "rules-0-value": "auto"}
    page = client.post("/segments/preview", data=form, headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/segments/new"})
    html = page.get_data(as_text=True)
    assert "≈" in html and "95 % sure" in html and "counting exactly" in html
    poll = html.split('hx-get="', 1)[1].split('"', 1)[0]

    run_jobs()

    exact = client.get(poll, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert f'data-count="{many_leads + 1}"' in exact and "exactly" in exact
