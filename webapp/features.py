"""How Leadflow's features reach each other: the one place that says what each feature adds.

Read ``build_wiring()`` top to bottom to know every page, every panel that one feature shows on
another's page, what a change to leads sets off, which scheduled-task types exist, what runs
periodically and what ``flask demo seed`` creates. Nothing else registers anything: features do not
import each other to plug in, and no module keeps a list that others append to.

Features depend on each other one way only (a feature may import those before it, never after):

    leads, campaigns, auth, admin, dashboard   (the core: leads, lead events, users)
      └─ scheduled_tasks                       (durable delayed and recurring work)
           └─ engagement                       (opens, clicks, delivery events, suppressed addresses)
                └─ contactability              (time zones, the contact policy, the contact check)
                └─ suppressions                (the suppression list, its CSV imports)
                └─ email_templates             (templates, outbox, delivery, unsubscribe)
                     └─ tasks                  (agents' tasks, titles rendered like email variables)
                          └─ segments          (rules, membership, the rule builder)
                               └─ automations  (triggers, actions, runs, the step editor)

The core calls later features only through the hooks below, which this module hands it.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from flask import Flask, current_app


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: str
    roles: tuple[str, ...] | None = None  # None: every role sees it
    badge: Callable | None = None  # function(user) -> a count shown next to the label, or None
    badge_label: str = ""  # what the count counts, for screen readers ("3 open tasks due")


@dataclass(frozen=True)
class TaskType:
    """A kind of scheduled task: the handler that executes one, the validator of its payload.

    A handler takes the claimed ``ScheduledTask`` and returns a JSON-able result (or None); it raises
    to fail the attempt (``PermanentTaskError`` to fail without retries). It runs inside the
    transaction that marks the task completed, so it must not commit.

    A validator takes ``(payload, organization_id)`` and returns ``[{"field", "message"}]`` with
    fields named ``payload.<key>``; it runs on create/update and again before each run. The payload's
    JSON Schema tells the API document what the validator accepts (which ids exist aside).
    """

    name: str
    handler: Callable
    validate_payload: Callable[[dict, int], list[dict]]
    payload_schema: Mapping | None = None  # None: any object


@dataclass(frozen=True)
class Periodic:
    """Work a background loop repeats: ``function()`` returns how much it found to do."""

    name: str
    function: Callable[[], int]


@dataclass(frozen=True)
class Wiring:
    blueprints: tuple
    navigation: tuple[NavItem, ...]
    admin_navigation: tuple[NavItem, ...]
    lead_panels: tuple[Callable, ...]  # function(lead) -> HTML of a card on the lead page
    campaign_panels: tuple[Callable, ...]  # function(campaign) -> HTML of a section of the campaign page
    dashboard_figures: tuple[Callable, ...]  # function(organization_id, since) -> [(label, value, url)]
    dashboard_charts: tuple[Callable, ...]  # function(organization_id, today, days) -> dashboard.services.Chart
    lead_change_hooks: tuple[Callable, ...]  # function(organization_id, lead_ids) -> further events
    event_hooks: tuple[Callable, ...]  # function(organization_id, events) -> None
    task_types: Mapping[str, TaskType]
    purgers: Mapping[str, Callable]  # name -> function(organization_id, cutoff) -> rows deleted
    sweepers: tuple[Periodic, ...]
    demo_seeders: tuple[Callable, ...]  # function(org, people, rng), after the demo leads exist
    landing_pages: Mapping[str, str]  # role -> the endpoint a user of that role lands on after signing in


def build_wiring() -> Wiring:
    from . import api
    from .admin.views import bp as admin_bp
    from .auth.views import bp as auth_bp
    from .automations import panels as automation_panels
    from .automations import task_types as automation_tasks
    from .automations.demo import seed_demo_automations
    from .automations.engine import check_goals, requeue_stalled_runs, resume_waiting_runs
    from .automations.not_contacted import start_not_contacted_runs
    from .automations.triggers import match_events
    from .automations.views import bp as automations_bp
    from .campaigns.views import bp as campaigns_bp
    from .contactability import panels as contactability_panels
    from .contactability.admin_views import bp as contact_policy_bp
    from .contactability.consent_views import bp as lead_consents_bp
    from .dashboard.views import bp as dashboard_bp
    from .email_templates import panels as email_panels
    from .email_templates.delivery import requeue_stalled_messages
    from .email_templates.demo import seed_demo_templates
    from .email_templates.outbox_views import bp as outbox_bp
    from .email_templates.unsubscribe import bp as unsubscribe_bp
    from .email_templates.views import bp as email_templates_bp
    from .engagement import panels as engagement_panels
    from .engagement.admin_views import bp as email_delivery_bp
    from .engagement.views import bp as tracking_bp
    from .leads.importer import requeue_stalled_imports
    from .leads.partitions import maintain_event_partitions
    from .leads.services import purge_lead_events
    from .leads.views import bp as leads_bp
    from .scheduled_tasks.definitions import purge_finished_tasks
    from .scheduled_tasks.views import bp as scheduled_tasks_bp
    from .segments import panels as segment_panels
    from .segments import task_types as segment_tasks
    from .segments.demo import seed_demo_segments
    from .segments.membership import recheck_leads
    from .segments.services import requeue_stalled_refreshes
    from .segments.views import bp as segments_bp
    from .suppressions.importer import requeue_stalled_suppression_imports
    from .suppressions.views import bp as suppressions_bp
    from .tasks.demo import seed_demo_tasks
    from .tasks.views import bp as tasks_bp
    from .tasks.views import lead_tasks_panel, nav_badge

    return Wiring(
        blueprints=(
            auth_bp,
            dashboard_bp,
            leads_bp,
            campaigns_bp,
            admin_bp,
            api.bp,
            api.docs_bp,
            scheduled_tasks_bp,
            email_templates_bp,
            outbox_bp,
            unsubscribe_bp,
            tracking_bp,
            email_delivery_bp,
            contact_policy_bp,
            lead_consents_bp,
            suppressions_bp,
            tasks_bp,
            segments_bp,
            automations_bp,
        ),
        # The first five stand in the top bar; the others are under "More" (templates/base.html).
        navigation=(
            NavItem("dashboard.index", "Dashboard"),
            NavItem("tasks.index", "My tasks", badge=nav_badge, badge_label="open tasks due"),
            NavItem("leads.index", "Leads"),
            NavItem("segments.index", "Segments"),
            NavItem("automations.index", "Automations"),
            NavItem("email_templates.index", "Email templates"),
            NavItem("campaigns.index", "Campaigns"),
            NavItem("outbox.index", "Outbox"),
            NavItem("scheduled_tasks.index", "Scheduled tasks", ("admin", "marketer")),
        ),
        admin_navigation=(
            NavItem("admin.users", "Users"),
            NavItem("admin.audit_log", "Audit log"),
            NavItem("email_delivery.settings", "Email delivery"),
            NavItem("contact_policy.settings", "Contact policy"),
            NavItem("suppressions.index", "Suppression list"),
        ),
        lead_panels=(
            contactability_panels.lead_contactability_panel,
            contactability_panels.lead_consents_panel,
            lead_tasks_panel,
            email_panels.lead_emails_panel,
            segment_panels.lead_segments_panel,
            automation_panels.lead_runs_panel,
        ),
        campaign_panels=(
            engagement_panels.campaign_results_panel,
            email_panels.campaign_emails_panel,
            automation_panels.campaign_automations_panel,
        ),
        dashboard_figures=(segment_panels.dashboard_figures, automation_panels.dashboard_figures),
        dashboard_charts=(automation_panels.runs_chart, email_panels.emails_chart, engagement_panels.engagement_chart),
        # What a change to leads sets off (leads.changes.after_lead_changes), inside its transaction:
        # 1. dynamic segments re-check the changed leads and add segment_entered / segment_exited events,
        #    and open runs whose goal the lead now meets end (goal_reached);
        lead_change_hooks=(recheck_leads, check_goals),
        # 2. every event of the change, those included, resumes the runs waiting for it (wait_until)
        #    and is matched against automation triggers: new runs.
        event_hooks=(resume_waiting_runs, match_events),
        task_types={
            task_type.name: task_type
            for task_type in (
                TaskType(
                    "batch_operation",
                    segment_tasks.run_batch_operation,
                    segment_tasks.validate_batch_operation,
                    segment_tasks.BATCH_OPERATION_PAYLOAD,
                ),
                TaskType(
                    "system_maintenance",
                    segment_tasks.run_system_maintenance,
                    segment_tasks.validate_system_maintenance,
                    segment_tasks.SYSTEM_MAINTENANCE_PAYLOAD,
                ),
                TaskType(
                    "delayed_automation",
                    automation_tasks.run_delayed_automation,
                    automation_tasks.validate_delayed_automation,
                    automation_tasks.DELAYED_AUTOMATION_PAYLOAD,
                ),
                TaskType(
                    "recurring_campaign",
                    automation_tasks.run_recurring_campaign,
                    automation_tasks.validate_recurring_campaign,
                    automation_tasks.RECURRING_CAMPAIGN_PAYLOAD,
                ),
            )
        },
        # What system_maintenance's ``purge`` deletes: only finished rows older than the cutoff.
        purgers={"scheduled_tasks": purge_finished_tasks, "lead_events": purge_lead_events},
        # Each finds work whose job was lost (dead worker, restarted Redis) and queues it again.
        sweepers=(
            Periodic("stalled CSV imports", requeue_stalled_imports),
            Periodic("stalled suppression imports", requeue_stalled_suppression_imports),
            Periodic("stalled emails", requeue_stalled_messages),
            Periodic("stalled segment refreshes", requeue_stalled_refreshes),
            Periodic("stalled automation runs", requeue_stalled_runs),
            # Not a sweeper of lost work, but periodic all the same: the lead_not_contacted trigger.
            Periodic("leads not contacted in time", start_not_contacted_runs),
            # Upkeep: the months of lead events ahead created, those past the retention dropped.
            Periodic("lead event partitions", maintain_event_partitions),
        ),
        demo_seeders=(seed_demo_templates, seed_demo_segments, seed_demo_automations, seed_demo_tasks),
        landing_pages={"agent": "tasks.index"},
    )


def install_features(app: Flask) -> None:
    """Build the app's wiring, keep it on the app, register the pages and the API."""
    from .segments.builder import builder_rows

    app.extensions["leadflow"] = wiring = build_wiring()
    for blueprint in wiring.blueprints:
        app.register_blueprint(blueprint)
    app.add_template_global(builder_rows, "segment_builder_rows")  # the rule builder, on several pages


def wiring(app: Flask | None = None) -> Wiring:
    """The wiring of this app (or of the current one)."""
    return (app or current_app).extensions["leadflow"]


def add_task_types(app: Flask, *task_types: TaskType) -> None:
    """Give this app more task types than the features declare (tests and benchmarks bring their own)."""
    current = wiring(app)
    app.extensions["leadflow"] = replace(
        current, task_types={**current.task_types, **{task_type.name: task_type for task_type in task_types}}
    )
