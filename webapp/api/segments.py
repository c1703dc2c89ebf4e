"""Segments: CRUD (PUT replaces the rules when ``rules`` is given), preview, evaluate, memberships."""

from datetime import datetime
from typing import Annotated, Any

from flask import g, jsonify, request, url_for
from pydantic import BaseModel, WithJsonSchema

from ..audit import audit
from ..extensions import db
from ..models import Lead, Segment
from ..models.base import MAX_ID
from ..replica import reads_from_replica
from ..segments import estimates, services
from ..segments.services import PreviewFields, SegmentFields
from ..tenancy import get_or_404, scoped
from ..validation import StrictModel, ValidationFailed, parse
from . import bp
from .auth import CONFIGURE, READ, api_auth
from .common import PAGE_QUERY, Out, created, dump, int_arg, json_body, no_content, page_envelope, paginate
from .docs import documented
from .errors import ApiError
from .examples import SEED_SEGMENT
from .leads import LeadOut

LIMIT_QUERY = {"limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}}
PREVIEW_QUERY = {
    **LIMIT_QUERY,
    "estimate": {
        "type": "boolean",
        "default": False,
        "description": "Answer at once with an estimate from a random sample of the leads; the exact count follows at result_id",
    },
}
PREVIEW_IDS = "The first matching lead ids (with estimate=true: of the sample, when the count is not exact)"


class RuleOut(Out):
    id: int
    field: str
    operator: str
    value: Any
    position: int
    created_at: datetime
    updated_at: datetime


class SegmentOut(Out):
    id: int
    organization_id: int
    name: str
    description: str | None
    slug: str
    is_active: bool
    is_dynamic: bool
    match_all_rules: bool
    member_count: int
    last_evaluated_at: datetime | None
    rules: list[RuleOut]
    created_at: datetime
    updated_at: datetime


class Estimate(BaseModel):
    value: int
    low: int
    high: int
    sample_fraction: float


class PreviewResult(BaseModel):
    count: Annotated[
        int | None, WithJsonSchema({"type": ["integer", "null"], "description": "null only with estimate=true, until result_id completes"})
    ]
    lead_ids: Annotated[list[int], WithJsonSchema({"type": "array", "items": {"type": "integer"}, "description": PREVIEW_IDS})]
    estimate: Estimate | None = None
    result_id: Annotated[
        str | None, WithJsonSchema({"type": ["string", "null"], "description": "see GET /segments/preview/results/{id}"})
    ] = None


class ExactCount(BaseModel):
    id: str
    status: Annotated[str, WithJsonSchema({"type": "string", "enum": ["queued", "running", "completed", "failed", "cancelled"]})]
    count: int | None


class EvaluateResult(BaseModel):
    segment_id: int
    count: int
    lead_ids: list[int]


class MembershipResult(BaseModel):
    segment_id: int
    entered: int
    exited: int
    member_count: int


class LeadIds(StrictModel):
    # Each id is checked by the service (``checked_lead_ids``), which names the field as a whole.
    lead_ids: Annotated[
        list,
        WithJsonSchema(
            {
                "type": "array",
                "items": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                "minItems": 1,
                "maxItems": services.MAX_LEAD_IDS,
                "description": "Leads of your organization (another id is a 422 naming lead_ids).",
            }
        ),
    ]


class AddedLeads(BaseModel):
    added: int
    already_members: int


class RemovedLeads(BaseModel):
    removed: int


class MemberOut(LeadOut):
    entered_at: datetime


class LeadSegmentOut(SegmentOut):
    entered_at: datetime
    added_by: str


def _limit() -> int:
    return int_arg("limit", 100, minimum=1, maximum=1000)


@bp.get("/segments")
@api_auth(*READ)
@documented("List segments", response=page_envelope(SegmentOut), query=PAGE_QUERY, tag="segments")
@reads_from_replica
def list_segments():
    return jsonify(paginate(scoped(Segment).order_by(Segment.id), SegmentOut))


@bp.post("/segments")
@api_auth(*CONFIGURE)
@documented(
    "Create a segment with its rules (a dynamic one is filled at once, or by a job for many leads)",
    body=SegmentFields,
    example=SEED_SEGMENT,
    response=SegmentOut,
    status=201,
    errors=(409,),
    tag="segments",
)
def create_segment():
    segment, refresh = services.create_segment(g.organization_id, json_body(), g.user.id)
    audit("create", segment, {"name": segment.name, "rules": len(segment.rules)})
    db.session.commit()
    return created(dump(SegmentOut, segment), url_for("api.get_segment", segment_id=segment.id))


@bp.post("/segments/preview")
@api_auth(*READ)
@documented(
    "Count and list the leads unsaved rules match; nothing is saved. With estimate=true: an estimate "
    "with its 95 % interval at once (count null), the exact count computed in the background at "
    "result_id; a newer estimate by the same user cancels the older exact count. Where the sample is "
    "every lead (a small organization), count is exact and result_id null",
    body=PreviewFields,
    response=PreviewResult,
    query=PREVIEW_QUERY,
    tag="segments",
)
@reads_from_replica
def preview_segment():
    limit = _limit()
    fields = parse(PreviewFields, json_body())
    raw_rules = [{"field": r.field, "operator": r.operator, "value": r.value} for r in fields.rules]
    if request.args.get("estimate") != "true":
        return jsonify(services.preview_rules(g.organization_id, fields.match_all_rules, raw_rules, limit))
    result = estimates.estimate_preview(g.organization_id, g.user.id, "api", fields.match_all_rules, raw_rules, limit)
    db.session.commit()  # hands the exact count over
    return jsonify(result)


@bp.get("/segments/preview/results/<result_id>")
@api_auth(*READ)
@documented("The exact count that an estimated preview started (kept for ten minutes)", response=ExactCount, tag="segments")
def get_exact_count(result_id):
    result = estimates.exact_count_result(g.organization_id, result_id)
    if result is None:
        raise ApiError(404, "Not found")  # unknown, expired, or another organization's
    return jsonify(result)


@bp.get("/segments/leads/<int:lead_id>")
@api_auth(*READ)
@documented("The lead's current segments, each with entered_at", response=page_envelope(LeadSegmentOut), query=PAGE_QUERY, tag="segments")
def lead_segments(lead_id):
    lead = get_or_404(Lead, lead_id)
    return jsonify(
        paginate(
            services.segments_of_lead(g.organization_id, lead.id),
            item=lambda row: LeadSegmentOut(
                **SegmentOut.model_validate(row.Segment).model_dump(),
                entered_at=row.LeadSegment.entered_at,
                added_by=row.LeadSegment.added_by,
            ),
        )
    )


@bp.get("/segments/<int:segment_id>")
@api_auth(*READ)
@documented("Get a segment with its rules", response=SegmentOut, tag="segments")
def get_segment(segment_id):
    return jsonify(dump(SegmentOut, get_or_404(Segment, segment_id)))


@bp.put("/segments/<int:segment_id>")
@api_auth(*CONFIGURE)
@documented(
    "Change the given fields of a segment; a given rules list replaces its rules",
    body=SegmentFields,
    response=SegmentOut,
    errors=(409,),
    tag="segments",
)
def update_segment(segment_id):
    segment = get_or_404(Segment, segment_id)
    changes, _ = services.update_segment(segment, json_body(), g.user.id)
    audit("update", segment, changes)
    db.session.commit()
    db.session.refresh(segment)
    return jsonify(dump(SegmentOut, segment))


@bp.delete("/segments/<int:segment_id>")
@api_auth(*CONFIGURE)
@documented("Delete a segment with its membership history", status=204, tag="segments")
def delete_segment(segment_id):
    segment = get_or_404(Segment, segment_id)
    audit("delete", segment, {"name": segment.name})
    services.delete_segment(segment)
    db.session.commit()
    return no_content()


@bp.post("/segments/<int:segment_id>/evaluate")
@api_auth(*READ)
@documented(
    "Count and list (ids ascending, the first `limit`) the leads the rules match now; nothing is saved",
    response=EvaluateResult,
    query=LIMIT_QUERY,
    errors=(409,),
    tag="segments",
)
@reads_from_replica
def evaluate_segment(segment_id):
    segment = get_or_404(Segment, segment_id)
    return jsonify(services.evaluate_segment(segment, _limit()))


@bp.post("/segments/<int:segment_id>/update-memberships")
@api_auth(*CONFIGURE)
@documented("Refresh a dynamic segment's members now (409 for a static segment)", response=MembershipResult, errors=(409,), tag="segments")
def update_memberships(segment_id):
    segment = get_or_404(Segment, segment_id)
    refresh = services.refresh_now(segment, g.user.id, "api")
    audit("trigger", segment, {"entered": refresh.entered, "exited": refresh.exited})
    db.session.commit()
    return jsonify({"segment_id": segment.id, "entered": refresh.entered, "exited": refresh.exited, "member_count": refresh.member_count})


@bp.post("/segments/<int:segment_id>/leads")
@api_auth(*CONFIGURE)
@documented(
    "Add leads to a static segment (409 for a dynamic one; unknown ids are a 422)",
    body=LeadIds,
    response=AddedLeads,
    errors=(409,),
    tag="segments",
)
def add_segment_leads(segment_id):
    segment = get_or_404(Segment, segment_id)
    result = services.add_leads(segment, parse(LeadIds, json_body()).lead_ids, g.user.id)
    audit("update", segment, {"added_leads": result["added"]})
    db.session.commit()
    return jsonify(result)


@bp.delete("/segments/<int:segment_id>/leads")
@api_auth(*CONFIGURE)
@documented(
    "Remove leads from a static segment: ?lead_ids=1,2 (409 for a dynamic one). A JSON body "
    '{"lead_ids": [1, 2]} is accepted instead of the query, as the seed sends it.',
    response=RemovedLeads,
    query={"lead_ids": {"type": "string", "pattern": r"^[0-9]{1,10}(,[0-9]{1,10})*$"}},
    required_query=("lead_ids",),
    errors=(409,),
    tag="segments",
)
def remove_segment_leads(segment_id):
    segment = get_or_404(Segment, segment_id)
    result = services.remove_leads(segment, _lead_ids_of_delete(), g.user.id)
    audit("update", segment, {"removed_leads": result["removed"]})
    db.session.commit()
    return jsonify(result)


@bp.get("/segments/<int:segment_id>/leads")
@api_auth(*READ)
@documented("The segment's current members, each with entered_at", response=page_envelope(MemberOut), query=PAGE_QUERY, tag="segments")
def segment_members(segment_id):
    segment = get_or_404(Segment, segment_id)
    return jsonify(
        paginate(
            services.members_query(segment),
            item=lambda row: MemberOut(**LeadOut.model_validate(row.Lead).model_dump(), entered_at=row.entered_at),
        )
    )


def _lead_ids_of_delete():
    """``?lead_ids=1,2`` or a JSON body ``{"lead_ids": [...]}``."""
    raw = request.args.get("lead_ids")
    if raw is not None:
        parts = [part.strip() for part in raw.split(",") if part.strip()]
        if not parts or not all(part.isdigit() and len(part) <= 10 for part in parts):
            raise ValidationFailed([{"field": "lead_ids", "message": "must be comma-separated lead ids"}])
        return [int(part) for part in parts]
    if not request.get_data():
        raise ValidationFailed([{"field": "lead_ids", "message": "required (in the body or as ?lead_ids=1,2)"}])
    return parse(LeadIds, json_body()).lead_ids
