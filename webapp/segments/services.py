"""Segments: validate and save, preview and evaluate, refresh (inline or as a job), explain (SPEC §5).

The API and the pages call these; rules are validated in one place (``rules.validate_rules``).
Services never commit, except the refresh job, which owns its transactions.
"""

import logging
from datetime import datetime, timedelta
from typing import Annotated, Any

from flask import current_app
from pydantic import ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..jobs import enqueue
from ..models import Automation, EmailTemplate, Lead, LeadSegment, ScheduledTask, Segment, SegmentRefresh, SegmentRule, utcnow
from ..models.base import MAX_ID
from ..scheduled_tasks.definitions import create_task
from ..tenancy import ids_in_org
from ..text import MAX_SLUG_LENGTH, SLUG_PATTERN, slugify
from ..validation import Conflict, StrictModel, ValidationFailed, documented_as, one_of_kinds, parse, presence_errors, text
from . import membership
from .activity import ActivityEvent, events_by_lead, events_query
from .rules import (
    ALL_OPERATORS,
    FIELD_TYPES,
    Activity,
    References,
    activity_event_types,
    evaluate_rules,
    explain,
    has_relative_dates,
    lead_field_values,
    matching_lead_ids_query,
    rule_json_schemas,
    validate_rules,
)

log = logging.getLogger(__name__)

MAX_RULES = 50
MAX_LEAD_IDS = 10_000
DEFAULT_INLINE_REFRESH_LEADS = 20_000  # app config SEGMENT_INLINE_REFRESH_LEADS: more leads → a job
REFRESH_CHUNK_LEADS = 50_000  # lead ids per step of a refresh job (its progress)
PERIODIC_REFRESH = "every 15 minutes"
STALLED_REFRESH = timedelta(minutes=10)
MAX_REFRESH_ATTEMPTS = 3  # jobs that may start one refresh before the sweeper gives up on it


class RuleFields(StrictModel):
    """A rule as sent; the rule engine checks it (``validate_rules``), and the document states per
    field which operators and values it takes (``rule_json_schemas``)."""

    model_config = ConfigDict(json_schema_extra=one_of_kinds(rule_json_schemas))
    required_on_create = ("value",)  # every rule in a body is a whole rule, on update too
    field: Annotated[str, Field(max_length=40), documented_as(enum=list(FIELD_TYPES))]
    operator: Annotated[str, Field(max_length=40), documented_as(enum=list(ALL_OPERATORS))]
    value: Any = None
    position: Annotated[int, Field(ge=0, le=MAX_ID)] | None = None  # accepted for round trips; the order of the list is the order


class SegmentFields(StrictModel):
    required_on_create = ("name",)
    never_null = ("is_active", "is_dynamic", "match_all_rules")

    name: text(200) = None
    description: text(5000) = None
    slug: text(MAX_SLUG_LENGTH, pattern=SLUG_PATTERN) = None
    is_active: bool = True
    is_dynamic: bool = True
    match_all_rules: bool = True
    rules: Annotated[list[RuleFields], Field(max_length=MAX_RULES)] | None = None


class PreviewFields(StrictModel):
    match_all_rules: bool = True
    rules: Annotated[list[RuleFields], Field(max_length=MAX_RULES)] = []


# --- validating and saving ------------------------------------------------------------------------------


REFERENCED_MODELS = {"template_id": EmailTemplate, "automation_id": Automation}


def rule_references(organization_id: int) -> References:
    """What ``validate_rules`` asks to know which ids an activity rule may name: those of the
    organization's email templates and automations (another organization's id is "no such ...")."""

    def found(key: str, ids: set[int]) -> set[int]:
        return ids_in_org(REFERENCED_MODELS[key], ids, organization_id)

    return found


def checked_rules(raw_rules: list, organization_id: int, prefix: str = "") -> list[dict]:
    """Rules validated by the engine, in their canonical JSON form; ValidationFailed otherwise."""
    rules, errors = validate_rules(raw_rules, rule_references(organization_id))
    if errors:
        raise ValidationFailed([{**e, "field": prefix + e["field"]} for e in errors])
    return [rule.as_dict() for rule in rules]


def validate_segment(data, organization_id: int, *, partial: bool) -> dict:
    """The clean values of a segment body (only those given when ``partial``); rules are coerced."""
    if not isinstance(data, dict):
        raise ValidationFailed([{"field": "body", "message": "must be an object"}])
    fields = parse(SegmentFields, data)
    values = fields.model_dump(exclude_unset=partial)
    if fields.rules is not None and "rules" in values:  # a given list replaces the rules: each rule whole
        values["rules"] = [rule.model_dump() for rule in fields.rules]
    errors = presence_errors(SegmentFields, values, partial=partial)
    if errors:
        raise ValidationFailed(errors)
    if values.get("rules") is not None:
        raw_rules = [{"field": r["field"], "operator": r["operator"], "value": r["value"]} for r in values["rules"]]
        values["rules"] = checked_rules(raw_rules, organization_id)
    elif "rules" in values:
        values["rules"] = []
    return values


def save_segment(segment: Segment, values: dict) -> dict:
    """Apply validated values (a given ``rules`` list replaces the rules); returns the changes.

    Raises Conflict when the slug is taken in the organization. A new segment without a slug gets
    one derived from its name.
    """
    changes = {}
    for name in ("name", "description", "slug", "is_active", "is_dynamic", "match_all_rules"):
        if name in values and getattr(segment, name) != values[name]:
            changes[name] = [getattr(segment, name), values[name]]
            setattr(segment, name, values[name])
    if not segment.slug:
        segment.slug = slugify(segment.name, "segment")
        changes["slug"] = [None, segment.slug]
    if "rules" in values and values["rules"] != segment.raw_rules:
        changes["rules"] = [segment.raw_rules, values["rules"]]
        segment.rules = [
            SegmentRule(field=r["field"], operator=r["operator"], value=r["value"], position=i) for i, r in enumerate(values["rules"])
        ]
        segment.updated_at = utcnow()
    with db.session.no_autoflush:
        taken = db.session.scalar(
            select(Segment.id).where(
                Segment.organization_id == segment.organization_id, Segment.slug == segment.slug, Segment.id != (segment.id or 0)
            )
        )
    if taken:
        raise Conflict(f"a segment with the slug '{segment.slug}' already exists")
    db.session.add(segment)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise Conflict(f"a segment with the slug '{segment.slug}' already exists") from None
    return changes


def membership_follows_rules(segment: Segment, changes: dict, created: bool) -> bool:
    """Whether a save changed what a dynamic segment's members should be (so it must be refreshed)."""
    if not (segment.is_dynamic and segment.is_active):
        return False
    return created or bool({"rules", "match_all_rules", "is_dynamic", "is_active"} & set(changes))


def create_segment(organization_id: int, data, actor_id: int | None = None) -> tuple[Segment, SegmentRefresh | None]:
    """Validate and add a segment; a dynamic one is filled (inline, or by a job for many leads)."""
    values = validate_segment(data, organization_id, partial=False)
    segment = Segment(organization_id=organization_id, member_count=0)
    changes = save_segment(segment, values)
    refresh = start_refresh(segment, actor_id, "rules") if membership_follows_rules(segment, changes, True) else None
    _keep_relative_segments_fresh(segment, actor_id)
    return segment, refresh


def update_segment(segment: Segment, data, actor_id: int | None = None) -> tuple[dict, SegmentRefresh | None]:
    """Change the given fields; when the answer of a dynamic segment may change, refresh it."""
    values = validate_segment(data, segment.organization_id, partial=True)
    changes = save_segment(segment, values)
    refresh = start_refresh(segment, actor_id, "rules") if membership_follows_rules(segment, changes, False) else None
    _keep_relative_segments_fresh(segment, actor_id)
    return changes, refresh


def delete_segment(segment: Segment) -> None:
    """Delete the segment with its rules and membership history (no exit events: it is gone)."""
    db.session.delete(segment)


# --- preview, evaluate, explain -----------------------------------------------------------------------


def preview_rules(organization_id: int, match_all: bool, raw_rules: list, limit: int = 100, now: datetime | None = None) -> dict:
    """``{"count", "lead_ids"}`` of the leads matching unsaved rules (first ``limit`` ids, ascending)."""
    rules, errors = validate_rules(raw_rules, rule_references(organization_id))
    if errors:
        raise ValidationFailed(errors)
    query = matching_lead_ids_query(rules, match_all, organization_id, now or utcnow())
    return count_and_ids(query, limit)


def evaluate_segment(segment: Segment, limit: int = 100, now: datetime | None = None) -> dict:
    """The segment's rules evaluated now: ``{"segment_id", "count", "lead_ids"}``; nothing saved."""
    query = matching_lead_ids_query(membership.segment_rules(segment), segment.match_all_rules, segment.organization_id, now or utcnow())
    return {"segment_id": segment.id, **count_and_ids(query, limit)}


def count_and_ids(query, limit: int) -> dict:
    """``{"count", "lead_ids"}`` of a ``matching_lead_ids_query``: the count, and the first ``limit`` ids."""
    count = db.session.scalar(select(func.count()).select_from(query.subquery()))
    ids = list(db.session.scalars(query.order_by(Lead.id).limit(limit))) if limit and count else []
    return {"count": count, "lead_ids": ids}


def first_matching_leads(organization_id: int, lead_ids: list[int]) -> list[Lead]:
    if not lead_ids:
        return []
    return db.session.scalars(select(Lead).where(Lead.organization_id == organization_id, Lead.id.in_(lead_ids)).order_by(Lead.id)).all()


def explain_lead(segment: Segment, lead: Lead, now: datetime | None = None) -> dict:
    """Why a lead is or is not in a segment: each rule's verdict (the reference evaluator), the overall
    answer, and the lead's current stay."""
    now = now or utcnow()
    rules = membership.segment_rules(segment)
    values, tags = lead_field_values(lead), set(lead.tags)
    event_types = activity_event_types(rules)
    events = lead_activity(lead.organization_id, [lead.id], event_types).get(lead.id, []) if event_types else None
    names = reference_names(segment.organization_id, [rule.value.references() for rule in rules if isinstance(rule.value, Activity)])
    stay = db.session.scalar(
        select(LeadSegment).where(LeadSegment.segment_id == segment.id, LeadSegment.lead_id == lead.id, LeadSegment.is_active.is_(True))
    )
    return {
        "rules": explain(rules, segment.match_all_rules, values, tags, now, events, names),
        "matches": evaluate_rules(rules, segment.match_all_rules, values, tags, now, events),
        "match_all": segment.match_all_rules,
        "member": stay,
        "has_rules": bool(rules),
    }


def lead_activity(organization_id: int, lead_ids: list[int], event_types: set[str]) -> dict[int, list[ActivityEvent]]:
    """The events of these leads and types, as the activity rules' evaluator reads them, by lead: one
    query per ``membership.CHUNK`` leads."""
    events: dict[int, list[ActivityEvent]] = {}
    if not event_types:
        return events
    ids = sorted(set(lead_ids))
    for start in range(0, len(ids), membership.CHUNK):
        rows = db.session.execute(events_query(organization_id, ids[start : start + membership.CHUNK], event_types))
        events.update(events_by_lead(rows))
    return events


def reference_names(organization_id: int, references: list[dict[str, int]]) -> dict[tuple[str, int], str]:
    """``{("template_id", 12): "Welcome"}``: the names of the templates and automations activity rules
    name (``Activity.references()``), for the rules in words; ids of no object of the organization
    are left out."""
    names = {}
    for key, model in REFERENCED_MODELS.items():
        ids = {named[key] for named in references if named.get(key) is not None}
        if ids:
            rows = db.session.execute(select(model.id, model.name).where(model.organization_id == organization_id, model.id.in_(ids)))
            names.update({(key, row.id): row.name for row in rows})
    return names


def segments_of_lead(organization_id: int, lead_id: int):
    """The lead's open stays with their segments, newest first (a select of (LeadSegment, Segment))."""
    return (
        select(LeadSegment, Segment)
        .join(Segment, Segment.id == LeadSegment.segment_id)
        .where(LeadSegment.organization_id == organization_id, LeadSegment.lead_id == lead_id, LeadSegment.is_active.is_(True))
        .order_by(LeadSegment.entered_at.desc(), LeadSegment.id.desc())
    )


def members_query(segment: Segment):
    """The segment's current members with their entry time, in lead order: (Lead, entered_at)."""
    return (
        select(Lead, LeadSegment.entered_at)
        .join(LeadSegment, LeadSegment.lead_id == Lead.id)
        .where(
            LeadSegment.segment_id == segment.id, LeadSegment.organization_id == segment.organization_id, LeadSegment.is_active.is_(True)
        )
        .order_by(LeadSegment.lead_id)
    )


def membership_history(segment: Segment, limit: int = 30) -> list[dict]:
    """The latest entries and exits, newest first: ``{"lead", "event", "at", "by"}``."""
    entries = db.session.scalars(
        select(LeadSegment)
        .where(LeadSegment.segment_id == segment.id)
        .order_by(LeadSegment.entered_at.desc(), LeadSegment.id.desc())
        .limit(limit)
    ).all()
    exits = db.session.scalars(
        select(LeadSegment)
        .where(LeadSegment.segment_id == segment.id, LeadSegment.exited_at.is_not(None))
        .order_by(LeadSegment.exited_at.desc(), LeadSegment.id.desc())
        .limit(limit)
    ).all()
    items = [{"stay": s, "event": "entered", "at": s.entered_at} for s in entries]
    items += [{"stay": s, "event": "exited", "at": s.exited_at} for s in exits]
    return sorted(items, key=lambda item: (item["at"], item["stay"].id), reverse=True)[:limit]


def size_history(segment: Segment, limit: int = 60) -> list[tuple[datetime, int]]:
    """The points of the size chart, oldest first, ending with the current size."""
    from ..models import SegmentSnapshot

    rows = db.session.execute(
        select(SegmentSnapshot.taken_at, SegmentSnapshot.member_count)
        .where(SegmentSnapshot.segment_id == segment.id)
        .order_by(SegmentSnapshot.taken_at.desc(), SegmentSnapshot.id.desc())
        .limit(limit)
    ).all()
    points = [(row.taken_at, row.member_count) for row in reversed(rows)]
    if not points or points[-1][1] != segment.member_count:
        points.append((utcnow(), segment.member_count))
    return points


# --- static members -------------------------------------------------------------------------------------


def checked_lead_ids(lead_ids, organization_id: int) -> list[int]:
    """Lead ids from a request, all of the organization; ValidationFailed naming ``lead_ids`` otherwise."""
    if (
        not isinstance(lead_ids, list)
        or not lead_ids
        or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 1 for i in lead_ids)
    ):
        raise ValidationFailed([{"field": "lead_ids", "message": "must be a non-empty list of lead ids"}])
    if len(lead_ids) > MAX_LEAD_IDS:
        raise ValidationFailed([{"field": "lead_ids", "message": f"at most {MAX_LEAD_IDS} leads per request"}])
    found = set()
    unique = sorted(set(lead_ids))
    for start in range(0, len(unique), membership.CHUNK):
        found |= ids_in_org(Lead, unique[start : start + membership.CHUNK], organization_id)
    unknown = [i for i in unique if i not in found]
    if unknown:
        listed = ", ".join(str(i) for i in unknown[:10]) + (", …" if len(unknown) > 10 else "")
        raise ValidationFailed([{"field": "lead_ids", "message": f"unknown lead ids: {listed}"}])
    return unique


def add_leads(segment: Segment, lead_ids, actor_id: int | None) -> dict:
    """Add leads to a static segment by hand: ``{"added", "already_members"}``."""
    if segment.is_dynamic:
        raise Conflict("leads are added by hand only to static segments; this one follows its rules")
    added, already = membership.add_members(segment, checked_lead_ids(lead_ids, segment.organization_id), actor_id)
    return {"added": added, "already_members": already}


def remove_leads(segment: Segment, lead_ids, actor_id: int | None) -> dict:
    """Remove leads from a static segment by hand: ``{"removed"}`` (non-members are ignored)."""
    if segment.is_dynamic:
        raise Conflict("leads are removed by hand only from static segments; this one follows its rules")
    return {"removed": membership.remove_members(segment, checked_lead_ids(lead_ids, segment.organization_id), actor_id)}


# --- refreshing ------------------------------------------------------------------------------------------


def refresh_now(segment: Segment, actor_id: int | None = None, trigger: str = "api") -> SegmentRefresh:
    """Refresh a dynamic segment in this transaction; the returned record holds entered/exited."""
    if not segment.is_dynamic:
        raise Conflict("a static segment is not refreshed: its leads are added and removed by hand")
    now = utcnow()
    result = membership.refresh_membership(segment.organization_id, segment.id, now=now, actor_id=actor_id)
    refresh = SegmentRefresh(
        organization_id=segment.organization_id,
        segment_id=segment.id,
        status="completed",
        trigger=trigger,
        user_id=actor_id,
        processed=1,
        total=1,
        entered=result["entered"],
        exited=result["exited"],
        member_count=result["member_count"],
        started_at=now,
        finished_at=utcnow(),
    )
    db.session.add(refresh)
    db.session.flush()
    return refresh


def start_refresh(segment: Segment, actor_id: int | None = None, trigger: str = "manual") -> SegmentRefresh:
    """Refresh now when the organization is small, otherwise queue a job (with progress) after commit."""
    if not segment.is_dynamic:
        raise Conflict("a static segment is not refreshed: its leads are added and removed by hand")
    limit = current_app.config.get("SEGMENT_INLINE_REFRESH_LEADS", DEFAULT_INLINE_REFRESH_LEADS)
    leads = db.session.scalar(select(func.count()).select_from(Lead).where(Lead.organization_id == segment.organization_id))
    if leads <= limit:
        return refresh_now(segment, actor_id, trigger)
    refresh = SegmentRefresh(
        organization_id=segment.organization_id, segment_id=segment.id, status="pending", trigger=trigger, user_id=actor_id
    )
    db.session.add(refresh)
    db.session.flush()
    enqueue(run_refresh_job, refresh.id, job_id=f"segment-refresh-{refresh.id}")
    return refresh


def latest_refresh(segment: Segment) -> SegmentRefresh | None:
    return db.session.scalar(
        select(SegmentRefresh).where(SegmentRefresh.segment_id == segment.id).order_by(SegmentRefresh.id.desc()).limit(1)
    )


def run_refresh_job(refresh_id: int) -> None:
    """The job: refresh a big segment chunk by chunk of lead ids, committing progress after each.

    Idempotent: a finished refresh is left alone, and running one again (after a lost worker)
    changes only what is still different. One ``now`` holds for every chunk.
    """
    refresh = db.session.get(SegmentRefresh, refresh_id)
    if refresh is None or refresh.status in ("completed", "failed"):
        return
    try:
        _run_refresh(refresh)
    except Exception as exc:
        db.session.rollback()
        log.exception("segment refresh %s failed", refresh_id)
        refresh = db.session.get(SegmentRefresh, refresh_id)
        if refresh is not None:
            refresh.status, refresh.error, refresh.finished_at = "failed", str(exc)[:2000], utcnow()
            db.session.commit()


def _run_refresh(refresh: SegmentRefresh) -> None:
    organization_id = refresh.organization_id
    low, high = db.session.execute(select(func.min(Lead.id), func.max(Lead.id)).where(Lead.organization_id == organization_id)).one()
    bounds = list(range(low or 0, (high or 0) + 1, REFRESH_CHUNK_LEADS)) if low else [0]
    # A fresh ``now`` per run: the events of a chunk are found by the run's timestamp.
    now = utcnow()
    refresh.status, refresh.started_at, refresh.total, refresh.processed = "running", now, len(bounds), 0
    refresh.attempts += 1
    db.session.commit()
    for step, start in enumerate(bounds, start=1):
        segment = membership.lock_segment(organization_id, refresh.segment_id)
        if segment is None or not segment.is_dynamic:
            refresh.status, refresh.error, refresh.finished_at = "failed", "the segment is gone or static", utcnow()
            db.session.commit()
            return
        last = step == len(bounds)
        change = membership.apply_rules(
            segment,
            now,
            actor_id=refresh.user_id,
            lead_ids_from=start if step > 1 else None,
            lead_ids_to=None if last else start + REFRESH_CHUNK_LEADS,
        )
        refresh.entered += change.entered
        refresh.exited += change.exited
        refresh.processed = step
        if last:
            refresh.member_count = membership.finish_refresh(segment, now)
            refresh.status, refresh.finished_at = "completed", utcnow()
        db.session.commit()


def requeue_stalled_refreshes() -> int:
    """Sweeper: refresh jobs lost with a worker (no progress for a while) are queued again."""
    cutoff = utcnow() - STALLED_REFRESH
    stalled = db.session.scalars(
        select(SegmentRefresh).where(SegmentRefresh.status.in_(("pending", "running")), SegmentRefresh.updated_at < cutoff).limit(100)
    ).all()
    retried = [refresh for refresh in stalled if refresh.attempts < MAX_REFRESH_ATTEMPTS]
    for refresh in stalled:
        if refresh.attempts >= MAX_REFRESH_ATTEMPTS:  # it stops the same way every time: retrying cannot help
            refresh.status, refresh.finished_at = "failed", utcnow()
            refresh.error = f"the refresh stopped {refresh.attempts} times without finishing"
        else:
            refresh.updated_at = utcnow()  # not swept again while its job waits in the queue
            enqueue(run_refresh_job, refresh.id)
    db.session.commit()
    return len(retried)


# --- periodic refresh (the system_maintenance task of segments.task_types) ------------------------------------


def _keep_relative_segments_fresh(segment: Segment, actor_id: int | None) -> None:
    # Activity rules change with the lead's events, which re-check no lead (only lead changes do): the
    # periodic refresh brings them up to date, as it does for relative dates.
    rules = membership.segment_rules(segment) if segment.is_dynamic and segment.is_active else []
    if has_relative_dates(rules) or activity_event_types(rules):
        ensure_periodic_refresh(segment.organization_id, actor_id)


def ensure_periodic_refresh(organization_id: int, actor_id: int | None = None) -> ScheduledTask:
    """The organization's recurring ``refresh_dynamic_segments`` task, created when missing.

    Segments with relative dates ("7 days ago") change as time passes, and segments with activity
    rules as events are recorded; this task keeps them true.
    """
    existing = db.session.scalar(
        select(ScheduledTask)
        .where(
            ScheduledTask.organization_id == organization_id,
            ScheduledTask.task_type == "system_maintenance",
            ScheduledTask.recurrence.is_not(None),
            ScheduledTask.status.not_in(("cancelled", "failed")),
            ScheduledTask.payload["operation"].as_string() == "refresh_dynamic_segments",
        )
        .limit(1)
    )
    if existing is not None:
        return existing
    return create_task(
        organization_id,
        "system_maintenance",
        {"operation": "refresh_dynamic_segments"},
        name="Refresh dynamic segments",
        recurrence=PERIODIC_REFRESH,
        priority=40,
        created_by_id=actor_id,
    )


def refresh_dynamic_segments(organization_id: int) -> dict:
    """Refresh every active dynamic segment of the organization (the maintenance task's work)."""
    ids = db.session.scalars(
        select(Segment.id)
        .where(Segment.organization_id == organization_id, Segment.is_dynamic.is_(True), Segment.is_active.is_(True))
        .order_by(Segment.id)
    ).all()
    results = []
    for segment_id in ids:
        try:
            result = membership.refresh_membership(organization_id, segment_id, force_snapshot=False)
        except membership.InvalidStoredRules as exc:
            results.append({"segment_id": segment_id, "error": str(exc)})
            continue
        results.append({"segment_id": segment_id, **result})
    return {
        "segments": len(ids),
        "entered": sum(r.get("entered", 0) for r in results),
        "exited": sum(r.get("exited", 0) for r in results),
        "results": results[:100],
    }
