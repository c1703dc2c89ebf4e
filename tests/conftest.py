"""Test fixtures: a PostgreSQL database and a Redis DB number of this run's own.

Every run creates a fresh database (``leadflow_test_<random>``) and claims a free Redis DB number, so
that two runs on one machine never collide. Tables are emptied after each test.
"""

import dataclasses
import os
import secrets

import psycopg
import pytest
import redis
from sqlalchemy import text

from webapp import create_app
from webapp.extensions import db as _db
from webapp.features import wiring
from webapp.leads.partitions import ensure_event_partitions

PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
REDIS_LOCK_KEY = "leadflow:test-run"


def _create_database() -> str:
    name = f"leadflow_test_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def _drop_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _claim_redis_db(token: str) -> int:
    for number in range(1, 16):
        client = redis.Redis.from_url(f"{REDIS_BASE_URL}/{number}")
        if client.set(REDIS_LOCK_KEY, token, nx=True, ex=6 * 3600):
            for key in client.scan_iter():
                if key != REDIS_LOCK_KEY.encode():
                    client.delete(key)
            return number
    raise RuntimeError("no free Redis DB number (1-15) for this test run")


@pytest.fixture(scope="session")
def test_env():
    """The database and Redis of this run, exported so that worker subprocesses see them too."""
    token = secrets.token_hex(8)
    name = _create_database()
    redis_db = _claim_redis_db(token)
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    env = {
        "DATABASE_URL": f"{base}/{name}",
        "REDIS_URL": f"{REDIS_BASE_URL}/{redis_db}",
        "SECRET_KEY": "test-secret-key-for-leadflow-tests-only",
        "LEADFLOW_BACKGROUND_SCHEDULER": "0",
    }
    os.environ.update(env)
    print(f"\n[leadflow tests] PostgreSQL database {name}, Redis DB {redis_db}")
    yield env
    redis.Redis.from_url(env["REDIS_URL"]).flushdb()
    _drop_database(name)


@pytest.fixture(scope="session")
def app(test_env):
    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": True})
    with app.app_context():
        _db.create_all()
        ensure_event_partitions()
    yield app
    with app.app_context():
        _db.session.remove()
        _db.engine.dispose()


@pytest.fixture(autouse=True)
def _clean_state(request):
    """Empty every table and the Redis DB after each test that used the app."""
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    with app.app_context():
        empty_database()
    client = redis.Redis.from_url(app.config["REDIS_URL"])
    for key in client.scan_iter():
        if key != REDIS_LOCK_KEY.encode():
            client.delete(key)


def empty_database() -> None:
    """Every table empty, ids starting again at 1 (in the current app context)."""
    _db.session.remove()
    # DELETE is far cheaper than TRUNCATE for the handful of rows a test leaves behind; ids
    # start again at 1 so that every test sees the same ids whatever ran before it.
    with _db.engine.begin() as conn:
        for table in reversed(_db.metadata.sorted_tables):
            conn.execute(table.delete())
        conn.execute(
            text("SELECT setval(s.oid, 1, false) FROM pg_class s WHERE s.relkind = 'S' AND s.relnamespace = 'public'::regnamespace")
        )


@pytest.fixture
def app_ctx(app):
    with app.app_context():
        yield app
        _db.session.remove()


@pytest.fixture
def session(app_ctx):
    return _db.session


@pytest.fixture
def rewire(app, monkeypatch):
    """``rewire(event_hooks=(...), ...)``: the app's wiring with these parts replaced, for one test."""

    def replace_parts(**parts):
        monkeypatch.setitem(app.extensions, "leadflow", dataclasses.replace(wiring(app), **parts))

    return replace_parts


@pytest.fixture
def extra_task_types(app, rewire):
    """``extra_task_types(TaskType(...), ...)``: task types of the test's own, for one test."""
    return lambda *task_types: rewire(task_types={**wiring(app).task_types, **{t.name: t for t in task_types}})


class ApiClient:
    """A test client that sends a bearer token and JSON bodies."""

    def __init__(self, client, token: str | None):
        self.client, self.token = client, token

    def _headers(self, headers):
        merged = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        merged.update(headers or {})
        return merged

    def request(self, method, url, json=None, headers=None, **kwargs):
        return self.client.open(url, method=method, json=json, headers=self._headers(headers), **kwargs)

    def get(self, url, **kw):
        return self.request("GET", url, **kw)

    def post(self, url, json=None, **kw):
        return self.request("POST", url, json=json, **kw)

    def put(self, url, json=None, **kw):
        return self.request("PUT", url, json=json, **kw)

    def patch(self, url, json=None, **kw):
        return self.request("PATCH", url, json=json, **kw)

    def delete(self, url, json=None, **kw):
        return self.request("DELETE", url, json=json, **kw)


def token_for(app, user) -> str:
    from webapp.api.auth import issue_token

    with app.test_request_context():
        return issue_token(user)[0]


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def org(app_ctx):
    from tests.factories import make_org

    return make_org("Acme Insurance")


@pytest.fixture
def admin(org):
    from tests.factories import make_user

    return make_user(org, email="admin@acme.example.com", role="admin", name="Ada Admin")


@pytest.fixture
def api(app, client, admin):
    """An API client acting as an admin of ``org``."""
    return ApiClient(client, token_for(app, admin))


@pytest.fixture
def api_as(app, client):
    """``api_as(user)``: an API client acting as that user."""
    return lambda user: ApiClient(app.test_client(), token_for(app, user))


def login_browser(client, email: str, password: str = "secret-pass-1"):
    return client.post("/login", data={"email": email, "password": password})


@pytest.fixture
def run_jobs(app):
    """Run every queued RQ job with a real worker (SimpleWorker, burst mode) on this run's Redis."""
    from webapp.jobs import QUEUES, redis_connection
    from worker import AppWorker

    def run():
        AppWorker.app = app
        worker = AppWorker(list(QUEUES), connection=redis_connection(app))
        worker.subscribe = lambda: None  # a burst worker takes no commands; its pubsub thread could hold shutdown for 60 s
        worker.work(burst=True)
        return worker

    return run
