"""Activity rules (SPEC §16): ``{"field": "activity", "operator": "has_done" | "has_not_done", "value":
{"event_type", "within", "at_least", "template_id", "automation_id"}}`` — validated key by key, the
same answer in SQL (set-based and per lead) and in the Python evaluator, the organization's own
templates and automations only, in segments, automation conditions and journey branches, explained
in words, and evaluated for a batch of runs with one read of their leads' events."""

from datetime import timedelta

import pytest
from sqlalchemy import event, select

from tests.automations.helpers import flow, make_automation, runs_of, step
from tests.automations.test_faults import bulk_create
from tests.conftest import login_browser
from tests.factories import make_lead, make_org
from webapp.automations.conditions import lead_matches
from webapp.automations.engine import execute_runs
from webapp.extensions import db
from webapp.models import Automation, AutomationRun, EmailTemplate, Lead, LeadEvent, OutboxMessage, Segment, utcnow
from webapp.models.leads import LEAD_EVENT_TYPES
from webapp.segments import services
from webapp.segments.builder import describe_rule, errors_by_row, row_view, rules_from_form
from webapp.segments.rules import compile_rules, evaluate_rules, has_relative_dates, lead_field_values, validate_rules

NOW = utcnow()


def activity(operator="has_done", **value) -> dict:
    return {"field": "activity", "operator": operator, "value": {"event_type": "email_opened", **value}}


def errors_of(raw: dict) -> list[dict]:
    rules, errors = validate_rules([raw])
    assert rules == []
    return errors


def add_event(lead: Lead, event_type: str = "email_opened", ago: timedelta = timedelta(0), **data) -> None:
    db.session.add(LeadEvent(organization_id=lead.organization_id, lead_id=lead.id, event_type=event_type, data=data, created_at=NOW - ago))
    db.session.commit()


def answers(org, leads: list[Lead], raw_rules: list[dict], match_all: bool = True) -> tuple[set, set, set]:
    """The matching leads by the compiled SQL, by the SQL planned per lead, by the Python evaluator
    (with the events read as conditions read them)."""
    rules, errors = validate_rules(raw_rules)
    assert errors == []
    ids = [lead.id for lead in leads]
    condition = compile_rules(rules, match_all, org.id, NOW)
    per_lead = compile_rules(rules, match_all, org.id, NOW, per_lead=True).label("matches")
    sql = set(db.session.scalars(select(Lead.id).where(condition, Lead.id.in_(ids))))
    rechecked = {row.id for row in db.session.execute(select(Lead.id, per_lead).where(Lead.id.in_(ids))) if row.matches}
    events = services.lead_activity(org.id, ids, {rule.value.event_type for rule in rules if rule.field == "activity"})
    python = {
        lead.id for lead in leads if evaluate_rules(rules, match_all, lead_field_values(lead), set(lead.tags), NOW, events.get(lead.id, []))
    }
    return sql, rechecked, python


def agree(org, leads, raw_rules, match_all=True) -> set:
    sql, rechecked, python = answers(org, leads, raw_rules, match_all)
    assert sql == rechecked == python
    return sql


# --- Validation ------------------------------------------------------------------------------------


def test_the_event_type_is_required_and_must_be_a_lead_event_type():
    assert errors_of({"field": "activity", "operator": "has_done", "value": {}}) == [
        {"field": "rules[0].value.event_type", "message": "is required"}
    ]
    [error] = errors_of(activity(event_type="email_read"))
    assert error["field"] == "rules[0].value.event_type" and "unknown event type 'email_read'" in error["message"]


@pytest.mark.parametrize("event_type", LEAD_EVENT_TYPES)
def test_every_lead_event_type_is_accepted(event_type):
    rules, errors = validate_rules([activity(event_type=event_type)])
    assert errors == [] and rules[0].value.event_type == event_type


@pytest.mark.parametrize(
    ("within", "canonical", "delta"),
    [
        ("30 minutes", "30 minutes", timedelta(minutes=30)),
        ("2 hours", "2 hours", timedelta(hours=2)),
        ("7 days", "7 days", timedelta(days=7)),
        ("1 week", "1 week", timedelta(weeks=1)),
        ("1 days", "1 day", timedelta(days=1)),
        ("2 week", "2 weeks", timedelta(weeks=2)),
        ("999 weeks", "999 weeks", timedelta(weeks=999)),
    ],
)
def test_within_is_a_whole_number_and_a_unit(within, canonical, delta):
    [rule], errors = validate_rules([activity(within=within)])
    assert errors == []
    assert rule.value.within.since(NOW) == NOW - delta
    assert rule.as_dict()["value"]["within"] == canonical
    assert has_relative_dates([rule])  # a window moves with time: the periodic refresh keeps the segment true


@pytest.mark.parametrize(
    "within",
    ["0 days", "1000 days", "07 days", "7 months", "7days", "7  days", " 7 days", "7 Days", "seven days", "7 days ago", "", 7, ["7 days"]],
)
def test_anything_else_for_within_is_refused_naming_the_key(within):
    [error] = errors_of(activity(within=within))
    assert error["field"] == "rules[0].value.within"
    assert error["message"].startswith("must be a whole number from 1 to 999 and a unit: minutes, hours, days or weeks")


@pytest.mark.parametrize("at_least", [1, 2, 1000])
def test_at_least_is_a_whole_number_from_1_to_1000(at_least):
    [rule], errors = validate_rules([activity(at_least=at_least)])
    assert errors == [] and rule.value.at_least == at_least


@pytest.mark.parametrize("at_least", [0, -1, 1001, 2.5, "3", True])
def test_other_counts_are_refused(at_least):
    assert errors_of(activity(at_least=at_least)) == [
        {"field": "rules[0].value.at_least", "message": "must be a whole number from 1 to 1000"}
    ]


@pytest.mark.parametrize("key, kind", [("template_id", "email template"), ("automation_id", "automation")])
@pytest.mark.parametrize("value", [0, -3, "12", 1.5, True, 2**31])
def test_ids_must_be_ids(key, kind, value):
    assert errors_of(activity(**{key: value})) == [{"field": f"rules[0].value.{key}", "message": f"must be the id of an {kind}"}]


def test_unknown_keys_are_refused_and_null_is_leaving_a_key_out():
    assert errors_of(activity(times=2)) == [
        {"field": "rules[0].value.times", "message": "unknown key; use event_type, within, at_least, template_id, automation_id"}
    ]
    [rule], errors = validate_rules([activity(within=None, at_least=None, template_id=None, automation_id=None)])
    assert errors == [] and rule.as_dict() == {"field": "activity", "operator": "has_done", "value": {"event_type": "email_opened"}}


def test_the_value_must_be_an_object_and_the_operator_one_of_the_two():
    assert errors_of({"field": "activity", "operator": "has_done", "value": "email_opened"})[0]["field"] == "rules[0].value"
    [error] = errors_of({**activity(), "operator": "equals"})
    assert error == {"field": "rules[0].operator", "message": "'equals' does not apply to activity; use one of has_done, has_not_done"}
    assert errors_of({"field": "status", "operator": "has_done", "value": "new"})[0]["field"] == "rules[0].operator"


def test_a_rule_keeps_its_canonical_form():
    raw = activity("has_not_done", within="1 weeks", at_least=1, template_id=4, automation_id=9)
    [rule], _ = validate_rules([raw])
    assert rule.as_dict()["value"] == {"event_type": "email_opened", "within": "1 week", "template_id": 4, "automation_id": 9}
    assert validate_rules([rule.as_dict()])[0] == [rule]


def test_every_key_of_every_rule_is_reported_together():
    errors = errors_of(activity(event_type="nope", within="soon", at_least=0, template_id="x", colour="red"))
    assert [e["field"] for e in errors] == [
        "rules[0].value.colour",
        "rules[0].value.event_type",
        "rules[0].value.within",
        "rules[0].value.at_least",
        "rules[0].value.template_id",
    ]


# --- The same answer in SQL and in Python -------------------------------------------------------------


@pytest.fixture
def acme(app_ctx):
    return make_org("Acme Insurance")


def test_within_counts_events_at_or_after_the_windows_start(acme):
    recent, old, edge, never = (make_lead(acme) for _ in range(4))
    add_event(recent, ago=timedelta(days=6))
    add_event(old, ago=timedelta(days=8))
    add_event(edge, ago=timedelta(days=7))
    add_event(never, "email_sent", ago=timedelta(days=1))
    leads = [recent, old, edge, never]

    assert agree(acme, leads, [activity(within="7 days")]) == {recent.id, edge.id}
    assert agree(acme, leads, [activity("has_not_done", within="7 days")]) == {old.id, never.id}
    assert agree(acme, leads, [activity()]) == {recent.id, old.id, edge.id}


def test_at_least_counts_the_events_that_count(acme):
    once, twice, twice_but_once_lately = (make_lead(acme) for _ in range(3))
    add_event(once)
    add_event(twice), add_event(twice, ago=timedelta(hours=1))
    add_event(twice_but_once_lately), add_event(twice_but_once_lately, ago=timedelta(days=3))
    leads = [once, twice, twice_but_once_lately]

    assert agree(acme, leads, [activity(at_least=2)]) == {twice.id, twice_but_once_lately.id}
    assert agree(acme, leads, [activity(at_least=2, within="2 days")]) == {twice.id}
    assert agree(acme, leads, [activity("has_not_done", at_least=2, within="2 days")]) == {once.id, twice_but_once_lately.id}


def test_template_id_matches_the_template_the_event_names(acme):
    welcome, other, none = (make_lead(acme) for _ in range(3))
    add_event(welcome, template_id=11)
    add_event(other, template_id=12)
    add_event(none)

    assert agree(acme, [welcome, other, none], [activity(template_id=11)]) == {welcome.id}
    assert agree(acme, [welcome, other, none], [activity("has_not_done", template_id=11)]) == {other.id, none.id}


def test_automation_id_matches_the_event_or_the_run_that_sent_its_message(acme):
    """Engagement events name the automation; ``email_sent`` names only the message, whose run does."""
    opened_lead, sent_lead, by_hand, other_automation = (make_lead(acme) for _ in range(4))
    nurture, onboarding = (
        Automation(organization_id=acme.id, name=name, slug=name.lower(), trigger_type="manual") for name in ("Nurture", "Onboarding")
    )
    db.session.add_all([nurture, onboarding])
    db.session.flush()
    run = AutomationRun(organization_id=acme.id, automation_id=nurture.id, lead_id=sent_lead.id, trigger_type="manual", dedupe_key="r")
    db.session.add(run)
    db.session.flush()
    from_run = OutboxMessage(organization_id=acme.id, idempotency_key="m1", automation_run_id=run.id, lead_id=sent_lead.id)
    from_hand = OutboxMessage(organization_id=acme.id, idempotency_key="m2", lead_id=by_hand.id)
    db.session.add_all([from_run, from_hand])
    db.session.commit()
    add_event(opened_lead, automation_id=nurture.id, message_id=999)
    add_event(sent_lead, "email_sent", message_id=from_run.id, template_id=1)
    add_event(by_hand, "email_sent", message_id=from_hand.id, template_id=1)
    add_event(other_automation, automation_id=onboarding.id)
    leads = [opened_lead, sent_lead, by_hand, other_automation]

    assert agree(acme, leads, [activity(automation_id=nurture.id)]) == {opened_lead.id}
    assert agree(acme, leads, [activity(event_type="email_sent", automation_id=nurture.id)]) == {sent_lead.id}
    assert agree(acme, leads, [activity(event_type="email_sent", template_id=1)]) == {sent_lead.id, by_hand.id}


def test_activity_combines_with_field_rules(acme):
    new_opener, new_quiet, old_opener = make_lead(acme, status="new"), make_lead(acme, status="new"), make_lead(acme, status="lost")
    add_event(new_opener), add_event(old_opener)
    leads = [new_opener, new_quiet, old_opener]
    status_new = {"field": "status", "operator": "equals", "value": "new"}

    assert agree(acme, leads, [status_new, activity()]) == {new_opener.id}
    assert agree(acme, leads, [status_new, activity()], match_all=False) == {new_opener.id, new_quiet.id, old_opener.id}


def test_an_evaluation_without_the_events_is_an_error_not_a_guess():
    rules, _ = validate_rules([activity()])
    with pytest.raises(ValueError, match="events"):
        evaluate_rules(rules, True, {}, set(), NOW)


# --- The organization's own templates and automations only ------------------------------------------


@pytest.fixture
def theirs(app_ctx):
    """Another organization's template and automation."""
    other = make_org("Beta Brokers")
    template = EmailTemplate(organization_id=other.id, name="Beta welcome", slug="beta-welcome", subject="Hi")
    automation = Automation(organization_id=other.id, name="Beta nurture", slug="beta-nurture", trigger_type="manual")
    db.session.add_all([template, automation])
    db.session.commit()
    return {"template_id": template.id, "automation_id": automation.id}


@pytest.fixture
def ours(org):
    template = EmailTemplate(organization_id=org.id, name="Welcome", slug="welcome", subject="Hi")
    automation = Automation(organization_id=org.id, name="Nurture", slug="nurture", trigger_type="manual")
    db.session.add_all([template, automation])
    db.session.commit()
    return {"template_id": template.id, "automation_id": automation.id}


@pytest.mark.parametrize("key, kind", [("template_id", "email template"), ("automation_id", "automation")])
def test_another_organizations_id_is_a_422_like_a_missing_one(api, ours, theirs, key, kind):
    for path, body in (("/api/v1/segments", {"name": "Openers"}), ("/api/v1/segments/preview", {})):
        foreign = api.post(path, json={**body, "rules": [activity(**{key: theirs[key]})]})
        missing = api.post(path, json={**body, "rules": [activity(**{key: 2_000_000})]})
        assert foreign.status_code == missing.status_code == 422
        assert foreign.json["errors"] == missing.json["errors"] == [{"field": f"rules[0].value.{key}", "message": f"no such {kind}"}]
    created = api.post("/api/v1/segments", json={"name": "Openers", "rules": [activity(within="7 days", **{key: ours[key]})]})
    assert created.status_code == 201, created.json
    assert created.json["rules"][0]["value"] == {"event_type": "email_opened", "within": "7 days", key: ours[key]}


def test_automation_conditions_and_branches_take_only_the_organizations_ids(api, ours, theirs):
    body = {"name": "Openers", "trigger_type": "lead_created", "trigger_configuration": {}}
    conditions = api.post("/api/v1/automations", json={**body, "conditions": {"rules": [activity(template_id=theirs["template_id"])]}})
    assert conditions.status_code == 422
    assert conditions.json["errors"] == [{"field": "conditions.rules[0].value.template_id", "message": "no such email template"}]
    branch = flow("branch", {"yes": [step("add_tag", tag="opener")], "no": []}, rules=[activity(automation_id=theirs["automation_id"])])
    branched = api.post("/api/v1/automations", json={**body, "actions": [branch]})
    assert branched.status_code == 422
    assert {"field": "actions[0].configuration.rules[0].value.automation_id", "message": "no such automation"} in branched.json["errors"]
    goal = api.post("/api/v1/automations", json={**body, "goal": {"rules": [activity(within="soon")]}})
    assert goal.status_code == 422 and goal.json["errors"][0]["field"] == "goal.rules[0].value.within"
    mine = flow("branch", {"yes": [step("add_tag", tag="opener")], "no": []}, rules=[activity(template_id=ours["template_id"])])
    assert api.post("/api/v1/automations", json={**body, "actions": [mine]}).status_code == 201


# --- Segments, "why", the periodic refresh ------------------------------------------------------------------


def test_a_dynamic_segment_fills_from_events_and_is_refreshed_periodically(api, org, ours):
    opener, quiet = make_lead(org), make_lead(org)
    add_event(opener, template_id=ours["template_id"], ago=timedelta(hours=3))
    created = api.post("/api/v1/segments", json={"name": "Openers", "rules": [activity(within="1 day", template_id=ours["template_id"])]})
    assert created.status_code == 201
    segment = db.session.get(Segment, created.json["id"])
    assert segment.member_count == 1
    assert services.evaluate_segment(segment)["lead_ids"] == [opener.id]
    preview = api.post("/api/v1/segments/preview", json={"rules": [activity("has_not_done", within="1 day")]})
    assert preview.json["lead_ids"] == [quiet.id]
    task = services.ensure_periodic_refresh(org.id)
    assert task.payload == {"operation": "refresh_dynamic_segments"} and task.recurrence == services.PERIODIC_REFRESH


def test_why_explains_an_activity_rule_in_words(api, client, org, ours):
    lead = make_lead(org)
    add_event(lead, template_id=ours["template_id"], ago=timedelta(days=2))
    add_event(lead, template_id=ours["template_id"], ago=timedelta(days=1))
    rules = [activity(within="7 days", at_least=3, template_id=ours["template_id"])]
    segment = db.session.get(Segment, api.post("/api/v1/segments", json={"name": "Fans", "rules": rules}).json["id"])

    why = services.explain_lead(segment, lead)

    [verdict] = why["rules"]
    assert verdict["description"] == "email opened at least 3 times from the email template “Welcome” in the last 7 days"
    assert verdict["actual"]["count"] == 2 and verdict["matched"] is False and why["matches"] is False
    assert verdict["actual"]["last_at"].startswith((NOW - timedelta(days=1)).date().isoformat())
    login_browser(client, "admin@acme.example.com")
    page = client.get(f"/segments/{segment.id}/why?lead_id={lead.id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "email opened at least 3 times from the email template “Welcome” in the last 7 days" in page
    assert "This lead: 2 such events, the last on" in " ".join(page.split())


def test_rules_in_words():
    assert describe_rule(activity(within="7 days")) == "Activity: email opened at least once in the last 7 days"
    assert describe_rule(activity("has_not_done", event_type="email_clicked")) == "Activity: no email clicked"
    assert (
        describe_rule(activity("has_not_done", at_least=3, automation_id=7))
        == "Activity: email opened fewer than 3 times from automation #7"
    )


# --- The builder ----------------------------------------------------------------------------------------


def test_an_activity_row_posts_its_parts_as_one_value():
    from werkzeug.datastructures import MultiDict

    form = MultiDict(
        [
            ("rules-0-field", "activity"),
            ("rules-0-operator", "has_done"),
            ("rules-0-event_type", "email_clicked"),
            ("rules-0-at_least", "2"),
            ("rules-0-within_amount", "30"),
            ("rules-0-within_unit", "minutes"),
            ("rules-0-template_id", "12"),
            ("rules-0-automation_id", ""),
            ("rules-1-field", "activity"),
            ("rules-1-operator", "has_not_done"),
            ("rules-1-event_type", "email_opened"),
            ("rules-1-within_amount", ""),
            ("rules-1-at_least", "two"),
        ]
    )
    assert rules_from_form(form)[1] == [
        activity(event_type="email_clicked", at_least=2, within="30 minutes", template_id=12),
        activity("has_not_done", at_least="two"),
    ]


def test_an_activity_row_shows_its_parts_and_the_organizations_templates(app, org, ours, theirs):
    from flask import g

    with app.test_request_context():
        g.organization_id = org.id
        row = row_view(0, activity(within="2 hours", at_least=3, template_id=ours["template_id"]))
        blank = row_view(1, {"field": "activity", "operator": "has_not_done", "value": ""})
    assert row["widget"] == "activity" and [op["name"] for op in row["operators"]] == ["has_done", "has_not_done"]
    assert (row["event_type"], row["within_amount"], row["within_unit"], row["at_least"]) == ("email_opened", "2", "hours", "3")
    assert row["templates"] == [(str(ours["template_id"]), "Welcome")] and row["template_id"] == str(ours["template_id"])
    assert row["automations"] == [(str(ours["automation_id"]), "Nurture")]
    assert [name for name, _ in row["event_types"]] == list(LEAD_EVENT_TYPES)
    assert (blank["event_type"], blank["within_amount"], blank["at_least"]) == ("email_opened", "", "")
    with app.test_request_context():
        refused = row_view(2, activity(within="0 weeks", at_least="two"), {"value.within": "Within: must be ..."})
    assert (refused["within_amount"], refused["within_unit"], refused["at_least"]) == ("0", "weeks", "two")  # shown as typed


def test_errors_inside_an_activity_value_land_on_their_row_with_the_part_named():
    rows, general = errors_by_row([{"field": "conditions.rules[2].value.within", "message": "must be a whole number"}])
    assert rows == {2: {"value.within": "Within: must be a whole number"}} and general == []


# --- Conditions: the events of a batch of runs in one query ------------------------------------------


def event_reads(function, *args) -> int:
    """How many queries ``function(*args)`` sends that read lead events for activity rules."""
    reads = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "FROM lead_events LEFT OUTER JOIN outbox_messages" in statement:
            reads.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        function(*args)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return len(reads)


def test_a_batch_of_runs_reads_its_leads_events_once(api, org):
    rules = [activity(within="1 day")]
    automation = make_automation(
        api,
        name="Openers",
        actions=[flow("branch", {"yes": [step("add_tag", tag="opener")], "no": [step("add_tag", tag="quiet")]}, rules=rules)],
    )
    lead_ids = bulk_create(api, 40, "batch")
    for lead in db.session.scalars(select(Lead).where(Lead.id.in_(lead_ids[::2]))):
        add_event(lead, ago=timedelta(hours=2))
    db.session.expire_all()
    run_ids = sorted(run.id for run in runs_of(automation["id"]))

    assert event_reads(execute_runs, run_ids) == 1

    db.session.expire_all()
    tags = {lead.id: lead.tags for lead in db.session.scalars(select(Lead).where(Lead.id.in_(lead_ids)))}
    assert tags == {lead_id: ["opener" if lead_id in lead_ids[::2] else "quiet"] for lead_id in lead_ids}


def test_conditions_outside_a_batch_read_only_that_leads_events(api, org):
    opener, quiet = make_lead(org), make_lead(org)
    add_event(opener, ago=timedelta(minutes=5))
    conditions = {"match_all": True, "rules": [activity(within="1 hour")]}

    assert event_reads(lead_matches, conditions, opener) == 1
    assert lead_matches(conditions, opener) and not lead_matches(conditions, quiet)
    assert event_reads(lead_matches, {"rules": [{"field": "status", "operator": "equals", "value": "new"}]}, quiet) == 0


def test_automation_conditions_with_an_activity_rule_decide_which_leads_run(api, org):
    automation = make_automation(
        api,
        name="Engaged and moving",
        trigger_type="lead_status_changed",
        conditions={"match_all": True, "rules": [activity(within="7 days")]},
        actions=[step("add_tag", tag="hot")],
    )
    opener, quiet = make_lead(org), make_lead(org)
    add_event(opener, ago=timedelta(days=1))
    for lead in (opener, quiet):
        assert api.patch(f"/api/v1/leads/{lead.id}", json={"status": "contacted"}).status_code == 200

    assert [run.lead_id for run in runs_of(automation["id"])] == [opener.id]
