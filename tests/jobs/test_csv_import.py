"""CSV import through the pages and a real RQ worker: all rows or nothing, with a per-row report (SPEC §10, §11).

The choices made before the job (column mapping, valid-rows mode) and the report after it are in
``test_csv_import_choices.py``."""

import io
import time
from datetime import timedelta

import pytest
from rq.job import Job
from sqlalchemy import func, select, update

from tests.conftest import login_browser
from webapp.extensions import db
from webapp.jobs import enqueue, redis_connection, rq_queue
from webapp.leads import importer
from webapp.models import ImportJob, Lead, LeadEvent, LeadTag, utcnow

GOOD_CSV = """first_name,last_name,email,phone,status,priority,source,insurance_type,state,city,value_estimate,tags,email_opt_out
Maria,Garcia,maria@example.com,512-555-0100,new,high,website,auto,tx,Austin,2500.50,"vip, Spanish",no
John,Smith,john@example.com,,contacted,low,referral,home,CA,San Diego,,,yes
  Wei  ,Chen,wei@example.com,716-555-0101,qualified,urgent,facebook,life,NY,Buffalo,12000,bundle,
"""


@pytest.fixture
def browser(client, admin):
    assert login_browser(client, admin.email).status_code == 302
    return client


def upload(browser, content: bytes, filename: str = "leads.csv"):
    return browser.post("/leads/import", data={"file": (io.BytesIO(content), filename)}, content_type="multipart/form-data")


def start(browser, import_id: int, mode: str = "all_or_nothing", mapping: dict | None = None):
    """Submit the mapping page with the guessed mapping, or with ``mapping`` (column position -> field)."""
    header, _ = importer.read_csv(db.session.get(ImportJob, import_id).content, limit=0)
    form = {f"column-{position}": field or "" for position, field in enumerate(importer.guess_mapping(header))}
    form.update({f"column-{position}": field or "" for position, field in (mapping or {}).items()})
    return browser.post(f"/leads/import/{import_id}/mapping", data={**form, "mode": mode})


def uploaded_id(response) -> int:
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(response.headers["Location"].rstrip("/").split("/")[-2])


def import_and_run(browser, run_jobs, content: str, mode: str = "all_or_nothing", mapping: dict | None = None) -> ImportJob:
    import_id = uploaded_id(upload(browser, content.encode()))
    response = start(browser, import_id, mode, mapping)
    assert response.status_code == 302, response.get_data(as_text=True)
    run_jobs()
    return finished_import(import_id)


def finished_import(import_id: int, timeout: float = 30) -> ImportJob:
    """The import once it has finished (a worker process of another test module may have taken it)."""
    deadline = time.monotonic() + timeout
    while True:
        db.session.rollback()
        db.session.expire_all()
        job = db.session.get(ImportJob, import_id)
        if job.status in ("completed", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


# --- a good file --------------------------------------------------------------------------------


def test_good_file_creates_every_lead_with_its_event(browser, run_jobs, org, admin):
    job = import_and_run(browser, run_jobs, GOOD_CSV)

    assert (job.status, job.total_rows, job.processed_rows, job.created_count) == ("completed", 3, 3, 3)
    assert job.percent == 100 and job.errors == []
    leads = {lead.first_name: lead for lead in db.session.scalars(select(Lead))}
    assert set(leads) == {"Maria", "John", "Wei"}
    maria, john, wei = leads["Maria"], leads["John"], leads["Wei"]
    assert maria.organization_id == org.id
    assert (maria.state, maria.priority, float(maria.value_estimate), maria.tags) == ("TX", "high", 2500.5, ["spanish", "vip"])
    assert maria.email_opt_out is False and john.email_opt_out is True and wei.email_opt_out is False
    assert john.phone is None and john.value_estimate is None and john.tags == []
    events = db.session.scalars(select(LeadEvent)).all()
    assert sorted(e.lead_id for e in events) == sorted(lead.id for lead in leads.values())
    assert {(e.event_type, e.actor_id) for e in events} == {("lead_created", admin.id)}


def test_status_page_shows_the_finished_import(browser, run_jobs):
    job = import_and_run(browser, run_jobs, GOOD_CSV)

    page = browser.get(f"/leads/import/{job.id}").get_data(as_text=True)

    assert "3 leads imported" in page
    assert 'aria-valuenow="100"' in page and "width: 100%" in page
    assert "every 700ms" not in page  # finished: the page stops polling


def test_status_fragment_polls_while_the_import_is_pending(browser):
    import_id = uploaded_id(upload(browser, GOOD_CSV.encode()))
    location = start(browser, import_id).headers["Location"]

    fragment = browser.get(location, headers={"HX-Request": "true", "HX-Target": "import-progress"})

    body = fragment.get_data(as_text=True)
    assert "<html" not in body and "every 700ms" in body and 'aria-valuenow="0"' in body
    assert "HX-Request" in fragment.headers["Vary"]


def test_the_imported_file_content_is_not_kept_after_success(browser, run_jobs):
    job = import_and_run(browser, run_jobs, GOOD_CSV)
    assert job.content == ""


def test_a_job_run_twice_imports_once(app, browser, run_jobs):
    job = import_and_run(browser, run_jobs, GOOD_CSV)

    with app.app_context():
        importer.run_import(job.id)

    assert count(Lead) == 3


def unqueued_import(org, user, content: str) -> int:
    """An import row that no worker will pick up: for tests that run the job in this process."""
    job = ImportJob(organization_id=org.id, user_id=user.id, filename="direct.csv", content=content)
    db.session.add(job)
    db.session.commit()
    return job.id


def test_a_job_running_elsewhere_is_not_run_a_second_time(app, org, admin):
    import_id = unqueued_import(org, admin, GOOD_CSV)
    with db.engine.connect() as other_worker:  # holds the import's lock, as a running job would
        assert other_worker.scalar(select(func.pg_try_advisory_xact_lock(importer.ADVISORY_LOCK_SPACE, import_id)))

        with app.app_context():
            importer.run_import(import_id)

        other_worker.rollback()
    assert count(Lead) == 0
    assert db.session.get(ImportJob, import_id).status == "pending"


def test_import_is_audited(browser, run_jobs, admin):
    from webapp.models import AuditLog

    job = import_and_run(browser, run_jobs, GOOD_CSV)

    entries = db.session.scalars(select(AuditLog).where(AuditLog.object_type == "ImportJob").order_by(AuditLog.id)).all()
    created, started = entries  # the upload, then the start with the columns matched
    assert (created.action, created.object_id, created.user_id, created.changes) == ("create", job.id, admin.id, {"filename": "leads.csv"})
    assert (started.action, started.object_id, started.user_id) == ("update", job.id, admin.id)


# --- bad rows: nothing is imported, every problem is reported -------------------------------------

BAD_ROWS_CSV = """first_name,email,status,state,value_estimate,email_opt_out
Maria,maria@example.com,new,TX,100,
Bob,not-an-email,new,TX,100,
Carla,carla@example.com,purple,ZZ,100,
Dan,dan@example.com,new,TX,-5,maybe
Eve,eve@example.com,new,TX,100,,extra-cell
"""


def test_bad_rows_fail_the_import_naming_row_and_field_and_create_nothing(browser, run_jobs):
    job = import_and_run(browser, run_jobs, BAD_ROWS_CSV)

    assert job.status == "failed" and job.outcome == "failed"
    assert job.created_count == 0 and job.rejected_count == 4
    problems = {(e["row"], e["field"]) for e in job.errors}
    assert problems == {(3, "email"), (4, "status"), (4, "state"), (5, "value_estimate"), (5, "email_opt_out"), (6, "row")}
    assert all(e["message"] for e in job.errors)
    assert (count(Lead), count(LeadEvent), count(LeadTag)) == (0, 0, 0)


def test_status_page_lists_the_rows_to_fix(browser, run_jobs):
    job = import_and_run(browser, run_jobs, BAD_ROWS_CSV)

    page = browser.get(f"/leads/import/{job.id}").get_data(as_text=True)

    assert "Nothing was imported: 4 of 5 rows have problems (6 problems found)." in page
    assert 'id="import-errors"' in page and "<td>3</td><td><code>email</code></td>" in page


def test_a_column_that_is_no_lead_field_is_ignored(browser, run_jobs):
    job = import_and_run(browser, run_jobs, "first_name,favourite_colour\nMaria,blue\n")

    assert job.status == "completed" and job.created_count == 1
    assert db.session.scalar(select(Lead.first_name)) == "Maria"


def test_a_file_whose_columns_are_all_ignored_fails(app, org, admin):
    import_id = unqueued_import(org, admin, "favourite_colour\nblue\n")

    importer.run_import(import_id)

    job = finished_import(import_id, timeout=0)
    assert job.status == "failed" and job.errors[0]["field"] == "header" and count(Lead) == 0


@pytest.mark.parametrize("content", ["first_name,email\n", "first_name,email\n,\n\n"])
def test_file_without_data_rows_fails(browser, run_jobs, content):
    job = import_and_run(browser, run_jobs, content)
    assert job.status == "failed" and job.errors and count(Lead) == 0


def test_an_empty_file_is_an_inline_error(browser):
    response = upload(browser, b"")
    assert response.status_code == 422 and "The file is empty." in response.get_data(as_text=True)
    assert count(ImportJob) == 0


def test_a_crash_while_creating_leaves_a_failed_import_and_no_lead(app, org, admin, monkeypatch):
    def broken_create_leads(organization_id, rows, actor_id=None):
        db.session.add(Lead(organization_id=organization_id, first_name="half"))
        db.session.flush()
        raise RuntimeError("database went away")

    monkeypatch.setattr(importer, "create_leads", broken_create_leads)
    import_id = unqueued_import(org, admin, GOOD_CSV)

    with app.app_context(), pytest.raises(RuntimeError):
        importer.run_import(import_id)

    job = finished_import(import_id)
    assert job.status == "failed" and job.errors[0]["field"] == "file"
    assert count(Lead) == 0


# --- files refused at upload --------------------------------------------------------------------


def test_non_utf8_file_is_an_inline_error_and_queues_nothing(app, browser):
    response = upload(browser, "first_name\nJosé\n".encode("latin-1"))

    assert response.status_code == 422
    assert "The file is not UTF-8 text." in response.get_data(as_text=True)
    assert count(ImportJob) == 0
    assert rq_queue("high", app).count == 0


def test_file_with_nul_characters_is_an_inline_error(browser):
    response = upload(browser, b"first_name\nMa\x00ria\n")

    assert response.status_code == 422
    assert "NUL characters" in response.get_data(as_text=True)
    assert count(ImportJob) == 0


def test_missing_file_is_an_inline_error(browser):
    response = browser.post("/leads/import", data={}, content_type="multipart/form-data")
    assert response.status_code == 422
    assert count(ImportJob) == 0


def test_utf8_with_byte_order_mark_is_accepted(browser, run_jobs):
    job = import_and_run(browser, run_jobs, "\ufefffirst_name,city\nJosé,São Paulo\n")
    assert job.status == "completed"
    assert db.session.scalar(select(Lead.city)) == "São Paulo"


def test_viewer_may_not_import(client, org):
    from tests.factories import make_user

    viewer = make_user(org, role="viewer")
    login_browser(client, viewer.email)
    assert upload(client, GOOD_CSV.encode()).status_code == 403
    assert count(ImportJob) == 0


# --- jobs are queued only when their transaction commits -----------------------------------------------


def test_a_job_enqueued_in_a_rolled_back_transaction_is_never_queued(app, app_ctx):
    enqueue(importer.run_import, 12345, queue="high", job_id="rolled-back-import")
    db.session.rollback()
    db.session.commit()  # a later commit of the same session does not resurrect it

    assert not Job.exists("rolled-back-import", connection=redis_connection(app))
    assert rq_queue("high", app).count == 0


def test_a_job_enqueued_after_database_work_that_is_rolled_back_is_never_queued(app, app_ctx, org):
    db.session.add(ImportJob(organization_id=org.id, content="first_name\nAnn\n"))
    db.session.flush()
    enqueue(importer.run_import, 1, queue="high", job_id="rolled-back-import")
    db.session.rollback()

    assert not Job.exists("rolled-back-import", connection=redis_connection(app))
    assert count(ImportJob) == 0


def test_a_job_is_queued_once_its_transaction_commits(app, app_ctx):
    enqueue(importer.run_import, 12345, queue="high", job_id="committed-import")
    assert not Job.exists("committed-import", connection=redis_connection(app))

    db.session.commit()
    db.session.commit()

    job = Job.fetch("committed-import", connection=redis_connection(app))
    assert (job.func_name, job.args, job.origin) == ("webapp.leads.importer.run_import", (12345,), "high")


def test_a_failed_upload_request_queues_nothing(app, browser, monkeypatch):
    import webapp.leads.views as views

    def failing_audit(*args, **kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(views, "audit", failing_audit)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    try:
        response = upload(browser, GOOD_CSV.encode())
    finally:
        app.config["PROPAGATE_EXCEPTIONS"] = None

    assert response.status_code == 500
    assert count(ImportJob) == 0
    assert rq_queue("high", app).count == 0


def test_jobs_wait_for_the_outermost_commit_and_survive_a_rolled_back_savepoint(app, app_ctx):
    enqueue(importer.run_import, 12345, queue="high", job_id="outer-import")
    savepoint = db.session.begin_nested()
    enqueue(importer.run_import, 777, queue="high", job_id="savepoint-import")
    savepoint.rollback()
    assert not Job.exists("outer-import", connection=redis_connection(app))

    db.session.commit()

    assert Job.exists("outer-import", connection=redis_connection(app))
    assert not Job.exists("savepoint-import", connection=redis_connection(app))


def test_enqueue_refuses_an_unknown_queue(app_ctx):
    with pytest.raises(ValueError):
        enqueue(importer.run_import, 1, queue="urgent")


# --- files that cannot be imported, and imports that keep stopping ------------------------------


def test_a_cell_over_the_csv_field_limit_fails_the_import_with_a_readable_message(app, org, admin):
    import_id = unqueued_import(org, admin, "first_name,email\n" + "x" * 140_000 + ",a@example.com\n")
    importer.run_import(import_id)
    job = finished_import(import_id, timeout=0)
    assert job.status == "failed" and count(Lead) == 0
    [error] = job.errors
    assert error["field"] == "file" and "a cell holds more than 131,072 characters" in error["message"]


def test_an_import_that_keeps_stopping_is_failed_not_swept_for_ever(app, org, admin, monkeypatch):
    import_id = unqueued_import(org, admin, GOOD_CSV)
    monkeypatch.setitem(app.config, "STALLED_AFTER_SECONDS", 0)
    for attempt in range(importer.MAX_ATTEMPTS):  # each time a worker starts it and dies
        db.session.execute(
            update(ImportJob)
            .where(ImportJob.id == import_id)
            .values(status="running", attempts=attempt + 1, updated_at=utcnow() - timedelta(minutes=10))
        )
        db.session.commit()
        assert importer.requeue_stalled_imports() == (1 if attempt + 1 < importer.MAX_ATTEMPTS else 0)
    job = finished_import(import_id, timeout=0)
    assert job.status == "failed" and "stopped 3 times" in job.errors[0]["message"]
    assert importer.requeue_stalled_imports() == 0
