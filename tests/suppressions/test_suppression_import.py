"""CSV imports of the suppression list through a real RQ worker (SPEC §17): valid rows kept, bad rows
reported with their row number, a single column of phone numbers read as a DNC file; a job run again
changes nothing; progress is visible; a lost job is queued again."""

import io
from datetime import timedelta

from sqlalchemy import select, update

from tests.api.helpers import assert_problem
from webapp.extensions import db
from webapp.jobs import rq_queue
from webapp.models import AuditLog, Suppression, SuppressionImport, utcnow
from webapp.suppressions import importer

URL = "/api/v1/suppressions/import"


def upload(api, content: bytes, filename: str = "suppressions.csv"):
    return api.post(URL, data={"file": (io.BytesIO(content), filename)}, content_type="multipart/form-data")


def import_and_run(api, run_jobs, content: bytes) -> dict:
    response = upload(api, content)
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["status"] == "queued"
    run_jobs()
    finished = api.get(response.headers["Location"])
    assert finished.status_code == 200
    return finished.get_json()


def stored() -> dict[str, tuple[str, str]]:
    db.session.rollback()
    return {row.value: (row.kind, row.reason) for row in db.session.scalars(select(Suppression))}


def test_a_csv_with_bad_rows_keeps_the_good_ones_and_reports_the_others(api, run_jobs, org):
    content = (
        b"Kind,Value,Reason\n"
        b"phone,(512) 555-0100,dnc\n"
        b"email,Jane@Example.com,unsubscribed\n"
        b"domain,spam-trap.example.net,manual\n"
        b"phone,555-1234,dnc\n"
        b"fax,5125550101,dnc\n"
        b"email,jane@example.com,annoying\n"
        b"\n"
        b"phone,+1 512 555 0100,litigator\n"
    )
    job = import_and_run(api, run_jobs, content)

    assert (job["status"], job["total"], job["processed"], job["imported"], job["error_count"]) == ("completed", 7, 7, 3, 3)
    assert [error["row"] for error in job["errors"]] == [5, 6, 7]
    assert "555-1234" in job["errors"][0]["message"] and "phone number" in job["errors"][0]["message"]
    assert job["errors"][1]["message"].startswith("kind:") and job["errors"][2]["message"].startswith("reason:")
    assert stored() == {
        "+15125550100": ("phone", "dnc"),  # the repeat on row 9 is skipped: the first reason stays
        "jane@example.com": ("email", "unsubscribed"),
        "spam-trap.example.net": ("domain", "manual"),
    }
    sources = set(db.session.scalars(select(Suppression.source)))
    assert sources == {f"import #{job['id']}"}
    assert db.session.scalar(select(AuditLog.action).where(AuditLog.object_type == "SuppressionImport")) == "import"


def test_a_single_column_of_phone_numbers_is_a_dnc_file_with_or_without_a_header(api, run_jobs, org):
    with_header = import_and_run(api, run_jobs, b"Phone\n512-555-0100\n(512) 555-0101\nnope\n")
    assert (with_header["imported"], with_header["error_count"], with_header["errors"][0]["row"]) == (2, 1, 4)
    without = import_and_run(api, run_jobs, b"\xef\xbb\xbf5125550102\r\n5125550100\r\n+442079460958\r\n")
    assert (without["status"], without["total"], without["imported"], without["error_count"]) == ("completed", 3, 2, 0)
    assert stored() == {number: ("phone", "dnc") for number in ("+15125550100", "+15125550101", "+15125550102", "+442079460958")}


def test_the_stored_problems_are_capped_and_counted(api, run_jobs, org, monkeypatch):
    monkeypatch.setattr(importer, "MAX_ERRORS_KEPT", 3)
    monkeypatch.setattr(importer, "CHUNK", 4)  # several chunks: progress and the count carry across them
    job = import_and_run(api, run_jobs, b"\n".join([b"5125550100"] + [b"bad"] * 10 + [b"5125550101"]))
    assert (job["processed"], job["imported"], job["error_count"], len(job["errors"])) == (12, 2, 10, 3)


def test_a_file_that_is_not_a_suppression_csv_fails_with_a_reason(api, run_jobs, org):
    job = import_and_run(api, run_jobs, b"name,email\nJane,jane@example.com\n")
    assert job["status"] == "failed" and job["imported"] == 0
    assert job["errors"][-1]["row"] is None and "kind, value and reason" in job["errors"][-1]["message"]
    empty = import_and_run(api, run_jobs, b"")
    assert empty["status"] == "failed" and "empty" in empty["errors"][-1]["message"]


def test_the_file_field_is_required(api):
    assert_problem(api.post(URL, data={}, content_type="multipart/form-data"), 422, "file")


def test_a_job_run_again_changes_nothing_and_a_finished_import_keeps_no_file(api, run_jobs, org):
    job = import_and_run(api, run_jobs, b"5125550100\n5125550101\n")
    importer.run_suppression_import(job["id"])  # a second delivery of the same job
    again = api.get(f"{URL}/{job['id']}").get_json()
    assert (again["status"], again["imported"]) == ("completed", 2)
    db.session.expire_all()
    assert db.session.get(SuppressionImport, job["id"]).content == b""


def test_a_stalled_import_is_queued_again_and_goes_on_after_its_last_chunk(api, run_jobs, org, app, monkeypatch):
    monkeypatch.setattr(importer, "CHUNK", 2)
    response = upload(api, b"5125550100\n5125550101\n5125550102\n")
    import_id = response.get_json()["id"]
    # As if a worker had finished the first chunk (two rows), then died: its job is lost, the import "running".
    long_ago = utcnow() - timedelta(hours=1)
    db.session.execute(
        update(SuppressionImport)
        .where(SuppressionImport.id == import_id)
        .values(status="running", attempts=1, total=3, processed=2, imported=2, updated_at=long_ago)
    )
    db.session.commit()
    rq_queue("default").empty()  # the lost job
    assert importer.requeue_stalled_suppression_imports() == 1
    run_jobs()
    job = api.get(f"{URL}/{import_id}").get_json()
    assert (job["status"], job["processed"], job["imported"]) == ("completed", 3, 3)
    assert set(stored()) == {"+15125550102"}  # the rows of the finished chunk are not read again


def test_an_import_that_stopped_too_often_is_failed_keeping_its_rows(api, org):
    import_id = upload(api, b"5125550100\n").get_json()["id"]
    db.session.execute(
        update(SuppressionImport)
        .where(SuppressionImport.id == import_id)
        .values(status="running", attempts=importer.MAX_ATTEMPTS, updated_at=utcnow() - timedelta(hours=1))
    )
    db.session.commit()
    assert importer.requeue_stalled_suppression_imports() == 0
    job = api.get(f"{URL}/{import_id}").get_json()
    assert job["status"] == "failed" and "stopped 3 times" in job["errors"][-1]["message"]
