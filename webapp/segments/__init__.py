"""Segments: groups of leads defined by rules or by hand (SPEC §5).

- ``rules``: the rule engine (validate, compile to SQL, explain) — pure.
- ``membership``: who is in a segment — set-based refresh, incremental re-check, static add/remove.
- ``services``: what the API and the pages call (save, preview, evaluate, refresh jobs, explain).
- ``builder``: the visual rule builder's form convention and rows; ``views``: the pages.
"""


def install(app) -> None:
    """Plug segments into the app: pages, lead-change hook, scheduled-task hooks, other pages' parts."""
    from ..cli import demo_seeders
    from ..dashboard.views import dashboard_figures
    from ..leads.changes import lead_change_hooks
    from ..leads.views import lead_detail_panels
    from ..registry import add_once
    from ..scheduled_tasks import handlers
    from ..scheduling import sweepers
    from ..web import NAVIGATION
    from . import services
    from .builder import builder_rows
    from .membership import member_ids, recheck_leads
    from .views import bp, lead_segments_panel
    from .views import dashboard_figures as segment_figures

    app.register_blueprint(bp)
    app.add_template_global(builder_rows, "segment_builder_rows")
    add_once(lead_change_hooks, recheck_leads)
    add_once(lead_detail_panels, lead_segments_panel)
    add_once(dashboard_figures, segment_figures)
    _add_after(NAVIGATION, "leads.index", ("segments.index", "Segments", None))
    add_once(sweepers, services.requeue_stalled_refreshes)
    add_once(demo_seeders, services.seed_demo_segments)
    handlers.segment_hooks = handlers.SegmentHooks(
        check_segment=services.check_segment_for_task,
        member_ids=member_ids,
        refresh_segment=services.refresh_segment_for_task,
        refresh_dynamic_segments=services.refresh_dynamic_segments,
    )


def _add_after(navigation: list, endpoint: str, item) -> None:
    """Segments sit next to Leads in the navigation (once, however often create_app runs)."""
    if item in navigation:
        return
    position = next((i + 1 for i, entry in enumerate(navigation) if entry[0] == endpoint), len(navigation))
    navigation.insert(position, item)
