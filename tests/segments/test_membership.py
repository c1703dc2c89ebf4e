"""Segment membership on PostgreSQL: set-based refresh, incremental re-check, periodic and job refreshes."""

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, insert, select, text

from tests.factories import make_lead, make_org, make_user
from tests.segments.helpers import SEED_SEGMENT, active_member_ids, segment_events
from webapp.extensions import db
from webapp.features import wiring
from webapp.leads.services import create_leads, update_lead
from webapp.models import Lead, LeadEvent, LeadSegment, ScheduledTask, Segment, SegmentRefresh, SegmentSnapshot, utcnow
from webapp.scheduled_tasks.definitions import create_task
from webapp.scheduled_tasks.execution import process_due
from webapp.segments import membership, services


def many_leads(org, count: int, **fields) -> list[int]:
    """Leads inserted directly (no lead-change hooks): what a refresh has to catch up with."""
    values = {
        "status": "new",
        "priority": "medium",
        "insurance_type": "auto",
        "value_estimate": Decimal(2000),
        "email_opt_out": False,
        "created_at": utcnow(),
        "updated_at": utcnow(),
        **fields,
    }
    rows = db.session.execute(
        insert(Lead).returning(Lead.id, sort_by_parameter_order=True), [{"organization_id": org.id, **values} for _ in range(count)]
    )
    ids = [row.id for row in rows]
    db.session.commit()
    return ids


def new_segment(org, **fields) -> Segment:
    segment, _ = services.create_segment(org.id, {**SEED_SEGMENT, **fields})
    db.session.commit()
    return segment


class StatementCounter:
    """Counts the SQL statements run while active (to show that work is set-based)."""

    def __init__(self):
        self.statements: list[str] = []

    def __enter__(self):
        event.listen(db.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc):
        event.remove(db.engine, "before_cursor_execute", self._count)

    def _count(self, conn, cursor, statement, parameters, context, executemany):
        self.statements.append(statement)


# --- full refresh ---------------------------------------------------------------------------------------


def test_a_refresh_enters_matching_leads_with_events_counts_and_a_chart_point(org):
    hits = [make_lead(org, value_estimate=Decimal(1001 + n)) for n in range(3)]
    make_lead(org, value_estimate=Decimal("1000"))
    segment = new_segment(org)

    assert active_member_ids(segment.id) == {lead.id for lead in hits}
    assert segment.member_count == 3 and segment.last_evaluated_at is not None
    assert sorted(segment_events(segment.id)) == sorted(("segment_entered", lead.id) for lead in hits)
    assert db.session.scalars(select(SegmentSnapshot.member_count).where(SegmentSnapshot.segment_id == segment.id)).all() == [3]


def test_a_refresh_is_a_handful_of_statements_whatever_the_number_of_leads(org):
    many_leads(org, 300)
    segment = new_segment(org, is_active=False, slug="paused")  # inactive: not filled on save
    db.session.execute(text("UPDATE leads SET status = 'lost' WHERE id % 3 = 0"))
    db.session.commit()

    with StatementCounter() as counter:
        result = membership.refresh_membership(org.id, segment.id)

    assert result == {"entered": 200, "exited": 0, "member_count": 200}
    assert len(counter.statements) <= 13, counter.statements  # 12, and the query of the journeys' wait hook


def test_a_refresh_closes_stays_of_leads_that_stopped_matching_and_keeps_their_history(org):
    lead = make_lead(org)
    segment = new_segment(org)
    db.session.execute(text("UPDATE leads SET status = 'contacted' WHERE id = :id"), {"id": lead.id})
    assert membership.refresh_membership(org.id, segment.id)["exited"] == 1
    db.session.execute(text("UPDATE leads SET status = 'new' WHERE id = :id"), {"id": lead.id})
    assert membership.refresh_membership(org.id, segment.id)["entered"] == 1
    db.session.commit()

    stays = db.session.scalars(select(LeadSegment).where(LeadSegment.lead_id == lead.id).order_by(LeadSegment.id)).all()
    assert [(s.is_active, s.exited_at is None) for s in stays] == [(False, False), (True, True)]
    assert [e[0] for e in segment_events(segment.id)] == ["segment_entered", "segment_exited", "segment_entered"]


def test_a_refresh_only_sees_the_segments_organization(org):
    mine = make_lead(org)
    theirs = make_lead(make_org("Beta Brokers"))
    segment = new_segment(org)
    assert active_member_ids(segment.id) == {mine.id}
    assert theirs.id not in {lead_id for _, lead_id in segment_events()}


def test_event_hooks_see_the_events_of_a_refresh(org, rewire):
    seen = []
    rewire(
        event_hooks=(
            lambda organization_id, events: seen.extend(
                (organization_id, e.event_type, e.lead_id, e.data["segment_id"], e.id) for e in events
            ),
        )
    )
    lead = make_lead(org)
    segment = new_segment(org)
    event_id = db.session.scalar(select(LeadEvent.id).where(LeadEvent.event_type == "segment_entered"))
    assert seen == [(org.id, "segment_entered", lead.id, segment.id, event_id)]


# --- incremental re-check -----------------------------------------------------------------------------


def test_a_lead_change_moves_the_lead_through_every_dynamic_segment_and_returns_the_events(org, app, rewire):
    lead = make_lead(org, insurance_type="home")
    seed = new_segment(org)
    home = new_segment(org, name="Home", slug="home", rules=[{"field": "insurance_type", "operator": "equals", "value": "home"}])
    static = new_segment(org, name="Picked", slug="picked", is_dynamic=False)
    seen = []
    rewire(event_hooks=(*wiring(app).event_hooks, lambda organization_id, events: seen.extend(events)))
    events = update_lead(lead, {"insurance_type": "auto"})
    db.session.commit()

    assert lead.id in active_member_ids(seed.id) and lead.id not in active_member_ids(home.id)
    assert active_member_ids(static.id) == set()
    segment_kinds = sorted((e.event_type, e.data["segment_id"]) for e in seen if e.event_type.startswith("segment"))
    assert segment_kinds == [("segment_entered", seed.id), ("segment_exited", home.id)]
    assert [e.event_type for e in events] == ["lead_updated"]  # the caller's own events
    assert {(s.id, s.member_count) for s in db.session.scalars(select(Segment)).all()} == {(seed.id, 1), (home.id, 0), (static.id, 0)}


def test_the_recheck_of_many_leads_is_set_based(org):
    for n in range(20):
        new_segment(
            org,
            name=f"Segment {n}",
            slug=f"segment-{n}",
            rules=[
                {"field": "value_estimate", "operator": "greater_than", "value": str(100 * n)},
                {"field": "tags", "operator": "not_contains", "value": f"t{n}"},
            ],
        )
    rows = [{"value_estimate": Decimal(50 * n), "tags": [f"t{n % 20}"]} for n in range(400)]

    with StatementCounter() as counter:
        ids = create_leads(org.id, rows)
    db.session.commit()

    rechecks = [s for s in counter.statements if "lead_segments" in s or "segments" in s]
    assert len(rechecks) <= 12, rechecks  # not one per lead, not one per segment
    for n in (0, 7, 19):
        segment_id = db.session.scalar(select(Segment.id).where(Segment.slug == f"segment-{n}"))
        expected = {
            lead_id for lead_id, row in zip(ids, rows, strict=True) if row["value_estimate"] > 100 * n and f"t{n}" not in row["tags"]
        }
        assert active_member_ids(segment_id) == expected


def test_a_change_that_moves_nothing_writes_nothing(org):
    lead = make_lead(org)
    new_segment(org)
    with StatementCounter() as counter:
        update_lead(lead, {"first_name": "Janet"})
    assert not [s for s in counter.statements if s.startswith(("INSERT INTO lead_segments", "UPDATE lead_segments"))]


def test_rechecks_ignore_other_organizations_segments(org):
    beta = make_org("Beta Brokers")
    theirs = new_segment(beta)
    lead = make_lead(org, status="contacted")
    update_lead(lead, {"status": "new"})
    db.session.commit()
    assert active_member_ids(theirs.id) == set()


# --- static segments ------------------------------------------------------------------------------------


def test_static_add_and_remove_record_events_by_the_user(org):
    user = make_user(org)
    leads = [make_lead(org) for _ in range(3)]
    segment = new_segment(org, is_dynamic=False, slug="picked")
    assert services.add_leads(segment, [lead.id for lead in leads], user.id) == {"added": 3, "already_members": 0}
    assert services.remove_leads(segment, [leads[0].id], user.id) == {"removed": 1}
    db.session.commit()
    assert active_member_ids(segment.id) == {leads[1].id, leads[2].id}
    events = db.session.scalars(select(LeadEvent).where(LeadEvent.event_type.like("segment_%"))).all()
    assert {e.actor_id for e in events} == {user.id}
    stay = db.session.scalar(select(LeadSegment).where(LeadSegment.lead_id == leads[1].id))
    assert (stay.added_by, stay.added_by_id) == ("user", user.id)


# --- periodic refresh (relative dates) and scheduled tasks -------------------------------------------------

RELATIVE = [
    {"field": "status", "operator": "equals", "value": "new"},
    {"field": "created_at", "operator": "less_than", "value": "24 hours ago"},
]


def test_saving_a_relative_date_segment_schedules_the_periodic_refresh_once(org):
    new_segment(org, name="Stale", slug="stale", rules=RELATIVE)
    new_segment(org, name="Stale 2", slug="stale-2", rules=RELATIVE)
    tasks = db.session.scalars(select(ScheduledTask)).all()
    assert [(t.task_type, t.payload, t.recurrence) for t in tasks] == [
        ("system_maintenance", {"operation": "refresh_dynamic_segments"}, "every 15 minutes")
    ]


def test_relative_date_segments_change_as_time_passes(org):
    lead = make_lead(org, status="new")
    segment = new_segment(org, name="Stale", slug="stale", rules=RELATIVE)
    assert active_member_ids(segment.id) == set()
    # A day passes: the lead is now older than 24 hours, though nothing about it changed.
    db.session.execute(text("UPDATE leads SET created_at = created_at - interval '25 hours'"))
    db.session.execute(text("UPDATE scheduled_tasks SET scheduled_for = now() - interval '1 minute'"))
    db.session.commit()

    assert process_due()["completed"] == 1

    assert active_member_ids(segment.id) == {lead.id}
    task = db.session.scalar(select(ScheduledTask))
    assert task.status == "pending" and task.scheduled_for > utcnow()  # the next occurrence
    assert segment_events(segment.id) == [("segment_entered", lead.id)]


def test_batch_operations_reach_segment_members_and_refresh_segments(org):
    members = [make_lead(org) for _ in range(2)]
    outsider = make_lead(org, insurance_type="home")
    segment = new_segment(org)
    db.session.execute(text("UPDATE leads SET insurance_type = 'auto' WHERE id = :id"), {"id": outsider.id})
    db.session.commit()
    create_task(org.id, "batch_operation", {"operation": "refresh_segment", "segment_id": segment.id})
    db.session.commit()
    process_due()
    assert active_member_ids(segment.id) == {lead.id for lead in members} | {outsider.id}

    create_task(org.id, "batch_operation", {"operation": "add_tag", "tag": "called", "segment_id": segment.id})
    db.session.commit()
    process_due()
    tagged = db.session.execute(text("SELECT count(*) FROM lead_tags WHERE tag = 'called'")).scalar()
    assert tagged == 3


def test_task_payloads_name_missing_and_static_segments(org):
    from webapp.scheduled_tasks.definitions import validate_payload

    static = new_segment(org, is_dynamic=False, slug="picked")
    foreign = new_segment(make_org("Beta Brokers"))
    assert validate_payload("batch_operation", {"operation": "refresh_segment", "segment_id": static.id}, org.id) == [
        {"field": "payload.segment_id", "message": "is a static segment: only dynamic segments are refreshed"}
    ]
    assert validate_payload("batch_operation", {"operation": "refresh_segment", "segment_id": foreign.id}, org.id) == [
        {"field": "payload.segment_id", "message": "no such segment"}
    ]
    assert validate_payload("system_maintenance", {"operation": "refresh_dynamic_segments"}, org.id) == []


# --- refresh jobs (big segments) ---------------------------------------------------------------------------


@pytest.fixture
def small_chunks(app, monkeypatch):
    monkeypatch.setitem(app.config, "SEGMENT_INLINE_REFRESH_LEADS", 10)
    monkeypatch.setattr(services, "REFRESH_CHUNK_LEADS", 7)


def test_big_refreshes_run_as_jobs_with_progress(org, small_chunks, run_jobs):
    many_leads(org, 40, value_estimate=Decimal(1500))
    segment, refresh = services.create_segment(org.id, SEED_SEGMENT)
    db.session.commit()
    assert refresh.status == "pending" and segment.member_count == 0

    run_jobs()

    db.session.expire_all()
    refresh = db.session.get(SegmentRefresh, refresh.id)
    assert (refresh.status, refresh.entered, refresh.member_count, refresh.percent) == ("completed", 40, 40, 100)
    assert refresh.total == refresh.processed >= 6
    assert db.session.get(Segment, segment.id).member_count == 40
    assert len(segment_events(segment.id)) == 40


def test_a_refresh_job_run_twice_has_one_effect(org, small_chunks):
    many_leads(org, 20)
    segment, refresh = services.create_segment(org.id, SEED_SEGMENT)
    db.session.commit()
    services.run_refresh_job(refresh.id)
    services.run_refresh_job(refresh.id)
    refresh = db.session.get(SegmentRefresh, refresh.id)
    db.session.execute(text("UPDATE segment_refreshes SET status = 'running'"))
    db.session.commit()
    services.run_refresh_job(refresh.id)  # as if requeued after a lost worker
    assert len(segment_events(segment.id)) == 20
    assert active_member_ids(segment.id) == set(db.session.scalars(select(Lead.id)))


def test_stalled_refresh_jobs_are_requeued(org, small_chunks, run_jobs):
    many_leads(org, 20)
    segment, refresh = services.create_segment(org.id, SEED_SEGMENT)
    db.session.commit()
    from webapp.jobs import rq_queue

    for queue in ("default",):
        rq_queue(queue).empty()  # the job was lost with Redis
    db.session.execute(text("UPDATE segment_refreshes SET updated_at = now() - interval '1 hour'"))
    db.session.commit()
    assert services.requeue_stalled_refreshes() == 1
    run_jobs()
    db.session.expire_all()
    assert db.session.get(SegmentRefresh, refresh.id).status == "completed"
    assert db.session.get(Segment, segment.id).member_count == 20


def test_a_refresh_that_keeps_stopping_is_failed_not_swept_for_ever(org, small_chunks):
    many_leads(org, 20)
    segment, refresh = services.create_segment(org.id, SEED_SEGMENT)
    db.session.execute(
        text("UPDATE segment_refreshes SET status = 'running', attempts = :n, updated_at = now() - interval '1 hour'"),
        {"n": services.MAX_REFRESH_ATTEMPTS},
    )
    db.session.commit()
    assert services.requeue_stalled_refreshes() == 0
    failed = db.session.get(SegmentRefresh, refresh.id, populate_existing=True)
    assert failed.status == "failed" and "stopped 3 times" in failed.error
    assert services.requeue_stalled_refreshes() == 0


def test_the_size_chart_keeps_one_point_per_hour_for_small_changes(org):
    lead = make_lead(org, status="contacted")
    segment = new_segment(org)  # the refresh on save: a point with 0 members
    for status in ("new", "lost", "new"):
        update_lead(lead, {"status": status})
    db.session.commit()

    def points():
        return db.session.scalars(
            select(SegmentSnapshot.member_count).where(SegmentSnapshot.segment_id == segment.id).order_by(SegmentSnapshot.id)
        ).all()

    assert points() == [0]  # changes within the hour add no point ...
    assert [count for _, count in services.size_history(db.session.get(Segment, segment.id))] == [0, 1]  # ... the chart ends now
    db.session.execute(text("UPDATE segment_snapshots SET taken_at = taken_at - interval '2 hours'"))
    db.session.execute(text("UPDATE segments SET last_snapshot_at = last_snapshot_at - interval '2 hours'"))
    update_lead(lead, {"status": "lost"})
    db.session.commit()
    assert points() == [0, 0]
    history = services.size_history(db.session.get(Segment, segment.id))
    assert [count for _, count in history] == [0, 0]
    assert history[0][0] < utcnow() - timedelta(hours=1)
