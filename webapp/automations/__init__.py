"""Automations: triggers, actions, runs executed by workers, and the step editor."""


def install(app) -> None:
    """Plug automations into the app: pages, lead events, scheduled tasks, other pages' panels."""
    from ..campaigns.views import campaign_panels
    from ..cli import demo_seeders
    from ..dashboard.views import dashboard_figures
    from ..leads.changes import event_hooks
    from ..leads.views import lead_detail_panels
    from ..registry import add_once
    from ..scheduled_tasks.registry import register_task_type
    from ..scheduling import sweepers
    from ..web import NAVIGATION
    from .demo import seed_demo_automations
    from .engine import requeue_stalled_runs
    from .panels import campaign_automations_panel, lead_runs_panel
    from .panels import dashboard_figures as automation_figures
    from .schedule import run_delayed_automation, run_recurring_campaign, validate_delayed_automation, validate_recurring_campaign
    from .triggers import match_events
    from .views import bp

    app.register_blueprint(bp)
    add_once(event_hooks, match_events)
    add_once(lead_detail_panels, lead_runs_panel)
    add_once(campaign_panels, campaign_automations_panel)
    add_once(dashboard_figures, automation_figures)
    add_once(NAVIGATION, ("automations.index", "Automations", None))
    add_once(sweepers, requeue_stalled_runs)
    add_once(demo_seeders, seed_demo_automations)
    register_task_type("delayed_automation", run_delayed_automation, validate_delayed_automation)
    register_task_type("recurring_campaign", run_recurring_campaign, validate_recurring_campaign)

