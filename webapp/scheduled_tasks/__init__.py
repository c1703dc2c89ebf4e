"""Scheduled tasks: durable delayed, recurring and batch work (SPEC §8).

- ``engine``: create, claim (FOR UPDATE SKIP LOCKED), run, retry, cancel, the worker loop.
- ``registry``: task types by name, their handlers and payload validators.
- ``handlers``: the built-in types ``batch_operation`` and ``system_maintenance``.
- ``recurrence``: ``every N minutes|hours|days`` and cron.
"""
from . import handlers  # noqa: F401  (registers the built-in task types)


def install(app) -> None:
    """Plug scheduled tasks into the app: their pages and nav entry (the built-in task types
    register on import; the API routes live in ``webapp.api.scheduled_tasks``)."""
    from ..registry import add_once
    from ..web import NAVIGATION
    from .views import bp

    app.register_blueprint(bp)
    add_once(NAVIGATION, ("scheduled_tasks.index", "Scheduled tasks", ("admin", "marketer")))
