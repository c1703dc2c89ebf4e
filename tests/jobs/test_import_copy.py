"""On PostgreSQL leads, tags and events are written by COPY; they are the rows the INSERT path (the
one SQLite uses) writes for the same values, whatever the cells hold."""

import csv
import io
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from tests.factories import make_org, make_user
from tests.jobs.test_csv_import import finished_import
from webapp.extensions import db
from webapp.leads import bulk, importer
from webapp.leads.services import create_leads
from webapp.models import ImportJob, Lead, LeadEvent, LeadTag, utcnow

# What COPY's text format must escape or keep apart: its delimiter, line ends, its escape character,
# its NULL marker, quotes, non-ASCII text; empty text beside a missing value.
AWKWARD = ["tab\there", "two\nlines", "carriage\rreturn", "back\\slash", "\\N", 'say "hi"', "it's", "Zoë 東京 😀", ""]

LEADS = [
    {
        "first_name": "Ann\\",
        "last_name": 'O"Neil\t',
        "email": "ann@example.com",
        "phone": "512\n555\\0100",
        "status": "new",
        "priority": "high",
        "city": "Zoë 東京 😀",
        "value_estimate": Decimal("1234.56"),
        "email_opt_out": True,
        "tags": ["vip", "tab\there", "back\\slash", "\\n", 'say "hi"'],
    },
    {"first_name": "\\N", "last_name": "", "email": None, "phone": None, "city": None, "value_estimate": None, "tags": []},
    {"last_name": "Lee", "status": "qualified", "source": "website", "value_estimate": Decimal("0.5"), "tags": ["x"]},
]


def written(organization_id: int, actor_id: int) -> dict:
    """The organization's leads, tags and events as written: each lead by its position, not its id;
    "actor" for the events recorded as done by ``actor_id``."""
    leads = db.session.execute(select(Lead.__table__).where(Lead.organization_id == organization_id).order_by(Lead.id)).mappings().all()
    position = {lead["id"]: number for number, lead in enumerate(leads)}
    tags = db.session.execute(select(LeadTag.lead_id, LeadTag.tag).where(LeadTag.lead_id.in_(position))).all()
    events = db.session.execute(
        select(LeadEvent.lead_id, LeadEvent.event_type, LeadEvent.actor_id, text("lead_events.data::text"), LeadEvent.created_at)
        .where(LeadEvent.organization_id == organization_id)
        .order_by(LeadEvent.id)
    ).all()
    for lead in leads:
        assert lead["created_at"] == lead["updated_at"] and lead["created_at"].utcoffset().total_seconds() == 0
    assert {created_at for *_, created_at in events} == {lead["created_at"] for lead in leads}
    ignored = ("id", "organization_id", "created_at", "updated_at")
    return {
        "leads": [{name: value for name, value in lead.items() if name not in ignored} for lead in leads],
        "tags": sorted((position[lead_id], tag) for lead_id, tag in tags),
        "events": [
            (position[lead_id], event_type, "actor" if actor == actor_id else actor, data) for lead_id, event_type, actor, data, _ in events
        ],
    }


def test_create_leads_writes_by_copy_what_the_insert_path_writes(org, admin, monkeypatch):
    copied = create_leads(org.id, [dict(lead) for lead in LEADS], admin.id)
    other = make_org("Other")
    with monkeypatch.context() as patch:
        patch.setattr(bulk, "uses_copy", lambda: False)
        inserted = create_leads(other.id, [dict(lead) for lead in LEADS], admin.id)
    db.session.commit()

    assert len(copied) == len(inserted) == len(LEADS)
    by_copy = written(org.id, admin.id)
    assert by_copy == written(other.id, admin.id)
    assert by_copy["leads"][0]["phone"] == "512\n555\\0100" and by_copy["leads"][1]["last_name"] == ""
    assert (0, "lead_created", "actor", '{"source": null}') in by_copy["events"]


@pytest.mark.parametrize(
    "data",
    [{"note": value, value or "empty": [value, None, 1.5, True]} for value in AWKWARD]  # JSON's escapes inside COPY's
    + [{}, None, "a bare string", [1, "two"], {"nested": {"deep": ["\\\\", "\t"]}}],
)
def test_event_data_is_the_same_json_document_by_copy_and_by_insert(org, monkeypatch, data):
    lead_id = create_leads(org.id, [{"first_name": "Ann"}])[0]
    row = {"organization_id": org.id, "lead_id": lead_id, "event_type": "note", "data": data, "actor_id": None, "created_at": utcnow()}
    copied = bulk.insert_with_ids(LeadEvent.__table__, [row])
    monkeypatch.setattr(bulk, "uses_copy", lambda: False)
    inserted = bulk.insert_with_ids(LeadEvent.__table__, [row])

    assert stored_event(copied[0]) == stored_event(inserted[0])


def test_a_time_without_offset_is_utc_by_copy_as_by_insert(org, monkeypatch):
    lead_id = create_leads(org.id, [{"first_name": "Ann"}])[0]
    naive = datetime(2025, 3, 9, 7, 30)
    row = {"organization_id": org.id, "lead_id": lead_id, "event_type": "note", "data": {}, "actor_id": None, "created_at": naive}
    db.session.execute(text("SET LOCAL TIME ZONE 'America/Chicago'"))  # where a naive time read as local time would move
    copied = bulk.insert_with_ids(LeadEvent.__table__, [row])
    monkeypatch.setattr(bulk, "uses_copy", lambda: False)
    inserted = bulk.insert_with_ids(LeadEvent.__table__, [row])

    assert stored_event(copied[0]).created_at == stored_event(inserted[0]).created_at == naive.replace(tzinfo=timezone.utc)


def stored_event(event_id: int):
    """The event's document as PostgreSQL holds it (SQL NULL and JSON null told apart), and its time."""
    columns = (text("lead_events.data::text"), text("jsonb_typeof(lead_events.data)"), LeadEvent.created_at)
    return db.session.execute(select(*columns).where(LeadEvent.id == event_id)).one()


def awkward_csv(bad_rows: int) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["First name", "Last name", "Email", "Phone", "Status", "City", "Value", "Tags", "Opt out"])
    for number, value in enumerate(AWKWARD):
        # Names and cities are one line (control characters become spaces); phones and tags keep them.
        writer.writerow([value or "Blank", value, f"lead{number}@example.com", value, "new", value, f"{number}.25", f"vip, {value}", ""])
    writer.writerow(["Opal", "", "", "", "", "", "", "", "yes"])
    for _ in range(bad_rows):
        writer.writerow(["Bad\\", "Row\t", "not an address", "", "", "", "", "", ""])
    return out.getvalue()


@pytest.mark.parametrize(("mode", "bad_rows"), [("all_or_nothing", 0), ("valid_rows", 1)])
def test_an_import_writes_by_copy_what_the_insert_path_writes(app_ctx, monkeypatch, mode, bad_rows):
    outcomes = {}
    for path in ("copy", "insert"):
        org = make_org(f"By {path}")
        user = make_user(org)
        content = awkward_csv(bad_rows)
        job = ImportJob(organization_id=org.id, user_id=user.id, filename="awkward.csv", content=content, options={"mode": mode})
        db.session.add(job)
        db.session.commit()
        with monkeypatch.context() as patch:
            if path == "insert":
                patch.setattr(bulk, "uses_copy", lambda: False)
            importer.run_import(job.id)
        job = finished_import(job.id, timeout=0)
        assert job.status == "completed" and (job.created_count, job.rejected_count) == (len(AWKWARD) + 1, bad_rows), job.errors
        outcomes[path] = written(org.id, user.id), job.content

    assert outcomes["copy"] == outcomes["insert"]
    (leads, tags, _), rejected = outcomes["copy"][0].values(), outcomes["copy"][1]
    assert [lead["phone"] for lead in leads[:-1]] == [value.strip() or None for value in AWKWARD]
    assert (leads[-1]["first_name"], leads[-1]["email_opt_out"]) == ("Opal", True)
    assert (1, "two\nlines") in tags and (3, "back\\slash") in tags and (4, "\\n") in tags
    assert ("Bad\\" in rejected) == bool(bad_rows)


def test_rows_written_by_copy_are_part_of_the_callers_transaction(org):
    create_leads(org.id, [{"first_name": "Ann", "tags": ["vip"]}])
    assert db.session.scalar(select(func.count()).select_from(Lead)) == 1

    db.session.rollback()

    assert db.session.scalar(select(func.count()).select_from(Lead)) == 0
    assert db.session.scalar(select(func.count()).select_from(LeadTag)) == 0


def test_rows_are_written_with_cached_plans_and_the_transactions_plan_cache_mode_is_kept(org):
    # The segment re-check of many leads forces custom plans: foreign-key checks planned again for
    # every written row would double the time of a COPY.
    db.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    mode = text("SELECT current_setting('plan_cache_mode')")

    with bulk._cached_plans():
        assert db.session.scalar(mode) == "auto"
    create_leads(org.id, [{"first_name": "Ann", "tags": ["vip"]}])

    assert db.session.scalar(mode) == "force_custom_plan"
