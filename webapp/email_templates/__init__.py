"""Email templates (SPEC §6): templates with versions, the outbox, delivery over SMTP, unsubscribe.

- ``render``: the sandboxed renderer (pure).
- ``services``: template validation, saving with versions, restore, diff, preview.
- ``delivery``: ``queue_email()`` (an outbox row, inside the caller's transaction), the sending job
  ``send_outbox_message()`` and the sweeper ``requeue_stalled_messages()``.
- ``unsubscribe``: signed one-click links and the public ``/u/<token>`` page.
- ``views`` (the editor), ``outbox_views`` (the outbox), ``panels`` (lead and campaign pages), ``demo``.
"""


def install(app) -> None:
    """Plug email into the app: pages, the unsubscribe page, panels, the sweeper, demo data."""
    from ..campaigns.views import campaign_panels
    from ..cli import demo_seeders
    from ..leads.views import lead_detail_panels
    from ..registry import add_once
    from ..scheduling import sweepers
    from ..web import NAVIGATION
    from .delivery import requeue_stalled_messages
    from .demo import seed_demo_templates
    from .outbox_views import bp as outbox_bp
    from .panels import campaign_emails_panel, lead_emails_panel
    from .unsubscribe import bp as unsubscribe_bp
    from .views import bp

    for blueprint in (bp, outbox_bp, unsubscribe_bp):
        app.register_blueprint(blueprint)
    add_once(NAVIGATION, ("email_templates.index", "Email templates", None))
    add_once(NAVIGATION, ("outbox.index", "Outbox", None))
    add_once(lead_detail_panels, lead_emails_panel)
    add_once(campaign_panels, campaign_emails_panel)
    add_once(sweepers, requeue_stalled_messages)
    add_once(demo_seeders, seed_demo_templates)
