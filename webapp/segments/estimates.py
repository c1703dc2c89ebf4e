"""Estimate, then exact (issue: ten million leads): a segment count answered at once from a sample,
the exact count computed in the background and fetched by its result id.

The sample. A lead is in the sample when ``hashint4(id) & 65535`` (its *bucket*, an indexed
expression) is below a cut-off chosen so that about ``TARGET_SAMPLE`` of the organization's leads
fall under it; for organizations over 640,000 leads the sample lies in the first ``SLICE`` buckets,
whose index also carries every column a rule reads (an index-only scan). The hash mixes ids, so the
sample is a uniform random sample of rows whatever order they lie in on disk (a block sample,
``TABLESAMPLE SYSTEM``, is biased where rows cluster by arrival time, as real leads do:
``bench/segments.py`` measures both). Each lead is in it independently with probability ``f``, so
``m`` matches in the sample estimate ``m / f`` matches in all, and the 95 % interval is the score
interval of a Poisson count with the finite-population correction.

The exact count runs as a job (queue ``high``) under a statement timeout; its result lives in Redis
for ``RESULT_TTL`` seconds. One user has one exact count in flight per builder (a segment, or a new
one): a newer edit cancels the older query, queued or running (``pg_cancel_backend`` of the backend
the job recorded).

Where the estimate would not pay (PostgreSQL absent, no Redis, or an organization of fewer than
``SEGMENT_ESTIMATE_ABOVE`` leads) the count is exact at once and the estimate says so
(``sample_fraction`` 1).
"""

import json
import math
import secrets
from datetime import datetime

from flask import current_app
from sqlalchemy import func, literal_column, select, text
from sqlalchemy.exc import OperationalError

from ..extensions import db
from ..jobs import enqueue, redis_connection
from ..models import Lead, utcnow
from ..validation import ValidationFailed
from . import rules as rule_engine

BUCKETS = 65536
BUCKET = literal_column("(hashint4(leads.id) & 65535)")  # as written in the index ix_leads_sample
PROBE_BUCKETS = 64  # 1/1024 of the leads: how many the organization has, roughly
SLICE = 2048  # the buckets that ix_leads_sample_slice covers with every column a rule reads
TARGET_SAMPLE = 20_000
Z = 1.96  # 95 %
RESULT_TTL = 600
_RESULT = "leadflow:exact-count:{}"
_CURRENT = "leadflow:exact-count-current:{}:{}:{}"  # organization, user, builder
_CANCELLED = "leadflow:exact-count-cancelled:{}"


def estimates_apply() -> bool:
    """Only PostgreSQL has the sample index, only Redis carries results between processes."""
    return db.engine.dialect.name == "postgresql" and bool(current_app.config.get("REDIS_URL"))


def estimate_count(organization_id: int, match_all: bool, rules: list, now: datetime, limit: int = 10, sample: bool = True) -> dict:
    """``{"estimate": {"value", "low", "high", "sample_fraction"}, "sample_lead_ids", "exact"}`` of
    validated ``rules``; ``exact`` is the count when the sample was every lead (a small organization,
    SQLite, or ``sample`` false), else None."""
    from .services import count_and_ids

    cutoff = sample_cutoff(organization_id) if sample and db.engine.dialect.name == "postgresql" else None
    if cutoff is None:  # the exact count, as the preview without estimate counts
        found = count_and_ids(rule_engine.matching_lead_ids_query(rules, match_all, organization_id, now), limit)
        count = found["count"]
        estimate = {"value": count, "low": count, "high": count, "sample_fraction": 1.0}
        return {"estimate": estimate, "sample_lead_ids": found["lead_ids"], "exact": count}
    condition = rule_engine.compile_rules(rules, match_all, organization_id, now)
    within = [BUCKET < literal_column(str(cutoff))]  # a literal: the planner must see which index it fits
    if cutoff <= SLICE:
        within.append(BUCKET < literal_column(str(SLICE)))  # the covering index's predicate, for an index-only scan
    sampled = select(Lead.id).where(condition, *within)
    matches = db.session.scalar(select(func.count()).select_from(sampled.subquery()))
    ids = db.session.scalars(sampled.order_by(Lead.id).limit(limit)).all() if limit and matches else []
    return {"estimate": interval(matches, cutoff / BUCKETS), "sample_lead_ids": list(ids), "exact": None}


def sample_cutoff(organization_id: int) -> int | None:
    """The bucket cut-off giving about ``TARGET_SAMPLE`` leads, or None: count them all (PostgreSQL)."""
    probe_buckets = BUCKET < literal_column(str(PROBE_BUCKETS))
    probe = db.session.scalar(select(func.count()).select_from(Lead).where(Lead.organization_id == organization_id, probe_buckets))
    leads = probe * (BUCKETS // PROBE_BUCKETS)
    if leads < current_app.config["SEGMENT_ESTIMATE_ABOVE"]:
        return None
    cutoff = math.ceil(TARGET_SAMPLE * BUCKETS / max(leads, 1))
    return cutoff if cutoff < BUCKETS else None


def interval(matches: int, fraction: float) -> dict:
    """The estimate of ``matches / fraction`` and its 95 % interval (never below the matches seen)."""
    if fraction >= 1:
        return {"value": matches, "low": matches, "high": matches, "sample_fraction": 1.0}
    spread = Z * math.sqrt((matches + Z * Z / 4) * (1 - fraction))
    centre = matches + Z * Z / 2 * (1 - fraction)
    return {
        "value": round(matches / fraction),
        "low": max(matches, math.floor((centre - spread) / fraction)),
        "high": math.ceil((centre + spread) / fraction),
        "sample_fraction": round(fraction, 6),
    }


# --- the exact count, in the background ---------------------------------------------------------------


def start_exact_count(organization_id: int, user_id: int, builder: str, match_all: bool, raw_rules: list, now: datetime) -> str:
    """Queue the exact count of these (validated) rules, handed over when the caller commits; cancel
    this user's older count for ``builder``. Returns the result id."""
    redis = redis_connection()
    result_id = secrets.token_hex(12)
    record = {"organization_id": organization_id, "status": "queued", "count": None, "match_all": match_all}
    _write(result_id, record | {"rules": raw_rules, "now": now.isoformat()})
    current = _CURRENT.format(organization_id, user_id, builder)
    older = redis.set(current, result_id, ex=RESULT_TTL, get=True)
    if older:
        cancel_exact_count(older.decode())
    enqueue(run_exact_count, result_id, queue="high")
    return result_id


def exact_count_result(organization_id: int, result_id: str) -> dict | None:
    """``{"id", "status", "count"}`` of a result of this organization, or None (unknown, expired, or
    another organization's)."""
    record = _read(result_id)
    if record is None or record["organization_id"] != organization_id:
        return None
    status = "cancelled" if _cancelled(result_id) and record["status"] != "completed" else record["status"]
    return {"id": result_id, "status": status, "count": record["count"] if status == "completed" else None}


def cancel_exact_count(result_id: str) -> None:
    """Flag the count cancelled, and stop its query if it runs. The job records its backend before it
    looks at the flag, and this looks at the backend after raising the flag: one of them sees the other."""
    redis_connection().set(_CANCELLED.format(result_id), 1, ex=RESULT_TTL)
    record = _read(result_id)
    if record and record["status"] == "running" and record.get("backend_pid"):
        db.session.execute(text("SELECT pg_cancel_backend(:pid)"), {"pid": record["backend_pid"]})


def run_exact_count(result_id: str) -> None:
    """The job: the exact count under the statement timeout, unless cancelled first."""
    from .services import rule_references

    record = _read(result_id)
    if record is None or record["status"] != "queued":
        return
    validated, errors = rule_engine.validate_rules(record["rules"], rule_references(record["organization_id"]))
    pid = db.session.scalar(text("SELECT pg_backend_pid()"))
    _write(result_id, record | {"status": "running", "backend_pid": pid})
    count, status = None, "failed"
    if not errors and not _cancelled(result_id):
        timeout_ms = int(current_app.config["SEGMENT_EXACT_COUNT_TIMEOUT_SECONDS"] * 1000)
        db.session.execute(text(f"SET LOCAL statement_timeout = {timeout_ms}"))
        moment = datetime.fromisoformat(record["now"])
        matching = rule_engine.matching_lead_ids_query(validated, record["match_all"], record["organization_id"], moment)
        try:
            count, status = db.session.scalar(select(func.count()).select_from(matching.subquery())), "completed"
        except OperationalError:  # cancelled by a newer edit, or over the timeout
            pass
    db.session.rollback()
    if _cancelled(result_id):
        count, status = None, "cancelled"
    _write(result_id, record | {"status": status, "count": count, "backend_pid": None, "finished_at": utcnow().isoformat()})


def _cancelled(result_id: str) -> bool:
    return bool(redis_connection().exists(_CANCELLED.format(result_id)))


def _read(result_id: str) -> dict | None:
    if not result_id.isalnum():
        return None
    raw = redis_connection().get(_RESULT.format(result_id))
    return json.loads(raw) if raw else None


def _write(result_id: str, record: dict) -> None:
    redis_connection().set(_RESULT.format(result_id), json.dumps(record), ex=RESULT_TTL)


def estimate_preview(organization_id: int, user_id: int, builder: str, match_all: bool, raw_rules: list, limit: int) -> dict:
    """The preview with ``estimate=true``: ``{"count", "lead_ids", "estimate", "result_id"}``; ``count``
    is None until the exact count (``result_id``) completes, unless the sample was every lead. The
    caller commits, which hands the exact count over."""
    from .services import rule_references

    validated, errors = rule_engine.validate_rules(raw_rules, rule_references(organization_id))
    if errors:
        raise ValidationFailed(errors)
    now = utcnow()
    found = estimate_count(organization_id, match_all, validated, now, limit, sample=estimates_apply())
    result_id = None if found["exact"] is not None else start_exact_count(organization_id, user_id, builder, match_all, raw_rules, now)
    return {"count": found["exact"], "lead_ids": found["sample_lead_ids"], "estimate": found["estimate"], "result_id": result_id}
