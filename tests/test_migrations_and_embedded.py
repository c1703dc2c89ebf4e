"""The migrations build exactly the models' schema, and the embedded default (SQLite, no Redis) works."""

import os
import re
import secrets
import subprocess
import sys

import psycopg
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine

from tests.conftest import PG_ADMIN_URL
from webapp import create_app
from webapp.extensions import db
from webapp.leads.partitions import include_in_migrations

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_migrations_match_the_models_on_postgresql(test_env):
    name = f"leadflow_migrations_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = test_env["DATABASE_URL"].rsplit("/", 1)[0] + f"/{name}"
    try:
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
        with app.app_context():
            upgrade()
            with db.engine.connect() as conn:
                context = MigrationContext.configure(conn, opts={"include_name": include_in_migrations})
                differences = compare_metadata(context, db.metadata)
            assert differences == []
            downgrade(revision="base")
            upgrade()
            db.engine.dispose()
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_embedded_default_migrates_seeds_and_serves(tmp_path):
    """No DATABASE_URL, no REDIS_URL: SQLite in the instance folder, jobs in process."""
    database = tmp_path / "leadflow.db"
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env["DATABASE_URL"] = f"sqlite:///{database}"
    flask = [sys.executable, "-m", "flask", "--app", "webapp"]
    for command in (["db", "upgrade"], ["demo", "seed", "--leads", "60"]):
        result = subprocess.run(flask + command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
    assert "Sign in as ada@acme-insurance.example.com" in result.stdout

    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM leads").scalar() == 60
    engine.dispose()
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
            "REDIS_URL": None,
            "RATELIMIT_STORAGE_URI": "memory://",
            "WTF_CSRF_ENABLED": False,
            "TESTING": True,
        }
    )
    client = app.test_client()
    response = client.post("/login", data={"email": "ada@acme-insurance.example.com", "password": "demo-pass-123"})
    assert response.status_code == 302
    page = client.get("/leads/")
    assert page.status_code == 200 and b"60 leads" in page.data
    dashboard = client.get("/")
    assert dashboard.status_code == 200  # its charts count by UTC day in SQL that SQLite understands too
    navigation = set(re.findall(r'<a [^>]*href="(/[a-z][^"?#]*)"', dashboard.get_data(as_text=True).split("</nav>")[0]))
    assert len(navigation) >= 8
    for path in sorted(navigation - {"/logout"}):
        assert client.get(path).status_code == 200, path
