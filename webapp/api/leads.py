"""Leads: CRUD, bulk create with Idempotency-Key, event timeline."""

from datetime import datetime

from flask import g, jsonify, request, url_for
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select

from ..audit import audit
from ..extensions import db
from ..leads.duplicates import DUPLICATE_HEADER, DuplicatesRejected, receive_lead, receive_leads
from ..leads.schemas import BulkLeads, LeadFields
from ..leads.services import (
    delete_lead,
    lead_list_query,
    update_lead,
    validate_lead,
    validate_leads,
)
from ..models import Lead, LeadEvent
from ..models.base import MAX_ID
from ..models.leads import INSURANCE_TYPES, MAX_TAG_LENGTH, PRIORITIES, SOURCES, STATUSES, US_STATES
from ..replica import reads_from_replica
from ..tenancy import get_or_404
from ..validation import any_case_of
from . import bp
from .auth import READ, WORK, api_auth
from .common import IDEMPOTENCY_HEADER, PAGE_QUERY, Out, created, dump, json_body, no_content, page_envelope, paginate, replay_idempotent
from .docs import documented
from .errors import ApiError


class LeadOut(Out):
    id: int
    organization_id: int
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
    status: str
    priority: str
    source: str | None
    insurance_type: str | None
    state: str | None
    city: str | None
    timezone: str | None
    value_estimate: float | None
    tags: list[str]
    campaign_id: int | None
    assigned_to_id: int | None
    email_opt_out: bool
    created_at: datetime
    updated_at: datetime

    @field_validator("tags")
    @classmethod
    def _sorted(cls, tags: list[str]) -> list[str]:
        return sorted(tags)  # a set: the same order whether the lead was just changed or read back


class LeadEventOut(Out):
    id: int
    lead_id: int
    event_type: str
    data: dict
    actor_id: int | None
    created_at: datetime


class BulkDuplicate(BaseModel):
    index: int
    duplicate_of: int


class BulkCreated(BaseModel):
    created: int
    ids: list[int]
    duplicates: list[BulkDuplicate] | None = Field(
        None, description="The rows merged into a lead (an existing one, or one an earlier row created); only when there are some"
    )


# Duplicates on arrival (SPEC §17), when the organization's contact policy looks for them.
DUPLICATE_OF = {DUPLICATE_HEADER: {"description": "The id of the existing lead", "schema": {"type": "integer", "minimum": 1}}}
DUPLICATE_ANSWERS = {
    200: {"description": "A duplicate, merged: the existing lead, updated", "response": LeadOut, "headers": DUPLICATE_OF},
    409: {
        "description": "A duplicate, rejected (the problem names the existing lead), or an Idempotency-Key conflict",
        "headers": DUPLICATE_OF,
    },
}
BULK_DUPLICATE_ANSWERS = {
    200: {"description": "Every row a duplicate, merged: nothing created", "response": BulkCreated},
    409: {"description": "Duplicates, rejected: one error per row naming the lead it duplicates; nothing created"},
}


def duplicates_problem(exc: DuplicatesRejected, bulk: bool = False) -> ApiError:
    """409 naming, for each refused row, the lead (or the earlier row) it duplicates."""
    errors = [
        {
            "field": f"leads[{index}].{duplicate.matched_on[0]}" if bulk else duplicate.matched_on[0],
            "message": duplicate.describe(lambda row: f"leads[{row}]"),
        }
        for index, duplicate in sorted(exc.duplicates.items())
    ]
    first = exc.duplicates[min(exc.duplicates)]
    if bulk:
        return ApiError(409, f"{len(errors)} of the leads are duplicates; nothing was created", errors=errors)
    detail = f"The lead is a duplicate of lead {first.lead_id} (same {' and '.join(first.matched_on)})"
    return ApiError(409, detail, errors=errors, headers={DUPLICATE_HEADER: str(first.lead_id)})


LIST_QUERY = {
    **PAGE_QUERY,
    **{
        name: {"type": "string", "enum": list(values)}
        for name, values in (("status", STATUSES), ("priority", PRIORITIES), ("source", SOURCES), ("insurance_type", INSURANCE_TYPES))
    },
    "state": {"type": "string", "pattern": any_case_of(sorted(US_STATES))},
    "tag": {"type": "string", "maxLength": MAX_TAG_LENGTH},
    "q": {"type": "string", "maxLength": 200},
    "assigned_to_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
}


@bp.get("/leads")
@api_auth(*READ)
@documented("List leads", response=page_envelope(LeadOut), query=LIST_QUERY, tag="leads")
@reads_from_replica
def list_leads():
    query = lead_list_query(g.organization_id, request.args).order_by(Lead.id)
    return jsonify(paginate(query, LeadOut))


@bp.post("/leads")
@api_auth(*WORK)
@documented(
    "Create a lead",
    body=LeadFields,
    response=LeadOut,
    status=201,
    errors=(409,),
    tag="leads",
    headers=IDEMPOTENCY_HEADER,
    responses=DUPLICATE_ANSWERS,
)
def create_lead_view():
    def handle(commit=True):
        values = validate_lead(json_body(), g.organization_id)
        try:
            lead, duplicate_of = receive_lead(g.organization_id, values, g.user.id)
        except DuplicatesRejected as exc:
            raise duplicates_problem(exc) from None
        if duplicate_of is None:
            audit("create", lead, {"fields": sorted(values)})
            response = created(dump(LeadOut, lead), url_for("api.get_lead", lead_id=lead.id))  # before commit expires it
        else:
            audit("update", lead, {"lead_duplicate_received": {"source": values.get("source")}})
            response = jsonify(dump(LeadOut, lead))
        if commit:
            db.session.commit()
        return response

    response = replay_idempotent(handle)
    if response.status_code == 200:  # a duplicate merged into the lead answered, first or replayed
        response.headers[DUPLICATE_HEADER] = str(response.get_json()["id"])
    return response


@bp.post("/leads/bulk")
@api_auth(*WORK)
@documented(
    "Create up to 1000 leads, all or nothing",
    body=BulkLeads,
    response=BulkCreated,
    status=201,
    errors=(409,),
    tag="leads",
    headers=IDEMPOTENCY_HEADER,
    responses=BULK_DUPLICATE_ANSWERS,
)
def bulk_create_leads():
    def handle(commit=True):
        rows = validate_leads(json_body(), g.organization_id)
        try:
            received = receive_leads(g.organization_id, rows, g.user.id)
        except DuplicatesRejected as exc:
            raise duplicates_problem(exc, bulk=True) from None
        ids = received.ids
        audit("create", changes={"bulk_leads": len(ids), **({"duplicates_merged": len(received.merged)} if received.merged else {})})
        if commit:
            db.session.commit()
        body = {"created": len(ids), "ids": ids}
        if received.merged:
            body["duplicates"] = [{"index": index, "duplicate_of": lead_id} for index, lead_id in sorted(received.merged.items())]
        response = jsonify(body)
        response.status_code = 200 if received.merged and not ids else 201
        return response

    return replay_idempotent(handle)


@bp.get("/leads/<int:lead_id>")
@api_auth(*READ)
@documented("Get a lead", response=LeadOut, tag="leads")
def get_lead(lead_id):
    return jsonify(dump(LeadOut, get_or_404(Lead, lead_id)))


@bp.route("/leads/<int:lead_id>", methods=["PUT", "PATCH"])
@api_auth(*WORK)
@documented("Change the given fields of a lead", body=LeadFields, response=LeadOut, tag="leads")
def update_lead_view(lead_id):
    lead = get_or_404(Lead, lead_id)
    values = validate_lead(json_body(), g.organization_id, partial=True)
    events = update_lead(lead, values, g.user.id)
    audit("update", lead, {e.event_type: e.data for e in events})
    body = dump(LeadOut, lead)  # before commit expires the lead (a reload would cost two queries)
    db.session.commit()
    return jsonify(body)


@bp.delete("/leads/<int:lead_id>")
@api_auth(*WORK)
@documented("Delete a lead", status=204, tag="leads")
def delete_lead_view(lead_id):
    lead = get_or_404(Lead, lead_id)
    audit("delete", lead, {"email": lead.email})
    delete_lead(lead)
    db.session.commit()
    return no_content()


@bp.get("/leads/<int:lead_id>/events")
@api_auth(*READ)
@documented("The lead's event timeline, newest first", response=page_envelope(LeadEventOut), query=PAGE_QUERY, tag="leads")
def lead_events(lead_id):
    lead = get_or_404(Lead, lead_id)
    query = select(LeadEvent).where(LeadEvent.lead_id == lead.id).order_by(LeadEvent.created_at.desc(), LeadEvent.id.desc())
    return jsonify(paginate(query, LeadEventOut))
