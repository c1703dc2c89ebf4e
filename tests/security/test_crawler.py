"""A crawler: every GET route of the app's URL map, as every role, plain and as HTMX requests, with the
real ids of a seeded organization: no 5xx. And every route with an id, with another organization's
ids: a 404.

Two organizations are seeded with ``flask demo seed`` (30 leads each: leads, a campaign, templates,
segments, automations). What the demo does not make is added through the app's own services and
jobs: a lead whose automations ran (completed runs and a waiting one, held outbox messages,
follow-up tasks, a notification), a failed run, scheduled tasks (completed with an attempt, pending,
recurring, a delayed step), CSV imports (completed, refused with row errors, waiting), a segment
refresh, a second template version, a notification for every user. Users of every role are added
to organization A.

Path arguments are filled from ``ROW_ARGUMENTS``, ``CHILD_ARGUMENTS`` and ``STRING_ARGUMENTS``: a
GET route with an argument none of them knows fails the test, so that a new route is never skipped
silently. Some views also read ids and choices from the query string; ``QUERY_VARIANTS`` requests
those a few more ways.

Every failure is collected first and asserted at the end, so that one run lists every broken route
with its status and the exception the app logged.
"""

import dataclasses
import logging
import os
import re
import secrets
import time
import traceback
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.conftest import login_browser, token_for
from tests.factories import make_user
from webapp import PROJECT_ROOT
from webapp.automations.forms import STEP_FORMS, TRIGGER_LABELS
from webapp.automations.services import start_manually
from webapp.email_templates.delivery import queue_email
from webapp.email_templates.services import save_template
from webapp.email_templates.unsubscribe import PREVIEW_TOKEN, unsubscribe_token
from webapp.engagement.tokens import click_token, open_token
from webapp.extensions import db
from webapp.jobs import enqueue
from webapp.leads.importer import run_import
from webapp.leads.services import create_lead, validate_lead
from webapp.models import (
    Automation,
    AutomationAction,
    AutomationRun,
    AutomationRunStep,
    Campaign,
    EmailTemplate,
    EmailTemplateVersion,
    ImportJob,
    Lead,
    Notification,
    Organization,
    OutboxMessage,
    ScheduledTask,
    Segment,
    Suppression,
    SuppressionImport,
    Task,
    User,
    utcnow,
)
from webapp.models.org import ROLES
from webapp.scheduled_tasks.definitions import create_task
from webapp.scheduled_tasks.execution import process_due
from webapp.scheduled_tasks.forms import OPERATION_LABELS
from webapp.segments import estimates
from webapp.segments.services import start_refresh
from webapp.segments.views import FRAGMENTS as SEGMENT_FRAGMENTS

ORG_A, ORG_B = "Acme Insurance", "Beta Brokers"
DEMO_LEADS = 30
PASSWORD = "secret-pass-1"  # tests.factories.make_user's default
B_MARKER = "zzbetamarker"  # the name of organization B's main lead: never shown to A

# Path argument → the model whose rows of the organization it names (read the views: ``task_id`` is
# a scheduled task, ``import_id`` a CSV import, ``message_id`` an outbox message).
ROW_ARGUMENTS = {
    "lead_id": Lead,
    "segment_id": Segment,
    "automation_id": Automation,
    "template_id": EmailTemplate,
    "campaign_id": Campaign,
    "task_id": ScheduledTask,
    "run_id": AutomationRun,
    "message_id": OutboxMessage,
    "import_id": ImportJob,
    "user_id": User,
    "agent_task_id": Task,  # ``task_id`` of the agents' task routes (``row_argument``)
    "suppression_id": Suppression,
    "suppression_import_id": SuppressionImport,
}
# The agents' task routes (``/tasks/…``, ``/api/v1/tasks/…``), whose ``task_id`` names a task.
AGENT_TASK_ROUTES = re.compile(r"^(/api/v1)?/tasks/")
# Path arguments that name a row of the row another argument of the same route names.
CHILD_ARGUMENTS = {
    "step_id": "automation_id",  # a step of that automation
    "version": "template_id",  # a version number of that template (a number, not an id)
}
STRING_ARGUMENTS = {"token", "open_token", "click_token", "result_id"}  # /u/<token>: a signed unsubscribe link of a lead, and the
# preview token; /t/o/<open_token>, /t/c/<click_token>: the signed tracking URLs of an email of the organization;
# …/preview/results/<result_id>: the exact count of a segment preview of the organization
LEADS_PER_ORG = 3  # the lead with everything attached, and two demo leads: not all 30

# For the tenancy check: (endpoint, argument) where organization B's value is no organization data.
NOT_ORGANIZATION_DATA = {
    # Public by design: the signed token is the credential (SPEC §6), a valid link of B's lead works.
    ("unsubscribe.unsubscribe", "token"),
    ("tracking.open_pixel", "open_token"),  # the tracking URLs of B's emails work for whoever has them (SPEC §16)
    ("tracking.click", "click_token"),
}

# More ways to request some URLs: the query strings the views read (formatted with the organization's
# values: {lead}, {lead_email}, {template}, {segment}, {user}, {campaign}).
QUERY_VARIANTS = {
    "leads.index": ["q=smith", "status=new&priority=high", "tag=vip", "state=tx&insurance_type=auto", "page=2", "page=999"],
    "leads.search": ["q={lead}", "q={lead_email}&listbox=dry-lead-options", "q=smith&listbox=%22%3E%3Cb%3E"],
    "segments.detail": ["lead_id={lead}"],
    "segments.why": ["lead_id={lead}"],
    "segments.members": ["page=2"],
    "segments.refresh": ["polling=1"],
    "segments.rule_row": [
        "add=1&preview=1",
        "rules-0-field=state&rules-0-operator=in&rules-0-value=TX",
        "rules-0-field=created_at&rules-0-operator=less_than&rules-0-mode=days&rules-0-amount=3",
        "rules-0-field=tags&rules-0-operator=contains&rules-0-shown=status&rules-0-value=new",
        "rules-3-field=status&rules-3-operator=in&rules-3-value=new&rules-3-value=lost",
    ],
    "email_templates.index": ["template_type=marketing", "template_type=notification"],
    "email_templates.editor": ["lead_id={lead}"],
    "email_templates.frame": ["lead_id={lead}", "version=1", "version=1&lead_id={lead}"],
    "email_templates.version_diff_view": ["lead_id={lead}"],
    "outbox.index": ["status=held", "status=suppressed", "template_id={template}", "q=welcome", "page=2"],
    "scheduled_tasks.index": ["status=completed", "status=pending&task_type=batch_operation", "page=2"],
    "scheduled_tasks.bulk_action": [
        *(f"operation={name}" for name in OPERATION_LABELS),
        "status=new&operation=set_status",
        "q=smith&tag=vip",
    ],
    "automations.trigger_fields": [f"trigger_type={name}" for name in TRIGGER_LABELS],
    "automations.new_step": [f"action_type={name}" for name in STEP_FORMS],
    "admin.audit_log": ["action=login", "action=create", "page=2"],
    "api.list_leads": ["status=new", "q=smith", "tag=vip", "assigned_to_id={user}", "page=2&per_page=10"],
    "api.list_scheduled_tasks": ["status=completed", "task_type=batch_operation"],
    "api.list_tasks": ["assignee=me&overdue=true", "status=done", "due_before=2030-01-01", "lead_id={lead}", "assignee_id={user}"],
    "tasks.index": ["assignee=all", "assignee={user}"],
    "api.list_email_templates": ["template_type=marketing", "is_active=true"],
    "api.segment_members": ["page=1&per_page=5"],
}
# Without their query string these answer 404 (an unknown trigger or step type): not a broken id.
NOT_FOUND_WITHOUT_QUERY = {"automations.trigger_fields", "automations.new_step"}
BOGUS_TARGET = "crawler-target"  # any target makes render_page_or_fragment render the view's block alone
PLACEHOLDER = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


# --- seeding ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Account:
    """A user of the crawl, as plain values: its email (to sign in) and its API bearer token."""

    email: str
    role: str
    token: str


@dataclasses.dataclass
class SeededOrg:
    id: int
    values: dict  # path argument → real values of this organization, the richest first
    children: dict  # child argument → {parent value: [values]}
    query: dict  # what QUERY_VARIANTS are formatted with
    users: dict = dataclasses.field(default_factory=dict)  # role → Account (organization A)


def _seed_demo(app, name: str) -> Organization:
    result = app.test_cli_runner().invoke(args=["demo", "seed", "--org", name, "--leads", str(DEMO_LEADS)])
    if result.exit_code != 0:
        raise AssertionError(f"flask demo seed --org {name!r} failed: {result.output}") from result.exception
    return db.session.scalar(select(Organization).where(Organization.name == name))


def _add_what_the_demo_does_not(org: Organization, label: str, email: str, run_jobs) -> int:
    """A lead whose automations ran, tasks, imports, a refresh, a template version, notifications.
    Returns the id of the lead with everything attached."""
    actor = db.session.scalar(select(User).where(User.organization_id == org.id, User.role == "admin").order_by(User.id))
    agent = db.session.scalar(select(User).where(User.organization_id == org.id, User.role == "agent").order_by(User.id))
    campaign = db.session.scalar(select(Campaign).where(Campaign.organization_id == org.id))
    # Auto, high value, new, assigned: the demo's lead_created automations run for it (email, task,
    # qualification) and it enters High-Value Auto Leads (a segment_entered run, a notification).
    lead = create_lead(
        org.id,
        validate_lead(
            {
                "first_name": label,
                "last_name": label,
                "email": email,
                "phone": "+1 512 555 0100",
                "status": "new",
                "priority": "medium",
                "source": "website",
                "insurance_type": "auto",
                "state": "TX",
                "city": "Austin",
                "value_estimate": Decimal("4200"),
                "tags": ["vip", "webinar"],
                "campaign_id": campaign.id,
                "assigned_to_id": agent.id,
            },
            org.id,
        ),
        actor.id,
    )
    db.session.commit()
    lead_id = lead.id
    db.session.add(Suppression(organization_id=org.id, kind="email", value=f"blocked{org.id}@example.com", reason="manual", source="api"))
    db.session.add(SuppressionImport(organization_id=org.id, filename="dnc.csv", content=b"5125550100\n", status="completed", total=1))
    db.session.commit()

    done = create_task(
        org.id,
        "batch_operation",
        {"operation": "add_tag", "tag": "crawled", "lead_ids": [lead_id]},
        name="Tag the crawled lead",
        created_by_id=actor.id,
    )
    db.session.commit()
    process_due(org.id)  # runs it: completed, with a result and an attempt in its history
    create_task(
        org.id,
        "batch_operation",
        {"operation": "set_priority", "priority": "high", "lead_ids": [lead_id]},
        name="Later",
        scheduled_for=utcnow() + timedelta(days=30),
        created_by_id=actor.id,
    )
    create_task(org.id, "system_maintenance", {"operation": "refresh_dynamic_segments"}, recurrence="every 1 hours", created_by_id=actor.id)
    assert db.session.get(ScheduledTask, done.id).status == "completed"

    waiting = ImportJob(
        organization_id=org.id, user_id=actor.id, filename="waiting.csv", content="first_name,email\nWendy,wendy@example.com\n"
    )
    imported = ImportJob(
        organization_id=org.id,
        user_id=actor.id,
        filename="leads.csv",
        content=f"first_name,last_name,email,status\nIan,Import,ian.{org.id}@example.com,new\n",
    )
    refused = ImportJob(
        organization_id=org.id,
        user_id=actor.id,
        filename="broken.csv",
        content="first_name,last_name,email,status\nIan,Import,ian@example.com,new\n,,not-an-email,bogus\n",
    )
    db.session.add_all([waiting, imported, refused])
    db.session.flush()
    enqueue(run_import, imported.id, queue="high")
    enqueue(run_import, refused.id, queue="high")

    template = db.session.scalar(
        select(EmailTemplate).where(EmailTemplate.organization_id == org.id, EmailTemplate.slug == "welcome-email")
    )
    save_template(template, {"subject": "Welcome aboard, {{ first_name | default('friend') }}"}, actor.id)
    segment = db.session.scalar(select(Segment).where(Segment.organization_id == org.id, Segment.slug == "high-value-auto-leads"))
    start_refresh(segment, actor.id, "manual")
    for user in db.session.scalars(select(User).where(User.organization_id == org.id)):
        db.session.add(Notification(organization_id=org.id, user_id=user.id, message=f"Hello {label}", link=f"/leads/{lead_id}"))
    # Started by hand: its first step runs, its second waits a day (a delayed_automation task).
    cross_sell = db.session.scalar(
        select(Automation).where(Automation.organization_id == org.id, Automation.trigger_type == "lead_status_changed")
    )
    assert start_manually(cross_sell, [lead_id])
    # An email with a link, held like the others: the tracking URLs (/t/o/…, /t/c/…) have a message to name.
    quote = db.session.scalar(select(EmailTemplate).where(EmailTemplate.organization_id == org.id, EmailTemplate.slug == "quote-follow-up"))
    queue_email(organization_id=org.id, template_id=quote.id, lead_id=lead_id, idempotency_key=f"crawler-quote-{org.id}")
    db.session.commit()
    run_jobs()  # the automation runs, their emails (held: no mail server) and the imports
    # A run that failed (what the engine writes when a step fails for good), for the run lists.
    welcome = db.session.scalar(
        select(Automation).where(Automation.organization_id == org.id, Automation.name == "Welcome Email Automation")
    )
    failed = AutomationRun(
        organization_id=org.id,
        automation_id=welcome.id,
        lead_id=lead_id,
        status="failed",
        trigger_type="manual",
        dedupe_key=f"crawler-failed-{org.id}",
        started_at=utcnow(),
        finished_at=utcnow(),
        error="step 1 (send_email): DeliveryError: the template cannot be rendered",
    )
    failed.steps = [
        AutomationRunStep(
            action_type="send_email",
            position=0,
            status="failed",
            attempts=1,
            configuration={"template_id": template.id},
            started_at=utcnow(),
            finished_at=utcnow(),
            error="DeliveryError: the template cannot be rendered",
        )
    ]
    db.session.add(failed)
    db.session.commit()
    return lead_id


def _values_of(organization_id: int, main_lead_id: int) -> SeededOrg:
    values = {}
    for argument, model in ROW_ARGUMENTS.items():
        ids = list(db.session.scalars(select(model.id).where(model.organization_id == organization_id).order_by(model.id)))
        if argument == "lead_id":
            ids = [main_lead_id] + [i for i in ids if i != main_lead_id][: LEADS_PER_ORG - 1]
        values[argument] = ids
    lead = db.session.get(Lead, main_lead_id)
    values["token"] = [unsubscribe_token(lead), PREVIEW_TOKEN]
    tracked = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.organization_id == organization_id, OutboxMessage.links.is_not(None))
    ).first()
    values["open_token"] = [open_token(tracked.id)] if tracked else []
    values["click_token"] = [click_token(tracked.id, index) for index in range(len(tracked.links))] if tracked else []
    result_id = secrets.token_hex(12)
    estimates._write(result_id, {"organization_id": organization_id, "status": "completed", "count": 3})
    values["result_id"] = [result_id]
    steps, versions = {}, {}
    for action in db.session.scalars(
        select(AutomationAction).join(Automation).where(Automation.organization_id == organization_id).order_by(AutomationAction.id)
    ):
        steps.setdefault(action.automation_id, []).append(action.id)
    for version in db.session.scalars(
        select(EmailTemplateVersion)
        .where(EmailTemplateVersion.organization_id == organization_id)
        .order_by(EmailTemplateVersion.version.desc())
    ):
        versions.setdefault(version.template_id, []).append(version.version)
    agent = db.session.scalar(select(User.id).where(User.organization_id == organization_id, User.role == "agent"))
    query = {
        "lead": main_lead_id,
        "lead_email": lead.email,
        "template": values["template_id"][0],
        "segment": values["segment_id"][0],
        "user": agent,
        "campaign": values["campaign_id"][0],
    }
    return SeededOrg(organization_id, values, {"step_id": steps, "version": versions}, query)


@pytest.fixture
def seeded(app, run_jobs):
    """Organizations A and B, seeded; a user of every role in A.

    Seeding runs in an app context of its own, popped before the crawl: a request made while the
    test holds an app context shares its ``g`` (Flask reuses the pushed context), and with it the
    signed-in user of the previous request, whatever the client's cookie says.
    """
    started = time.perf_counter()
    with app.app_context():
        org_a, org_b = _seed_demo(app, ORG_A), _seed_demo(app, ORG_B)
        users = {role: make_user(org_a, email=f"crawler-{role}@acme.example.com", role=role, name=f"Crawler {role}") for role in ROLES}
        users = {role: Account(user.email, role, token_for(app, user)) for role, user in users.items()}
        lead_a = _add_what_the_demo_does_not(org_a, "Alpha", "alpha.crawled@example.com", run_jobs)
        lead_b = _add_what_the_demo_does_not(org_b, B_MARKER, "beta.crawled@example.com", run_jobs)
        a, b = _values_of(org_a.id, lead_a), _values_of(org_b.id, lead_b)
        db.session.remove()
    a.users = users
    for argument in ROW_ARGUMENTS:  # every kind of row exists in both organizations
        assert a.values[argument] and b.values[argument], f"no {argument} was seeded"
    print(
        f"\n[crawler] seeded in {time.perf_counter() - started:.1f} s: " + ", ".join(f"{name} {len(ids)}" for name, ids in a.values.items())
    )
    return a, b


# --- URLs ---------------------------------------------------------------------------------------------


def get_rules(app) -> list:
    return sorted(
        (rule for rule in app.url_map.iter_rules() if "GET" in rule.methods and rule.endpoint != "static"), key=lambda rule: rule.rule
    )


def path_arguments(rule) -> list[str]:
    """The arguments of the rule's path (not its defaults), parents before their children."""
    names = [match.group(2) for match in PLACEHOLDER.finditer(rule.rule)]
    return sorted(names, key=lambda name: name in CHILD_ARGUMENTS)


def unfillable(rules) -> list[str]:
    known = set(ROW_ARGUMENTS) | set(CHILD_ARGUMENTS) | STRING_ARGUMENTS
    return [f"{rule.rule} ({rule.endpoint}): <{name}>" for rule in rules for name in path_arguments(rule) if name not in known]


def row_argument(rule, name: str) -> str:
    """The ``ROW_ARGUMENTS`` key of a path argument of this rule (``task_id`` names two kinds of rows)."""
    return "agent_task_id" if name == "task_id" and AGENT_TASK_ROUTES.match(rule.rule) else name


def fillings(rule, org: SeededOrg, first_only: bool = False) -> list[dict]:
    """Every combination of the organization's real values for the rule's path arguments."""
    combos = [{}]
    for name in path_arguments(rule):
        grown = []
        for combo in combos:
            if name in CHILD_ARGUMENTS:
                options = org.children[name].get(combo[CHILD_ARGUMENTS[name]], [])
            else:
                options = org.values[row_argument(rule, name)]
            grown.extend({**combo, name: value} for value in (options[:1] if first_only else options))
        combos = grown
    return combos


def all_values_of(org: SeededOrg, name: str) -> list:
    """All the organization's values of an argument (of a child argument: under every parent)."""
    if name in CHILD_ARGUMENTS:
        return [value for values in org.children[name].values() for value in values]
    return org.values[name]


def build_path(rule, values: dict) -> str:
    return PLACEHOLDER.sub(lambda match: str(values[match.group(2)]), rule.rule)


def with_queries(rule, path: str, org: SeededOrg) -> list[str]:
    return [path] + [f"{path}?{query.format(**org.query)}" for query in QUERY_VARIANTS.get(rule.endpoint, [])]


def is_api(rule) -> bool:
    return rule.rule.startswith("/api/v1/")


def header_variants(rule) -> list[tuple[str, dict]]:
    if is_api(rule):
        return [("plain", {})]
    variants = [
        ("plain", {}),
        ("HX-Request", {"HX-Request": "true"}),
        (f"HX-Target: {BOGUS_TARGET}", {"HX-Request": "true", "HX-Target": BOGUS_TARGET}),
    ]
    if rule.endpoint == "segments.detail":  # the segment page picks its block by the target's id
        variants += [(f"HX-Target: {target}", {"HX-Request": "true", "HX-Target": target}) for target in SEGMENT_FRAGMENTS]
    return variants


# --- requests and what the app logged ------------------------------------------------------------------


class LoggedErrors(logging.Handler):
    """The errors the app logs (``unhandled error on ...``) while one request runs."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records = []

    def emit(self, record):
        self.records.append(record)


def _where(tb) -> str:
    """The innermost frame in the project's code (or templates) and the view's frame, if another."""
    frames = traceback.extract_tb(tb)
    ours = [f for f in frames if f.filename.startswith(PROJECT_ROOT) and "/.venv/" not in f.filename and "/tests/" not in f.filename]
    if not ours:
        return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
    view = next((f for f in ours if f.name != "wrapper"), ours[0])  # past the role-checking decorators
    places = [f"{os.path.relpath(f.filename, PROJECT_ROOT)}:{f.lineno}" for f in (ours[-1], view)]
    return places[0] if places[0] == places[1] else f"{places[0]} (from {places[1]})"


def _describe(exc_info) -> str:
    kind, exc, tb = exc_info
    message = (str(exc).strip().splitlines() or [""])[0][:200]
    return f"{kind.__name__}: {message} @ {_where(tb)}"


@pytest.fixture
def logged_errors(app):
    handler = LoggedErrors()
    app.logger.addHandler(handler)
    yield handler
    app.logger.removeHandler(handler)


def fetch(client, headers: dict, url: str, errors: LoggedErrors) -> tuple[int, str, str]:
    """(status, body, cause): cause is the logged exception of a 5xx (or the one that escaped)."""
    errors.records.clear()
    try:
        response = client.get(url, headers=headers)
    except Exception as exc:  # the error handler itself failed: the client sees the exception
        return 599, "", "raised " + _describe((type(exc), exc, exc.__traceback__))
    cause = ""
    if response.status_code >= 500:
        logged = [record for record in errors.records if record.exc_info]
        cause = _describe(logged[-1].exc_info) if logged else (errors.records[-1].getMessage() if errors.records else "")
    return response.status_code, response.get_data().decode(errors="replace"), cause  # the open pixel is a GIF


def browser_for(app, user: Account | None):
    client = app.test_client()
    if user is not None:
        response = login_browser(client, user.email, PASSWORD)
        assert response.status_code == 302, f"{user.email} could not sign in ({response.status_code})"
        signed_in = client.get("/").get_data(as_text=True)
        assert f"Crawler {user.role}" in signed_in, f"the browser of {user.email} is not signed in as {user.email}"
    return client


def api_for(app, user: Account | None) -> tuple:
    """A client for /api/v1 and the headers it sends: the user's bearer token (none signed out)."""
    return app.test_client(), ({"Authorization": f"Bearer {user.token}"} if user is not None else {})


def client_for(rule, browser, api, headers: dict) -> tuple:
    """The browser for pages; the API client with its token for /api/v1."""
    if is_api(rule):
        return api[0], {**api[1], **headers}
    return browser, headers


def report(title: str, failures: list[str]) -> str:
    return f"{len(failures)} {title}:\n  " + "\n  ".join(failures)


# --- the tests ------------------------------------------------------------------------------------------


def test_every_get_route_has_arguments_the_crawler_can_fill(app):
    rules = get_rules(app)
    assert not unfillable(rules), report(
        "GET routes with a path argument the crawler cannot fill (add it to ROW_ARGUMENTS, CHILD_ARGUMENTS or STRING_ARGUMENTS)",
        unfillable(rules),
    )
    stale = sorted(set(QUERY_VARIANTS) - {rule.endpoint for rule in rules})
    assert not stale, f"QUERY_VARIANTS names endpoints that are no GET route: {stale}"


def test_no_get_route_answers_5xx_for_any_role(app, seeded, logged_errors):
    """Every GET route, as every role (and signed out), with A's real ids: plain and as HTMX requests."""
    a, _ = seeded
    rules = get_rules(app)
    assert not unfillable(rules), report("unfillable path arguments", unfillable(rules))
    failures, admin_not_found, missing, statuses, walked = [], [], [], Counter(), []
    started = time.perf_counter()
    for role in (*ROLES, "signed out"):
        user = a.users.get(role)
        browser, api = browser_for(app, user), api_for(app, user)
        for rule in rules:
            # The admin walks every real value of every argument; the other roles the first of each.
            combos = fillings(rule, a, first_only=role != "admin")
            if not combos:
                missing.append(f"{rule.rule}: organization A has no row for {path_arguments(rule)}")
                continue
            for combo in combos:
                for url in with_queries(rule, build_path(rule, combo), a):
                    for label, headers in header_variants(rule):
                        status, _, cause = fetch(*client_for(rule, browser, api, headers), url, logged_errors)
                        statuses[role, status] += 1
                        walked.append(f"{status} GET {url} as {role} [{label}]")
                        if status >= 500:
                            failures.append(f"{status} GET {url} as {role} [{label}]: {cause}")
                        elif (
                            role == "admin"
                            and status == 404
                            and combo
                            and label == "plain"
                            and not (rule.endpoint in NOT_FOUND_WITHOUT_QUERY and "?" not in url)
                        ):
                            admin_not_found.append(f"404 GET {url} ({rule.endpoint})")
    print(
        f"[crawler] {sum(statuses.values())} requests in {time.perf_counter() - started:.1f} s: "
        + ", ".join(f"{role} {status}: {count}" for (role, status), count in sorted(statuses.items()))
    )
    if os.environ.get("CRAWLER_LOG"):  # every request and its status, for a reader
        with open(os.environ["CRAWLER_LOG"], "w") as log:
            log.write("\n".join(walked) + "\n")
    assert not missing, report("routes without a real value to fill", missing)
    assert not failures, report("5xx answers", failures)
    assert not admin_not_found, report("404 answers to organization A's admin for A's own ids", admin_not_found)


def test_every_route_with_an_id_of_another_organization_is_a_404(app, seeded, logged_errors):
    """As A's admin, each route with B's values in its path (all of them, or one id at a time) is a 404;
    B's lead named in a query string is never shown."""
    a, b = seeded
    admin = a.users["admin"]
    browser, api = browser_for(app, admin), api_for(app, admin)
    failures, requests = [], 0

    def check(rule, url, expect_404: bool):
        nonlocal requests
        for label, headers in header_variants(rule)[:3]:
            status, body, cause = fetch(*client_for(rule, browser, api, headers), url, logged_errors)
            requests += 1
            if expect_404 and status != 404:
                failures.append(f"{status} GET {url} ({rule.endpoint}) [{label}], expected 404 {cause}".rstrip())
            elif status >= 500:
                failures.append(f"{status} GET {url} ({rule.endpoint}) [{label}]: {cause}")
            if B_MARKER in body:
                failures.append(f"{status} GET {url} ({rule.endpoint}) [{label}] shows organization B's lead")

    for rule in get_rules(app):
        names = [name for name in path_arguments(rule) if (rule.endpoint, name) not in NOT_ORGANIZATION_DATA]
        if not names:
            continue
        # All of B's values: B's object (and its steps, versions) must not exist for A.
        for combo in fillings(rule, b):
            check(rule, build_path(rule, combo), expect_404=True)
        # One id of B among A's: a step of B's automation in A's automation is no step of it either.
        ids = [name for name in names if name.endswith("_id")]  # a version number is no id
        if len(ids) > 1:
            for name in ids:
                for combo in fillings(rule, a, first_only=True):
                    for value in all_values_of(b, name):
                        check(rule, build_path(rule, {**combo, name: value}), expect_404=True)
        # A's page asking for B's lead (or template, user) in its query string: 404 or not shown.
        for combo in fillings(rule, a, first_only=True):
            path = build_path(rule, combo)
            for query in QUERY_VARIANTS.get(rule.endpoint, []):
                if "{" in query:
                    check(rule, f"{path}?{query.format(**b.query)}", expect_404=False)
    for rule in get_rules(app):  # list pages filtered by B's ids: nothing of B
        if not path_arguments(rule):
            for query in QUERY_VARIANTS.get(rule.endpoint, []):
                if "{" in query:
                    check(rule, f"{rule.rule}?{query.format(**b.query)}", expect_404=False)
    print(f"[crawler] {requests} tenancy requests")
    assert not failures, report("answers to organization A's admin for organization B's ids", failures)
