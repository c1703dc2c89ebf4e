"""Who is in a segment: set-based refresh, incremental re-check, static add/remove (SPEC §5).

The engine of memberships. Every statement takes ``organization_id`` explicitly and works on sets:

- ``refresh_membership`` makes a dynamic segment's open stays equal to its rules' answer with an
  UPDATE (exits) and an INSERT ... SELECT (entries) carrying the compiled rule condition, then
  records the lead events with INSERT ... SELECT from the rows it just closed or opened (they are
  found by the refresh's timestamp, through the (segment_id, entered_at / exited_at) indexes).
- ``recheck_leads`` is the lead-change hook: the changed leads against every active dynamic segment
  of the organization in one query (a boolean column per segment), then the few differences.
- ``add_members`` / ``remove_members`` change static segments by hand.

Writers of one segment's stays take the segment's row lock first (``FOR UPDATE``), so a refresh,
a re-check and a hand edit of the same segment never interleave. Nothing here commits.
"""

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Select, bindparam, case, func, insert, literal, literal_column, select, text, true, tuple_, update
from sqlalchemy.orm.util import identity_key

from ..extensions import db
from ..features import wiring
from ..leads.bulk import insert_rows_skipping_duplicates, insert_with_ids
from ..leads.changes import EventRow, after_lead_changes
from ..models import Lead, LeadEvent, LeadSegment, Segment, SegmentRule, SegmentSnapshot, utcnow
from ..models.base import JSONType, UTCDateTime
from ..validation import Conflict
from .rules import Rule, compile_rules, has_relative_dates, validate_rules

log = logging.getLogger(__name__)

leads = Lead.__table__
stays = LeadSegment.__table__
lead_events = LeadEvent.__table__
segments = Segment.__table__
segment_rules_table = SegmentRule.__table__
snapshots = SegmentSnapshot.__table__

SNAPSHOT_EVERY = timedelta(hours=1)  # at most one point of the size chart per segment in this time, unless forced
CHUNK = 1000  # lead ids per IN list
MANY_LEADS = 100  # a re-check of more leads than this plans its queries for their own lists


class InvalidStoredRules(Conflict):
    """A segment's stored rules no longer validate (the catalog changed): it cannot be evaluated (409)."""


@dataclass(frozen=True)
class MembershipChange:
    entered: int = 0
    exited: int = 0


class Definition(NamedTuple):
    """What evaluating a segment needs, read without ORM objects (the re-check reads 50 of them per change)."""

    id: int
    organization_id: int
    name: str
    match_all_rules: bool
    raw_rules: list[dict]


def segment_rules(segment: Segment | Definition) -> list[Rule]:
    """The validated rules of a stored segment; InvalidStoredRules when they no longer validate."""
    return _compiled(segment)[0]


def segment_condition(segment: Segment | Definition, now: datetime, *, per_lead: bool = False):
    """The SQL condition over ``leads`` selecting the segment's matching leads at ``now`` (``per_lead``:
    planned for the few leads of a re-check, see ``rules.compile_rules``)."""
    rules, condition = _compiled(segment, per_lead)
    if condition is None:  # relative dates: resolved against this ``now``
        condition = compile_rules(rules, segment.match_all_rules, segment.organization_id, now, per_lead=per_lead)
    return condition


# Validated rules and, when they do not depend on the time, their compiled condition, by what defines
# them: building SQLAlchemy expressions for every dynamic segment on every lead change would cost more
# than running them. Expressions are immutable, so they are shared between threads and sessions.
_COMPILED: dict[tuple, tuple[list[Rule], object]] = {}
_COMPILED_MAX = 4096


def _compiled(segment: Segment | Definition, per_lead: bool = False) -> tuple[list[Rule], object]:
    raw = segment.raw_rules
    key = (segment.id, segment.organization_id, segment.match_all_rules, per_lead, json.dumps(raw, sort_keys=True, default=str))
    cached = _COMPILED.get(key)
    if cached is not None:
        return cached
    rules, errors = validate_rules(raw)
    if errors:
        raise InvalidStoredRules("; ".join(f"{e['field']}: {e['message']}" for e in errors))
    condition = None
    if not has_relative_dates(rules):
        condition = compile_rules(rules, segment.match_all_rules, segment.organization_id, utcnow(), per_lead=per_lead)
    if len(_COMPILED) >= _COMPILED_MAX:
        _COMPILED.clear()
    _COMPILED[key] = (rules, condition)
    return rules, condition


def dynamic_definitions(organization_id: int) -> list[Definition]:
    """The organization's active dynamic segments with their rules, in one query."""
    rows = db.session.execute(
        select(
            segments.c.id,
            segments.c.name,
            segments.c.match_all_rules,
            segment_rules_table.c.field,
            segment_rules_table.c.operator,
            segment_rules_table.c.value,
        )
        .select_from(segments.outerjoin(segment_rules_table, segment_rules_table.c.segment_id == segments.c.id))
        .where(segments.c.organization_id == organization_id, segments.c.is_dynamic, segments.c.is_active)
        .order_by(segments.c.id, segment_rules_table.c.position, segment_rules_table.c.id)
    )
    definitions: dict[int, Definition] = {}
    for row in rows:
        definition = definitions.get(row.id)
        if definition is None:
            definition = definitions[row.id] = Definition(row.id, organization_id, row.name, row.match_all_rules, [])
        if row.field is not None:
            definition.raw_rules.append({"field": row.field, "operator": row.operator, "value": row.value})
    return list(definitions.values())


def lock_segment(organization_id: int, segment_id: int) -> Segment | None:
    """The segment, row-locked until the transaction ends (PostgreSQL; SQLite has one writer anyway)."""
    return db.session.scalar(
        select(Segment)
        .where(Segment.organization_id == organization_id, Segment.id == segment_id)
        .with_for_update(of=Segment)
        .execution_options(populate_existing=True)
    )


def _event_data(segment: Segment | Definition) -> dict:
    return {"segment_id": segment.id, "segment_name": segment.name}


# --- full refresh -----------------------------------------------------------------------------------


def refresh_membership(
    organization_id: int, segment_id: int, *, now: datetime | None = None, actor_id: int | None = None, force_snapshot: bool = True
) -> dict:
    """Re-evaluate a whole dynamic segment in SQL; returns ``{"entered", "exited", "member_count"}``.

    Leads that stopped matching exit, leads that started matching enter, each with its lead event
    (``segment_exited`` / ``segment_entered``); event hooks (automation triggers) see the events.
    ``member_count`` and ``last_evaluated_at`` are updated and a point of the size chart recorded.
    """
    segment = lock_segment(organization_id, segment_id)
    if segment is None:
        raise LookupError(f"no segment {segment_id} in organization {organization_id}")
    now = now or utcnow()
    change = apply_rules(segment, now, actor_id=actor_id)
    member_count = finish_refresh(segment, now, force_snapshot=force_snapshot)
    return {"entered": change.entered, "exited": change.exited, "member_count": member_count}


def apply_rules(
    segment: Segment, now: datetime, *, actor_id: int | None = None, lead_ids_from: int | None = None, lead_ids_to: int | None = None
) -> MembershipChange:
    """Close the stays of leads that no longer match and open stays for new matches (set-based).

    With ``lead_ids_from`` / ``lead_ids_to`` only leads with ids in ``[from, to)`` are considered:
    a refresh job works through the leads in such chunks. The caller holds the segment's lock.
    """
    organization_id, segment_id = segment.organization_id, segment.id
    condition = segment_condition(segment, now)

    def lead_range(column):
        bounds = []
        if lead_ids_from is not None:
            bounds.append(column >= lead_ids_from)
        if lead_ids_to is not None:
            bounds.append(column < lead_ids_to)
        return bounds

    still_matches = select(literal_column("1")).select_from(leads).where(leads.c.id == stays.c.lead_id, condition).correlate(stays).exists()
    exited = db.session.execute(
        update(stays)
        .where(stays.c.segment_id == segment_id, stays.c.is_active, ~still_matches, *lead_range(stays.c.lead_id))
        .values(is_active=False, exited_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    already_in = (
        select(literal_column("1"))
        .select_from(stays)
        .where(stays.c.segment_id == segment_id, stays.c.lead_id == leads.c.id, stays.c.is_active)
        .correlate(leads)
        .exists()
    )
    new_members = select(
        literal(organization_id),
        leads.c.id,
        literal(segment_id),
        true(),
        bindparam("entered_at", now, type_=UTCDateTime),
        literal("rule"),
    ).where(condition, ~already_in, *lead_range(leads.c.id))
    entered = db.session.execute(
        insert(stays)
        .from_select(["organization_id", "lead_id", "segment_id", "is_active", "entered_at", "added_by"], new_members)
        .execution_options(preserve_rowcount=True)
    ).rowcount
    events = []
    if exited:
        closed = select(stays.c.lead_id).where(stays.c.segment_id == segment_id, stays.c.exited_at == now, *lead_range(stays.c.lead_id))
        events += _record_events(segment, "segment_exited", closed, now, actor_id)
    if entered:
        opened = select(stays.c.lead_id).where(
            stays.c.segment_id == segment_id, stays.c.entered_at == now, stays.c.is_active, *lead_range(stays.c.lead_id)
        )
        events += _record_events(segment, "segment_entered", opened, now, actor_id)
    if events:
        after_lead_changes(organization_id, [], events)
    return MembershipChange(entered=entered, exited=exited)


def _record_events(segment: Segment, event_type: str, lead_ids: Select, now: datetime, actor_id: int | None) -> list[EventRow]:
    """INSERT INTO lead_events SELECT ... for these leads; the rows come back only if hooks want them
    (as ``EventRow``: a refresh may record hundreds of thousands, too many for ORM objects)."""
    data = _event_data(segment)
    source = lead_ids.subquery()
    rows = select(
        literal(segment.organization_id),
        source.c.lead_id,
        literal(event_type),
        bindparam("event_data", data, type_=JSONType),
        bindparam("actor_id", actor_id, type_=lead_events.c.actor_id.type),
        bindparam("created_at", now, type_=UTCDateTime),
    )
    statement = insert(lead_events).from_select(["organization_id", "lead_id", "event_type", "data", "actor_id", "created_at"], rows)
    if not wiring().event_hooks:
        db.session.execute(statement)
        return []
    returned = db.session.execute(statement.returning(lead_events.c.id, lead_events.c.lead_id)).all()
    return [EventRow(row.id, segment.organization_id, row.lead_id, event_type, data, actor_id, now) for row in returned]


def finish_refresh(segment: Segment, now: datetime, *, force_snapshot: bool = True) -> int:
    """Count the open stays, stamp ``last_evaluated_at`` and record a point of the size chart."""
    member_count = count_members(segment.organization_id, segment.id)
    stamped = db.session.scalar(
        update(segments)
        .where(segments.c.id == segment.id)
        .values(
            member_count=member_count,
            last_evaluated_at=now,
            updated_at=segments.c.updated_at,
            last_snapshot_at=now if force_snapshot else _snapshot_due(now),
        )
        .returning(segments.c.last_snapshot_at)
    )
    if stamped == now:
        _insert_snapshots({segment.id: member_count}, segment.organization_id, now)
    db.session.expire(segment, ["member_count", "last_evaluated_at", "last_snapshot_at"])
    return member_count


def count_members(organization_id: int, segment_id: int) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(stays)
        .where(stays.c.segment_id == segment_id, stays.c.organization_id == organization_id, stays.c.is_active)
    )


def member_ids(organization_id: int, segment_id: int) -> list[int]:
    """The ids of the segment's current members, ascending."""
    return list(
        db.session.scalars(
            select(stays.c.lead_id)
            .where(stays.c.segment_id == segment_id, stays.c.organization_id == organization_id, stays.c.is_active)
            .order_by(stays.c.lead_id)
        )
    )


# --- incremental re-check ------------------------------------------------------------------------------


def recheck_leads(organization_id: int, lead_ids: list[int], now: datetime | None = None) -> list[EventRow]:
    """The lead-change hook: move changed leads in and out of the organization's dynamic segments.

    One query evaluates every active dynamic segment for the changed leads (a boolean column per
    segment; on PostgreSQL it also reads their open stays); only the differences are written, under
    the locks of the segments they touch. Returns the ``segment_entered`` / ``segment_exited`` events
    it recorded (event hooks then see them with the change's own events).
    """
    if not lead_ids:
        return []
    candidates = dynamic_definitions(organization_id)
    now = now or utcnow()
    conditions = {}
    for segment in candidates:
        try:
            conditions[segment.id] = segment_condition(segment, now, per_lead=True)
        except InvalidStoredRules as exc:
            log.warning("segment %s is not re-checked: %s", segment.id, exc)
    if not conditions:
        return []
    by_id = {segment.id: segment for segment in candidates}
    enter, leave = set(), set()
    ids = sorted(set(lead_ids))
    if len(ids) > MANY_LEADS and db.session.get_bind().dialect.name == "postgresql":
        # The same query with a full IN list runs chunk after chunk (an import, bulk creates): once
        # psycopg prepares it, PostgreSQL may switch to a generic plan that does not see the list and
        # scans every lead for each chunk (seconds per chunk at 100,000 leads). Plan each one for its list.
        db.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    for start in range(0, len(ids), CHUNK):
        wanted, current = _matching_and_current(organization_id, ids[start : start + CHUNK], conditions)
        enter |= wanted - current
        leave |= current - wanted
    if not enter and not leave:
        return []
    touched = sorted({segment_id for segment_id, _ in enter | leave})
    # The segments' locks first (as every writer of their stays takes them), then writes that only
    # change what is still different: a refresh we waited for may have done some of it already.
    db.session.execute(select(segments.c.id).where(segments.c.id.in_(touched)).order_by(segments.c.id).with_for_update())
    return _apply_pairs(organization_id, by_id, enter, leave, now)


def _matching_and_current(organization_id: int, lead_ids: list[int], conditions: dict) -> tuple[set, set]:
    """``(segment_id, lead_id)`` pairs the rules want, and the open stays, of these leads and segments.

    One query: a boolean column per segment, and on PostgreSQL the lead's open stays as an array.
    """
    labels = {f"s{segment_id}": segment_id for segment_id in conditions}
    columns = [condition.label(label) for label, condition in zip(labels, conditions.values(), strict=True)]
    postgres = db.session.get_bind().dialect.name == "postgresql"
    if postgres:
        columns.append(
            select(func.array_agg(stays.c.segment_id))
            .where(stays.c.lead_id == leads.c.id, stays.c.is_active)
            .correlate(leads)
            .scalar_subquery()
            .label("member_of")
        )
    rows = (
        db.session.execute(select(leads.c.id, *columns).where(leads.c.organization_id == organization_id, leads.c.id.in_(lead_ids)))
        .mappings()
        .all()
    )
    wanted = {(segment_id, row["id"]) for row in rows for label, segment_id in labels.items() if row[label]}
    if not postgres:
        return wanted, _open_stays(lead_ids, list(conditions))
    current = {(segment_id, row["id"]) for row in rows for segment_id in row["member_of"] or () if segment_id in conditions}
    return wanted, current


def _open_stays(lead_ids: list[int], segment_ids: list[int]) -> set[tuple[int, int]]:
    if not lead_ids or not segment_ids:
        return set()
    rows = db.session.execute(
        select(stays.c.segment_id, stays.c.lead_id).where(
            stays.c.lead_id.in_(lead_ids), stays.c.segment_id.in_(segment_ids), stays.c.is_active
        )
    )
    return {(row.segment_id, row.lead_id) for row in rows}


def _apply_pairs(
    organization_id: int, by_id: dict, enter: set, leave: set, now: datetime, added_by: str = "rule", actor_id: int | None = None
) -> list[EventRow]:
    """Close the ``leave`` stays and open the ``enter`` ones; events, counts and chart points follow.

    The writes guard themselves (only open stays close, an open stay is never opened twice) and
    return what they changed, so events and counts follow what actually happened.
    """
    if leave:
        leave = set(
            db.session.execute(
                update(stays)
                .where(tuple_(stays.c.segment_id, stays.c.lead_id).in_(sorted(leave)), stays.c.is_active)
                .values(is_active=False, exited_at=now)
                .returning(stays.c.segment_id, stays.c.lead_id)
                .execution_options(synchronize_session=False)
            ).tuples()
        )
    if enter:
        enter = set(
            insert_rows_skipping_duplicates(
                stays,
                [
                    {
                        "organization_id": organization_id,
                        "lead_id": lead_id,
                        "segment_id": segment_id,
                        "is_active": True,
                        "entered_at": now,
                        "added_by": added_by,
                        "added_by_id": actor_id,
                    }
                    for segment_id, lead_id in sorted(enter)
                ],
                returning=("segment_id", "lead_id"),
            )
        )
    event_rows = [
        {
            "organization_id": organization_id,
            "lead_id": lead_id,
            "event_type": event_type,
            "data": _event_data(by_id[segment_id]),
            "actor_id": actor_id,
            "created_at": now,
        }
        for event_type, pairs in (("segment_exited", leave), ("segment_entered", enter))
        for segment_id, lead_id in sorted(pairs)
    ]
    event_ids = insert_with_ids(lead_events, event_rows)
    events = [EventRow(id=event_id, **row) for event_id, row in zip(event_ids, event_rows, strict=True)]
    deltas: dict[int, int] = {}
    for segment_id, _ in enter:
        deltas[segment_id] = deltas.get(segment_id, 0) + 1
    for segment_id, _ in leave:
        deltas[segment_id] = deltas.get(segment_id, 0) - 1
    changed = {segment_id: delta for segment_id, delta in deltas.items() if delta}
    if changed:
        counts = db.session.execute(
            update(segments)
            .where(segments.c.id.in_(changed))
            .values(
                member_count=segments.c.member_count + _delta_case(changed),
                updated_at=segments.c.updated_at,
                last_snapshot_at=_snapshot_due(now),
            )
            .returning(segments.c.id, segments.c.member_count, segments.c.last_snapshot_at)
        ).all()
        _insert_snapshots({row.id: row.member_count for row in counts if row.last_snapshot_at == now}, organization_id, now)
        for segment_id in changed:
            segment = db.session.identity_map.get(identity_key(Segment, segment_id))
            if segment is not None:
                db.session.expire(segment, ["member_count"])
    return events


def _delta_case(deltas: dict[int, int]):
    return case(*((segments.c.id == segment_id, delta) for segment_id, delta in deltas.items()), else_=0)


# --- static segments --------------------------------------------------------------------------------


def add_members(segment: Segment, lead_ids: list[int], actor_id: int | None) -> tuple[int, int]:
    """Add leads (of the segment's organization, checked by the caller) by hand; (added, already members)."""
    lock_segment(segment.organization_id, segment.id)
    ids = sorted(set(lead_ids))
    current = set()
    for start in range(0, len(ids), CHUNK):
        current |= _open_stays(ids[start : start + CHUNK], [segment.id])
    enter = {(segment.id, lead_id) for lead_id in ids} - current
    events = _apply_pairs(segment.organization_id, {segment.id: segment}, enter, set(), utcnow(), added_by="user", actor_id=actor_id)
    after_lead_changes(segment.organization_id, [], events)
    return len(enter), len(current)


def remove_members(segment: Segment, lead_ids: list[int], actor_id: int | None) -> int:
    """Close the stays of these leads (the others are ignored); returns how many left."""
    lock_segment(segment.organization_id, segment.id)
    ids = sorted(set(lead_ids))
    current = set()
    for start in range(0, len(ids), CHUNK):
        current |= _open_stays(ids[start : start + CHUNK], [segment.id])
    events = _apply_pairs(segment.organization_id, {segment.id: segment}, set(), current, utcnow(), actor_id=actor_id)
    after_lead_changes(segment.organization_id, [], events)
    return len(current)


# --- the size chart --------------------------------------------------------------------------------------


def _snapshot_due(now: datetime):
    """``last_snapshot_at`` becomes ``now`` when the chart's last point is older than SNAPSHOT_EVERY."""
    last = segments.c.last_snapshot_at
    return case((last.is_(None) | (last < now - SNAPSHOT_EVERY), now), else_=last)


def _insert_snapshots(counts: dict[int, int], organization_id: int, now: datetime) -> None:
    if counts:
        db.session.execute(
            insert(snapshots),
            [
                {"organization_id": organization_id, "segment_id": segment_id, "member_count": count, "taken_at": now}
                for segment_id, count in counts.items()
            ],
        )
