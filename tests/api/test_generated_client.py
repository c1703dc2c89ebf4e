"""A client generated from the served OpenAPI document (openapi-python-client) can drive the whole API.

The generator must run without a warning; every operation must take a generated body model; the seed's
scenario (token, lead, the "High-Value Auto Leads" segment, the "Welcome Email" template, the welcome
automation, a scheduled task, a campaign) runs through the generated operations and models; and an update
made with a generated update model built from one field changes that field and nothing else (the
regression: a generated model sent the create defaults with every update and opted an opted-out lead back in).
"""

import datetime
import inspect
import typing
from decimal import Decimal

import pytest

from tests.api.generated_client import (
    GeneratedApi,
    generate_client,
    is_generated_model,
    nullable_fields,
    required_fields,
    unload_generated_package,
)

PASSWORD = "secret-pass-1"  # tests.factories.make_user's
IGNORED_ON_UPDATE = {"updated_at", "version"}  # what an update may change besides the field it is given


def enum_of(models, name: str):
    """A generated class by its schema's name: the generator adds ``Type0`` when the value may also be null."""
    return getattr(models, name, None) or getattr(models, name + "Type0")


@pytest.fixture(scope="module")
def generated(app, tmp_path_factory):
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200, response.get_data(as_text=True)
    yield generate_client(response.json, tmp_path_factory.mktemp("generated-client"))
    unload_generated_package()


@pytest.fixture
def M(generated):
    """The generated models (``M.LeadFields``, ``M.SegmentFieldsUpdate``, ...)."""
    return generated.models


@pytest.fixture
def gen_api(app, admin, generated, M):
    """The generated client, authenticated through the generated token operation as the org's admin."""
    anonymous = GeneratedApi(generated, app)
    token = anonymous.call("POST /api/v1/auth/token", 200, body=M.TokenRequest(email=admin.email, password=PASSWORD)).parsed
    assert token.token_type.lower() == "bearer" and token.expires_in > 0
    return GeneratedApi(generated, app, token=token.access_token)


# --- the generator and the generated package -------------------------------------------------------------


def test_the_generator_reports_no_warning(generated):
    lines = [line for line in generated.output.splitlines() if line.strip()]
    others = [line for line in lines if not line.startswith("Generating ")]
    assert others == [], f"openapi-python-client {generated.version} said:\n{generated.output}"
    assert generated.seconds < 30, f"generating the client took {generated.seconds:.1f} s"


def test_every_operation_of_the_document_is_generated(generated):
    missing = sorted(set(generated.routes_of_document()) - set(generated.operations))
    assert missing == [], f"operations of the document that the generated client lacks: {missing}"


def test_every_json_request_body_is_a_generated_model(generated):
    """A body the generator could not type comes out as ``body: Any``: the client would send whatever it is given.

    (An object with ``anyOf: [{"required": [...]}, ...]`` is one; ``anyOf`` of whole object schemas is generated as a union of models.)
    """
    untyped = []
    for path, item in generated.document["paths"].items():
        for method, operation in item.items():
            if "application/json" not in operation.get("requestBody", {}).get("content", {}):
                continue
            route = f"{method.upper()} {path}"
            annotation = inspect.signature(generated.operation(route).sync_detailed).parameters["body"].annotation
            if not all(is_generated_model(option, generated) for option in typing.get_args(annotation) or [annotation]):
                schema = operation["requestBody"]["content"]["application/json"]["schema"]
                untyped.append(f"{route}: body {schema.get('$ref', schema)} is generated as {annotation!r}")
    assert untyped == [], "request bodies without a generated model:\n" + "\n".join(untyped)


# --- the seed's scenario -----------------------------------------------------------------------------------


def high_value_auto_rules(M):
    """The seed's rules: a rule is one class per field, typed by the values that field takes."""
    return [
        M.InsuranceTypeRule(field="insurance_type", operator=M.InsuranceTypeRuleOperator("equals"), value=M.InsuranceTypeRuleValue("auto")),
        M.ValueEstimateRule(field="value_estimate", operator=M.ValueEstimateRuleOperator("greater_than"), value="1000"),
        M.StatusRule(field="status", operator=M.StatusRuleOperator("equals"), value=M.StatusRuleValue("new")),
    ]


def welcome_template(M):
    return M.TemplateInWithBodyHtml(  # a new template has an HTML or a text body: one class each
        name="Welcome Email",
        slug="welcome-email",
        subject="Welcome to {{company_name}} Insurance",
        body_html="<html><body><h1>Welcome {{first_name}}!</h1><p>Thank you for your interest in our insurance services.</p></body></html>",
        body_text="Welcome {{first_name}}!\n\nThank you for your interest in our insurance services.",
        template_type=M.TemplateInWithBodyHtmlTemplateType("marketing"),
        is_active=True,
    )


def seed_segment(M, **fields):
    """The seed's High-Value Auto Leads segment as a generated body."""
    return M.SegmentFields(
        name="High-Value Auto Leads",
        description="Leads interested in auto insurance with high estimated value",
        slug="high-value-auto-leads",
        is_dynamic=True,
        rules=high_value_auto_rules(M),
        **fields,
    )


def welcome_automation(M, template_id: int, assignee_id: int, **fields):
    """The seed's welcome automation (send the welcome email, then a follow-up task) as a generated body."""
    return M.LeadCreatedTrigger(  # an automation is one class per trigger type
        name="Welcome Email Automation",
        description="Send welcome email to new leads",
        slug="welcome-email-automation",
        trigger_type="lead_created",
        trigger_configuration=M.LeadCreatedTriggerTriggerConfiguration(),
        actions=welcome_actions(M, template_id, assignee_id),
        **fields,
    )


def welcome_actions(M, template_id: int, assignee_id: int):
    return [
        M.SendEmailStep(  # a step is one class per action type, with the configuration it takes
            action_type="send_email",
            action_order=0,
            is_active=True,
            configuration=M.SendEmailStepConfiguration(
                template_id=template_id, subject="Welcome to Our Insurance Services", personalize=True
            ),
        ),
        M.CreateTaskStep(
            action_type="create_task",
            action_order=1,
            is_active=True,
            configuration=M.CreateTaskStepConfiguration(
                task_type=M.CreateTaskStepConfigurationTaskType("follow_up"),
                title="Follow up with new lead",
                due_date=datetime.date(2025, 12, 31),
                assignee_id=assignee_id,
            ),
        ),
    ]


def test_the_seed_scenario_runs_through_the_generated_client(gen_api, M, admin, org, run_jobs):
    admin_id, org_id = admin.id, org.id

    created = gen_api.call(
        "POST /api/v1/leads",
        201,
        body=M.LeadFieldsWithFirstName(  # a lead has a first name, a last name, an email or a phone: one class each
            first_name="Priya",
            last_name="Shah",
            email="priya@example.com",
            insurance_type=enum_of(M, "LeadFieldsWithFirstNameInsuranceType")("auto"),
            value_estimate=1500,
            status=enum_of(M, "LeadFieldsWithFirstNameStatus")("new"),
            source=enum_of(M, "LeadFieldsWithFirstNameSource")("website"),
            state="tx",
        ),
    )
    lead = created.parsed
    assert created.headers["location"].endswith(f"/api/v1/leads/{lead.id}")
    assert (lead.organization_id, lead.first_name, lead.insurance_type, lead.status, lead.state) == (org_id, "Priya", "auto", "new", "TX")
    assert lead.value_estimate == 1500 and lead.email_opt_out is False and lead.tags == []

    segment = gen_api.call(
        "POST /api/v1/segments",
        201,
        body=seed_segment(M, is_active=True, match_all_rules=True),
    ).parsed
    assert (segment.name, segment.slug, segment.is_dynamic, segment.match_all_rules) == (
        "High-Value Auto Leads",
        "high-value-auto-leads",
        True,
        True,
    )
    assert [(r.field, r.operator) for r in segment.rules] == [
        ("insurance_type", "equals"),
        ("value_estimate", "greater_than"),
        ("status", "equals"),
    ]
    assert segment.rules[0].value == "auto" and Decimal(segment.rules[1].value) == 1000 and segment.rules[2].value == "new"
    assert all(isinstance(rule.id, int) for rule in segment.rules)

    preview = gen_api.call(
        "POST /api/v1/segments/preview", 200, body=M.PreviewFields(match_all_rules=True, rules=high_value_auto_rules(M))
    ).parsed
    assert (preview.count, preview.lead_ids) == (1, [lead.id])
    evaluated = gen_api.call("POST /api/v1/segments/{segment_id}/evaluate", 200, segment_id=segment.id, limit=10).parsed
    assert (evaluated.segment_id, evaluated.count, evaluated.lead_ids) == (segment.id, 1, [lead.id])
    memberships = gen_api.call("POST /api/v1/segments/{segment_id}/update-memberships", 200, segment_id=segment.id).parsed
    assert (memberships.segment_id, memberships.member_count) == (segment.id, 1)
    members = gen_api.call("GET /api/v1/segments/{segment_id}/leads", 200, segment_id=segment.id).parsed
    assert [member.id for member in members.items] == [lead.id] and members.total == 1

    template = gen_api.call("POST /api/v1/automations/email-templates", 201, body=welcome_template(M)).parsed
    assert (template.name, template.slug, template.template_type, template.version) == ("Welcome Email", "welcome-email", "marketing", 1)
    rendered = gen_api.call(
        "POST /api/v1/automations/email-templates/{template_id}/preview", 200, template_id=template.id, body=M.PreviewIn(lead_id=lead.id)
    ).parsed
    assert rendered.subject == "Welcome to Acme Insurance Insurance"
    assert "<h1>Welcome Priya!</h1>" in rendered.html and rendered.text.startswith("Welcome Priya!")
    assert rendered.missing_variables == []

    automation = gen_api.call(
        "POST /api/v1/automations",
        201,
        body=welcome_automation(M, template.id, admin_id, is_active=True, run_immediately=True),
    ).parsed
    assert (automation.trigger_type, automation.is_active, automation.run_immediately) == ("lead_created", True, True)
    assert [(a.action_type, a.action_order) for a in automation.actions] == [("send_email", 0), ("create_task", 1)]
    assert automation.actions[0].configuration.to_dict()["template_id"] == template.id

    triggered = gen_api.call(
        "POST /api/v1/automations/{automation_id}/trigger",
        202,
        automation_id=automation.id,
        body=M.TriggerRequestWithLeadId(lead_id=lead.id),
    )
    (run,) = triggered.parsed.runs
    assert run.lead_id == lead.id
    run_jobs()
    run = gen_api.call("GET /api/v1/automations/runs/{run_id}", 200, run_id=run.id).parsed
    assert run.status == "completed", (run.status, run.error, [(s.action_type, s.status, s.error) for s in run.steps])
    assert [(step.action_type, step.status) for step in run.steps] == [("send_email", "completed"), ("create_task", "completed")]
    runs = gen_api.call("GET /api/v1/automations/{automation_id}/runs", 200, automation_id=automation.id).parsed
    assert run.id in [r.id for r in runs.items]

    due = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)
    task = gen_api.call(
        "POST /api/v1/automations/scheduled-tasks",
        201,
        body=M.BatchOperationTask.from_dict(  # a task is one class per task type, with the payloads it takes
            {
                "task_type": "batch_operation",
                "name": "Tag the high-value auto leads",
                "payload": {"operation": "add_tag", "tag": "high-value", "segment_id": segment.id},
                "scheduled_for": due.isoformat(),
                "priority": 80,
            }
        ),
    ).parsed
    assert (task.task_type, task.status, task.priority, task.max_attempts, task.attempts) == ("batch_operation", "pending", 80, 3, 0)
    processed = gen_api.call("POST /api/v1/automations/scheduled-tasks/process-due", 200).parsed
    assert (processed.processed, processed.completed, processed.failed) == (1, 1, 0)
    assert gen_api.call("GET /api/v1/automations/scheduled-tasks/{task_id}", 200, task_id=task.id).parsed.status == "completed"
    assert "high-value" in gen_api.call("GET /api/v1/leads/{lead_id}", 200, lead_id=lead.id).parsed.tags

    campaign = gen_api.call(
        "POST /api/v1/campaigns",
        201,
        body=M.CampaignFields(
            name="Spring Auto Push",
            description="Auto leads from the website",
            status=M.CampaignFieldsStatus("active"),
            channel="email",
            budget=5000,
            starts_at=datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC),
            ends_at=datetime.datetime(2026, 5, 31, tzinfo=datetime.UTC),
        ),
    ).parsed
    assert (campaign.name, campaign.status, campaign.channel, campaign.budget) == ("Spring Auto Push", "active", "email", 5000)
    assert campaign.starts_at == datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC)


def journey_actions(M):
    """A journey as generated models: a branch on the status; new leads get a split, variant b waits for a
    status change and exits when it times out; the others exit at once."""
    weights = M.SplitStepConfigurationWeights()
    weights.additional_properties = {"a": 50, "b": 50}
    variants = M.SplitStepBranchesType0()
    variants.additional_properties = {
        "a": [M.AddTagStep(action_type="add_tag", configuration=M.AddTagStepConfiguration(tag="variant-a"))],
        "b": [
            M.WaitUntilStep(
                action_type="wait_until",
                configuration=M.WaitUntilStepConfiguration(
                    event_type=M.WaitUntilStepConfigurationEventType("lead_status_changed"), timeout_minutes=60
                ),
                branches=M.WaitUntilStepBranchesType0(
                    met=[M.AddTagStep(action_type="add_tag", configuration=M.AddTagStepConfiguration(tag="moved"))],
                    timed_out=[M.ExitStep(action_type="exit", configuration=M.ExitStepConfiguration(reason="no news"))],
                ),
            )
        ],
    }
    new_leads = [M.StatusRule(field="status", operator=M.StatusRuleOperator("equals"), value=M.StatusRuleValue("new"))]
    return [
        M.BranchStep(
            action_type="branch",
            configuration=M.BranchStepConfiguration(rules=new_leads),
            branches=M.BranchStepBranchesType0(
                yes=[M.SplitStep(action_type="split", configuration=M.SplitStepConfiguration(weights=weights), branches=variants)],
                no=[M.ExitStep(action_type="exit", configuration=M.ExitStepConfiguration())],
            ),
        )
    ]


def test_a_journey_runs_through_the_generated_client(gen_api, M, org):
    converted = [M.StatusRule(field="status", operator=M.StatusRuleOperator("equals"), value=M.StatusRuleValue("converted"))]
    body = M.ManualTrigger(name="Journey", trigger_type="manual", actions=journey_actions(M), goal=M.GoalFields(rules=converted))
    created = gen_api.call("POST /api/v1/automations", 201, body=body).parsed
    automation = gen_api.call("GET /api/v1/automations/{automation_id}", 200, automation_id=created.id).parsed
    assert automation.to_dict() == created.to_dict()
    assert automation.version == 1
    assert [rule.to_dict() for rule in automation.goal.rules] == [{"field": "status", "operator": "equals", "value": "converted"}]
    (flow,) = automation.actions
    assert flow.action_type == "branch" and set(flow.branches.additional_properties) == {"yes", "no"}
    (split,) = flow.branches["yes"]
    assert split.configuration["weights"] == {"a": 50, "b": 50}
    assert [step.configuration.to_dict() for step in split.branches["a"]] == [{"tag": "variant-a"}]
    (wait,) = split.branches["b"]
    assert (wait.action_type, wait.configuration["timeout_minutes"]) == ("wait_until", 60)
    assert [(step.action_type, step.configuration.to_dict()) for step in wait.branches["timed_out"]] == [("exit", {"reason": "no news"})]
    assert [step.action_type for step in flow.branches["no"]] == ["exit"] and flow.branches["no"][0].branches is None

    renamed = gen_api.call(
        "PUT /api/v1/automations/{automation_id}", 200, automation_id=automation.id, body=M.AutomationFieldsUpdate(name="Journey 2")
    )
    assert renamed.parsed.version == 1
    versions = gen_api.call("GET /api/v1/automations/{automation_id}/versions", 200, automation_id=automation.id).parsed
    assert [(v.version, len(v.definition.actions)) for v in versions.items] == [(1, 1)] and versions.total == 1
    assert versions.items[0].definition.actions[0].branches["yes"][0].action_type == "split"

    lead = gen_api.call("POST /api/v1/leads", 201, body=M.LeadFieldsWithFirstName(first_name="Ana")).parsed
    gen_api.call(
        "POST /api/v1/automations/{automation_id}/trigger",
        202,
        automation_id=automation.id,
        body=M.TriggerRequestWithLeadId(lead_id=lead.id),
    )
    stats = gen_api.call("GET /api/v1/automations/{automation_id}/stats", 200, automation_id=automation.id).parsed
    assert stats.runs.additional_properties == {"pending": 1} and stats.goal_reached == 0
    assert [counts.action_id for counts in stats.actions][:2] == [flow.id, split.id]
    assert (stats.actions[0].entered, stats.actions[0].emails.sent) == (0, 0)


# --- an update of one field changes nothing else --------------------------------------------------------


def make_campaign(gen_api, M, admin_id=None):
    return gen_api.call(
        "POST /api/v1/campaigns",
        201,
        body=M.CampaignFields(
            name="Spring Auto Push",
            description="Auto leads from the website",
            status=M.CampaignFieldsStatus("active"),
            channel="email",
            budget="5000.50",
            starts_at=datetime.datetime(2026, 3, 1, 8, 30, tzinfo=datetime.UTC),
            ends_at=datetime.datetime(2026, 5, 31, tzinfo=datetime.UTC),
        ),
    ).parsed


def make_lead(gen_api, M, admin_id):
    campaign = make_campaign(gen_api, M)
    return gen_api.call(
        "POST /api/v1/leads",
        201,
        body=M.LeadFieldsWithFirstName(
            first_name="Olga",
            last_name="Opted-Out",
            email="olga@example.com",
            phone="+1 512 555 0199",
            status=enum_of(M, "LeadFieldsWithFirstNameStatus")("new"),
            priority=enum_of(M, "LeadFieldsWithFirstNamePriority")("high"),
            source=enum_of(M, "LeadFieldsWithFirstNameSource")("referral"),
            insurance_type=enum_of(M, "LeadFieldsWithFirstNameInsuranceType")("home"),
            state="TX",
            city="Austin",
            value_estimate=2500.5,
            tags=["vip", "renewal"],
            campaign_id=campaign.id,
            assigned_to_id=admin_id,
            email_opt_out=True,
        ),
    ).parsed


def make_segment(gen_api, M, admin_id):
    return gen_api.call(
        "POST /api/v1/segments",
        201,
        body=seed_segment(M, is_active=False, match_all_rules=False),  # not the defaults: an update must keep them
    ).parsed


def make_automation(gen_api, M, admin_id):
    campaign = make_campaign(gen_api, M)
    template = gen_api.call("POST /api/v1/automations/email-templates", 201, body=welcome_template(M)).parsed
    return gen_api.call(
        "POST /api/v1/automations",
        201,
        body=welcome_automation(
            M,
            template.id,
            admin_id,
            conditions=M.ConditionsFields.from_dict(
                {"match_all": True, "rules": [{"field": "insurance_type", "operator": "equals", "value": "auto"}]}
            ),
            is_active=True,
            run_immediately=False,
            delay_minutes=30,
            allow_reentry=True,
            campaign_id=campaign.id,
        ),
    ).parsed


UPDATES = {
    # kind: (make, get route, path parameter, update route, the generated update model and its one field)
    "lead": (make_lead, "GET /api/v1/leads/{lead_id}", "lead_id", "PATCH /api/v1/leads/{lead_id}", "LeadFieldsUpdate", "status"),
    "segment": (
        make_segment,
        "GET /api/v1/segments/{segment_id}",
        "segment_id",
        "PUT /api/v1/segments/{segment_id}",
        "SegmentFieldsUpdate",
        "name",
    ),
    "automation": (
        make_automation,
        "GET /api/v1/automations/{automation_id}",
        "automation_id",
        "PUT /api/v1/automations/{automation_id}",
        "AutomationFieldsUpdate",
        "name",
    ),
    "campaign": (
        make_campaign,
        "GET /api/v1/campaigns/{campaign_id}",
        "campaign_id",
        "PUT /api/v1/campaigns/{campaign_id}",
        "CampaignFieldsUpdate",
        "name",
    ),
}


def new_value(M, kind: str):
    return enum_of(M, "LeadFieldsUpdateStatus")("contacted") if kind == "lead" else f"Renamed {kind}"


@pytest.mark.parametrize("kind", list(UPDATES))
def test_an_update_of_one_field_with_the_generated_model_changes_nothing_else(gen_api, M, admin, kind):
    make, get_route, id_name, update_route, model_name, field = UPDATES[kind]
    created = make(gen_api, M, admin.id)
    before = gen_api.raw(gen_api.call(get_route, 200, **{id_name: created.id}))

    value = new_value(M, kind)
    body = getattr(M, model_name)(**{field: value})
    updated = gen_api.call(update_route, 200, **{id_name: created.id, "body": body})
    expected_value = getattr(value, "value", value)  # an enum member is sent as its value
    assert gen_api.last_body_sent() == {field: expected_value}, f"the generated {model_name} sent more than the one field it was given"
    after = gen_api.raw(gen_api.call(get_route, 200, **{id_name: created.id}))

    assert gen_api.raw(updated) == after, f"{update_route} answered another {kind} than a GET then shows"
    assert after[field] == expected_value
    unchanged = {k: v for k, v in before.items() if k not in IGNORED_ON_UPDATE | {field}}
    now = {k: v for k, v in after.items() if k not in IGNORED_ON_UPDATE | {field}}
    changed = {k: (unchanged.get(k), now.get(k)) for k in unchanged.keys() | now.keys() if unchanged.get(k) != now.get(k)}
    assert changed == {}, f"updating only {field} of a {kind} also changed (before, after): {changed}"
    if kind == "lead":
        assert after["email_opt_out"] is True, "the opted-out lead was opted back in"


@pytest.mark.parametrize("kind", list(UPDATES))
def test_every_null_that_the_generated_update_model_allows_is_accepted(gen_api, generated, M, admin, kind):
    """The document (and so the generated type) says that the field takes null: the server must take it, never answer 500."""
    make, get_route, id_name, update_route, model_name, _ = UPDATES[kind]
    created = make(gen_api, M, admin.id)
    model = getattr(M, model_name)
    before = gen_api.raw(gen_api.call(get_route, 200, **{id_name: created.id}))
    refused = []
    for field in nullable_fields(model, generated):
        response = gen_api.send(update_route, **{id_name: created.id, "body": model(**{field: None})})
        if response.status_code != 200:
            answer = f"{int(response.status_code)} {response.content.decode(errors='replace')[:300]}"
            after = gen_api.send(get_route, **{id_name: created.id})
            if after.status_code != 200:
                answer += f"; then {get_route} answers {int(after.status_code)}"
            refused.append(f"{model_name}.{field} = null: {answer}")
        # Put the value back (and repair what a failed update left), so that every field is tried on the object as made.
        gen_api.call(update_route, 200, **{id_name: created.id, "body": model.from_dict({field: before[field]})})
    assert refused == [], f"{update_route}: nulls that the document allows and the server refuses:\n" + "\n".join(refused)


# --- what a generated create model lets a client leave out or set to null --------------------------------


def create_samples(M, n: int) -> dict:
    """kind: (route, status, generated model, a valid value of every field the server needs, wrap the model into the body)."""
    return {
        "lead": ("POST /api/v1/leads", 201, M.LeadFieldsWithFirstName, {"first_name": "Lee", "email": f"lee{n}@example.com"}, None),
        "segment": ("POST /api/v1/segments", 201, M.SegmentFields, {"name": f"Segment {n}"}, None),
        "segment rule": (
            "POST /api/v1/segments/preview",
            200,
            M.StateRule,
            {"field": "state", "operator": M.StateRuleOperator("equals"), "value": "TX"},
            lambda rule: M.PreviewFields(rules=[rule]),
        ),
        "automation": (
            "POST /api/v1/automations",
            201,
            M.ManualTrigger,
            {"name": f"Automation {n}", "trigger_type": "manual"},
            None,
        ),
        "campaign": ("POST /api/v1/campaigns", 201, M.CampaignFields, {"name": f"Campaign {n}"}, None),
        "email template": (
            "POST /api/v1/automations/email-templates",
            201,
            M.TemplateInWithBodyText,
            {"name": f"Template {n}", "subject": "Hi", "body_text": "Hello"},
            None,
        ),
        "scheduled task": (
            "POST /api/v1/automations/scheduled-tasks",
            201,
            M.SystemMaintenanceTask,
            {"task_type": "system_maintenance", "payload": M.SystemMaintenanceTaskPayloadType1(operation="refresh_dynamic_segments")},
            None,
        ),
    }


@pytest.mark.parametrize("kind", ["lead", "segment", "segment rule", "automation", "campaign", "email template", "scheduled task"])
def test_what_a_generated_create_model_leaves_optional_or_nullable_the_server_does_not_require(gen_api, generated, M, kind):
    """Built with only the fields the document requires, a create body is accepted; so is null in a field whose type admits it."""
    route, status, model, _, wrap = create_samples(M, 0)[kind]
    required = required_fields(model)
    attempts = [(f"with only its required fields {required}", lambda sample: {k: sample[k] for k in required})]
    attempts += [
        (f"with {field} = null", lambda sample, field=field: {**sample, field: None}) for field in nullable_fields(model, generated)
    ]
    refused = []
    for n, (describe, fields_of) in enumerate(attempts, start=1):
        body = model(**fields_of(create_samples(M, n)[kind][3]))  # fresh names: no duplicate slugs
        response = gen_api.send(route, body=wrap(body) if wrap else body)
        if response.status_code != status:
            answer = f"{int(response.status_code)} {response.content.decode(errors='replace')[:300]}"
            refused.append(f"{model.__name__} {describe}: sent {gen_api.last_body_sent()}, answered {answer}")
    assert refused == [], f"{route} ({kind}): what the generated model allows, the server refuses:\n" + "\n".join(refused)
