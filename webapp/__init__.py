"""Leadflow: segments, email templates and automations for insurance lead generation."""
import os

from flask import Flask

from .config import load_settings
from .extensions import csrf, db, htmx, limiter, login_manager, migrate

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def create_app(overrides: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        template_folder=os.path.join(PROJECT_ROOT, "templates"),
        static_folder=os.path.join(PROJECT_ROOT, "static"),
        instance_relative_config=True,
    )
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(load_settings(app.instance_path))
    app.config.from_mapping(overrides or {})
    register_extensions(app)
    register_blueprints(app)
    register_request_hooks(app)
    register_cli(app)
    return app


def register_extensions(app: Flask) -> None:
    from . import models  # noqa: F401  (models must be imported before migrations look at them)
    from .jobs import init_jobs

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(PROJECT_ROOT, "migrations"))
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "info"
    csrf.init_app(app)
    limiter.init_app(app)
    htmx.init_app(app)
    init_jobs(app)


def register_blueprints(app: Flask) -> None:
    from . import admin, api, auth, campaigns, dashboard, leads
    from .admin.views import bp as admin_bp
    from .auth.views import bp as auth_bp
    from .campaigns.views import bp as campaigns_bp
    from .dashboard.views import bp as dashboard_bp
    from .leads.views import bp as leads_bp

    del admin, auth, campaigns, dashboard, leads
    for blueprint in (auth_bp, dashboard_bp, leads_bp, campaigns_bp, admin_bp, api.bp, api.docs_bp):
        app.register_blueprint(blueprint)


def register_request_hooks(app: Flask) -> None:
    from .web import install_web_hooks

    install_web_hooks(app)


def register_cli(app: Flask) -> None:
    from .cli import demo_cli, users_cli

    app.cli.add_command(users_cli)
    app.cli.add_command(demo_cli)
