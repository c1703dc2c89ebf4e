"""What every benchmark needs: a PostgreSQL database of its own, created and dropped per run."""

import os
import secrets

import psycopg

PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def create_database() -> str:
    """A fresh database ``leadflow_bench_<random>``; returns its name."""
    name = f"leadflow_bench_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_bench_admin():
    """Inside an app context: the tables, the organization "Bench Insurance" and its admin (flushed,
    not committed); returns the admin, whose ``organization_id`` is the organization's."""
    from webapp.extensions import db
    from webapp.models import Organization, User

    db.create_all()
    org = Organization(name="Bench Insurance", slug="bench")
    db.session.add(org)
    db.session.flush()
    user = User(organization_id=org.id, email="bench@example.com", name="Bench", role="admin")
    user.set_password("bench-password-1")
    db.session.add(user)
    db.session.flush()
    return user
