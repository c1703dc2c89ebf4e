"""Automations: CRUD (PUT replaces the steps when ``actions`` is given), manual trigger, runs."""

from datetime import datetime
from typing import Annotated

from flask import g, jsonify, url_for
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from ..audit import audit
from ..automations.journey import action_tree
from ..automations.services import (
    MAX_MANUAL_LEADS,
    AutomationFields,
    delete_automation,
    runs_by_id,
    save_automation,
    start_manually,
    validate_automation,
)
from ..automations.stats import automation_stats
from ..automations.versions import versions_of
from ..extensions import db
from ..models import Automation, AutomationRun
from ..tenancy import get_or_404, scoped
from ..validation import RowId, StrictModel, documented_as, parse, requires_one_of
from . import bp
from .auth import CONFIGURE, READ, api_auth
from .common import PAGE_QUERY, Out, created, dump, json_body, no_content, page_envelope, paginate
from .docs import documented
from .email_stats import EmailCountsOut
from .examples import SEED_AUTOMATION


class ActionOut(Out):
    id: int
    action_type: str
    action_order: int
    is_active: bool
    configuration: dict
    delay_minutes: int
    conditions: dict
    branches: Annotated[
        dict[str, list["ActionOut"]] | None,
        Field(description="A flow action's branches, name → steps: yes/no (branch), its variants (split), met/timed_out (wait_until)"),
    ] = None


class GoalOut(Out):
    match_all_rules: bool = True
    rules: list[dict] = []


# A goal as stored ({} for none), shown as null when there is none.
Goal = Annotated[GoalOut | None, BeforeValidator(lambda goal: goal or None), Field(description="Matching it ends a run: goal_reached")]


class AutomationOut(Out):
    id: int
    organization_id: int
    name: str
    description: str | None
    slug: str
    trigger_type: str
    trigger_configuration: dict
    conditions: dict
    is_active: bool
    run_immediately: bool
    delay_minutes: int
    allow_reentry: bool
    campaign_id: int | None
    goal: Goal
    version: Annotated[int, Field(description="Grows by one with every save that changes the trigger, conditions, goal or steps")]
    actions: Annotated[list[ActionOut], Field(description="The steps in order; flow actions hold theirs in branches")]
    created_at: datetime
    updated_at: datetime

    @field_validator("actions", mode="before")
    @classmethod
    def _nested(cls, rows):
        return action_tree(rows)  # the rows nested under their flow actions


class DefinitionOut(Out):
    """What the runs of a version execute."""

    trigger_type: str
    trigger_configuration: dict
    conditions: dict
    goal: Goal
    run_immediately: bool
    delay_minutes: int
    actions: list[ActionOut]


class VersionOut(Out):
    version: int
    created_at: datetime
    definition: DefinitionOut


class ActionStatsOut(BaseModel):
    action_id: int
    entered: Annotated[int, Field(description="Runs that reached the step")]
    completed: int
    skipped: int
    failed: int
    waiting: int
    branches: Annotated[dict[str, int], Field(description="A flow action's runs by the branch they took")]
    emails: Annotated[EmailCountsOut, Field(description="What became of a send_email step's messages (zeros for other steps)")]


class StatsOut(BaseModel):
    runs: Annotated[dict[str, int], Field(description="Runs by status")]
    goal_reached: int
    actions: Annotated[list[ActionStatsOut], Field(description="Per step of the current version, in reading order")]


class StepOut(Out):
    id: int
    action_id: int | None
    action_type: str
    position: int
    status: str
    delay_minutes: int
    due_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    attempts: int
    output: dict | None
    error: str | None


class PathStepOut(BaseModel):
    action_id: int | None
    branch: str | None


class RunOut(Out):
    id: int
    organization_id: int
    automation_id: int
    lead_id: int
    status: str
    version: int
    path: Annotated[list[PathStepOut], Field(description="The steps finished, in order, with the branch each flow action took")]
    trigger_type: str
    trigger_event_id: int | None
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    steps: list[StepOut]
    created_at: datetime
    updated_at: datetime


class TriggerRequest(StrictModel):
    """``lead_id``, ``lead_ids`` or both (the leads are started once each)."""

    model_config = ConfigDict(json_schema_extra=requires_one_of("lead_id", "lead_ids"))

    lead_id: RowId | None = None
    lead_ids: Annotated[list[RowId], Field(max_length=MAX_MANUAL_LEADS), documented_as(minItems=1)] | None = None

    def all_lead_ids(self) -> list[int]:
        return ([self.lead_id] if self.lead_id else []) + (self.lead_ids or [])


class TriggeredRun(BaseModel):
    id: int
    lead_id: int
    status: str


class TriggerResponse(BaseModel):
    runs: list[TriggeredRun]


@bp.get("/automations")
@api_auth(*READ)
@documented("List automations", response=page_envelope(AutomationOut), query=PAGE_QUERY, tag="automations")
def list_automations():
    return jsonify(paginate(scoped(Automation).order_by(Automation.id), AutomationOut))


@bp.post("/automations")
@api_auth(*CONFIGURE)
@documented(
    "Create an automation with its steps",
    body=AutomationFields,
    example=SEED_AUTOMATION,
    response=AutomationOut,
    status=201,
    errors=(409,),
    tag="automations",
)
def create_automation():
    values = validate_automation(json_body(), g.organization_id, partial=False)
    automation = Automation(organization_id=g.organization_id)
    save_automation(automation, values)
    audit("create", automation, {"name": automation.name, "trigger_type": automation.trigger_type})
    db.session.commit()
    return created(dump(AutomationOut, automation), url_for("api.get_automation", automation_id=automation.id))


@bp.get("/automations/<int:automation_id>")
@api_auth(*READ)
@documented("Get an automation", response=AutomationOut, tag="automations")
def get_automation(automation_id):
    return jsonify(dump(AutomationOut, get_or_404(Automation, automation_id)))


@bp.put("/automations/<int:automation_id>")
@api_auth(*CONFIGURE)
@documented(
    "Change an automation; a given actions list replaces its steps",
    body=AutomationFields,
    response=AutomationOut,
    errors=(409,),
    tag="automations",
)
def update_automation(automation_id):
    automation = get_or_404(Automation, automation_id)
    changes = save_automation(automation, validate_automation(json_body(), g.organization_id, partial=True))
    audit("update", automation, changes)
    db.session.commit()
    return jsonify(dump(AutomationOut, automation))


@bp.delete("/automations/<int:automation_id>")
@api_auth(*CONFIGURE)
@documented("Delete an automation (its open runs are cancelled)", status=204, tag="automations")
def delete_automation_view(automation_id):
    automation = get_or_404(Automation, automation_id)
    audit("delete", automation, {"name": automation.name})
    delete_automation(automation)
    db.session.commit()
    return no_content()


@bp.post("/automations/<int:automation_id>/trigger")
@api_auth(*CONFIGURE)
@documented("Start the automation by hand for leads", body=TriggerRequest, response=TriggerResponse, status=202, tag="automations")
def trigger_automation(automation_id):
    automation = get_or_404(Automation, automation_id)
    lead_ids = parse(TriggerRequest, json_body()).all_lead_ids()
    run_ids = start_manually(automation, lead_ids)
    audit("trigger", automation, {"lead_ids": lead_ids[:100], "runs": len(run_ids)})
    db.session.commit()
    runs = runs_by_id(g.organization_id, run_ids)
    response = jsonify({"runs": [{"id": r.id, "lead_id": r.lead_id, "status": r.status} for r in runs]})
    response.status_code = 202
    return response


@bp.get("/automations/<int:automation_id>/runs")
@api_auth(*READ)
@documented("The automation's runs, newest first, with their steps", response=page_envelope(RunOut), query=PAGE_QUERY, tag="automations")
def automation_runs(automation_id):
    automation = get_or_404(Automation, automation_id)
    query = scoped(AutomationRun, AutomationRun.automation_id == automation.id).order_by(AutomationRun.id.desc())
    return jsonify(paginate(query, RunOut))


@bp.get("/automations/runs/<int:run_id>")
@api_auth(*READ)
@documented("One run with its steps", response=RunOut, tag="automations")
def get_run(run_id):
    return jsonify(dump(RunOut, get_or_404(AutomationRun, run_id)))


@bp.get("/automations/<int:automation_id>/versions")
@api_auth(*READ)
@documented(
    "The automation's versions, newest first: what the runs of each execute",
    response=page_envelope(VersionOut),
    query=PAGE_QUERY,
    tag="automations",
)
def automation_versions(automation_id):
    return jsonify(paginate(versions_of(get_or_404(Automation, automation_id)), VersionOut))


@bp.get("/automations/<int:automation_id>/stats")
@api_auth(*READ)
@documented("Runs by status, goals reached, and per step the runs that entered, ended and branched", response=StatsOut, tag="automations")
def automation_stats_view(automation_id):
    return jsonify(StatsOut.model_validate(automation_stats(get_or_404(Automation, automation_id))).model_dump(mode="json"))
