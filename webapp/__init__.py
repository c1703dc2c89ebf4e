"""Leadflow: segments, email templates and automations for insurance lead generation."""

import os

from flask import Flask

from . import extensions
from .config import load_settings
from .features import install_features
from .json_bodies import BoundedJSONProvider

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def create_app(overrides: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        template_folder=os.path.join(PROJECT_ROOT, "templates"),
        static_folder=os.path.join(PROJECT_ROOT, "static"),
        instance_relative_config=True,
    )
    app.json = BoundedJSONProvider(app)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(load_settings(app.instance_path))
    app.config.from_mapping(overrides or {})
    register_extensions(app)
    install_features(app)
    register_request_hooks(app)
    register_cli(app)
    return app


def register_extensions(app: Flask) -> None:
    from . import models  # noqa: F401  (models must be imported before migrations look at them)
    from .jobs import init_jobs
    from .leads.partitions import include_in_migrations  # the monthly partitions are no model tables
    from .replica import init_replica
    from .web import allow_large_uploads

    # The submodule webapp.htmx shadows a package-level name "htmx": always go through extensions.
    extensions.db.init_app(app)
    init_replica(app)
    extensions.migrate.init_app(app, extensions.db, directory=os.path.join(PROJECT_ROOT, "migrations"), include_name=include_in_migrations)
    extensions.login_manager.init_app(app)
    extensions.login_manager.login_view = "auth.login"
    extensions.login_manager.login_message_category = "info"
    app.before_request(allow_large_uploads)  # before CSRF protection reads the form
    extensions.csrf.init_app(app)
    extensions.limiter.init_app(app)
    extensions.htmx.init_app(app)
    init_jobs(app)


def register_request_hooks(app: Flask) -> None:
    from .web import install_web_hooks

    install_web_hooks(app)


def register_cli(app: Flask) -> None:
    from .cli import demo_cli, users_cli

    app.cli.add_command(users_cli)
    app.cli.add_command(demo_cli)
