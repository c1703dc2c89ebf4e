"""A real streaming standby for the replica tests.

The system cluster allows no replication connections (and tests do not change system config), so the
tests start a primary of their own (``initdb`` in a temporary directory, a free port, replication
from 127.0.0.1 allowed) and a standby made from it with ``pg_basebackup -R`` on another free port.
PostgreSQL refuses to run as root: run as root, the tests run its programs as the ``postgres`` user.
Both servers are stopped and their directory removed at the end, whatever happened.
"""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass

import psycopg
import pytest

from webapp import create_app
from webapp.extensions import db as _db
from webapp.replica import replica_of

PROGRAMS = ("initdb", "pg_ctl", "pg_basebackup")
DATABASE = "leadflow"
PRIMARY_SETTINGS = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{sockets}'
wal_level = replica
max_wal_senders = 4
fsync = off
autovacuum = off
"""
# autovacuum off: no commit of its own may move the primary on while a test measures the standby's lag.
HBA = """
local all all trust
host all all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust
"""


def postgres_bindir() -> str | None:
    """Where initdb, pg_ctl and pg_basebackup are (``PG_BINDIR``, else ``pg_config --bindir``, else PATH)."""
    candidates = [os.environ.get("PG_BINDIR")]
    if shutil.which("pg_config"):
        candidates.append(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip())
    if shutil.which("initdb"):
        candidates.append(os.path.dirname(shutil.which("initdb")))
    for bindir in filter(None, candidates):
        if all(os.access(os.path.join(bindir, program), os.X_OK) for program in PROGRAMS):
            return bindir
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    bindir: str
    datadir: str
    port: int
    as_postgres: bool

    def run(self, program: str, *args: str) -> None:
        command = [os.path.join(self.bindir, program), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed:\n{done.stdout}\n{done.stderr}\n{self.log_tail()}")

    def log_tail(self) -> str:
        log = f"{self.datadir}.log"
        return open(log).read()[-2000:] if os.path.exists(log) else ""

    def start(self) -> None:
        self.run("pg_ctl", "-D", self.datadir, "-l", f"{self.datadir}.log", "-w", "-t", "60", "start")

    def stop(self) -> None:
        if os.path.exists(os.path.join(self.datadir, "postmaster.pid")):
            self.run("pg_ctl", "-D", self.datadir, "-m", "immediate", "-w", "stop")

    def append_settings(self, settings: str) -> None:
        with open(os.path.join(self.datadir, "postgresql.conf"), "a") as conf:
            conf.write(settings)

    def url(self, database: str = DATABASE, driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = DATABASE) -> psycopg.Connection:
        return psycopg.connect(self.url(database, "postgresql"), autocommit=True)

    def scalar(self, sql: str, *params):
        with self.connect() as conn:
            return conn.execute(sql, params).fetchone()[0]


@dataclass
class StandbyPair:
    primary: Server
    standby: Server

    def wait_for_standby(self, applied: bool = True, timeout: float = 15) -> None:
        """Until the standby has received (``applied``: and replayed) all the primary has written."""
        position = self.primary.scalar("SELECT pg_current_wal_lsn()")
        function = "pg_last_wal_replay_lsn" if applied else "pg_last_wal_receive_lsn"
        wait_until(lambda: self.standby.scalar(f"SELECT {function}() >= %s::pg_lsn", str(position)), timeout)

    def standby_lag(self) -> float:
        from webapp.replica import LAG_QUERY

        return float(self.standby.scalar(LAG_QUERY.text))


def wait_until(condition, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the standby did not catch up")
        time.sleep(0.02)


@pytest.fixture(scope="session")
def standby_pair():
    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server programs (initdb, pg_ctl, pg_basebackup) are not installed")
    as_postgres = os.geteuid() == 0
    workdir = tempfile.mkdtemp(prefix="leadflow-replica-")
    if as_postgres:
        user = pwd.getpwnam("postgres")
        os.chown(workdir, user.pw_uid, user.pw_gid)
    primary = Server(bindir, os.path.join(workdir, "primary"), free_port(), as_postgres)
    standby = Server(bindir, os.path.join(workdir, "standby"), free_port(), as_postgres)
    try:
        primary.run("initdb", "-D", primary.datadir, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
        primary.append_settings(PRIMARY_SETTINGS.format(port=primary.port, sockets=workdir))
        with open(os.path.join(primary.datadir, "pg_hba.conf"), "w") as hba:
            hba.write(HBA)
        primary.start()
        with primary.connect("postgres") as conn:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
        primary.run(
            "pg_basebackup",
            *("-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"),
            *("-D", standby.datadir, "-R", "-X", "stream", "--checkpoint=fast", "--no-sync"),
        )
        standby.append_settings(f"port = {standby.port}\n")
        standby.start()
        yield StandbyPair(primary, standby)
    finally:
        for server in (standby, primary):
            try:
                server.stop()
            except RuntimeError as exc:
                print(f"\n[replica tests] could not stop a server: {exc}")
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def app(test_env, standby_pair):
    """The app reading from the standby (the lag measured on every request), writing to its primary."""
    app = create_app(
        {
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "SQLALCHEMY_DATABASE_URI": standby_pair.primary.url(),
            "DATABASE_READ_URL": standby_pair.standby.url(),
            "DATABASE_READ_MAX_LAG_SECONDS": 30,
            "DATABASE_READ_LAG_CHECK_SECONDS": 0,
        }
    )
    with app.app_context():
        _db.create_all()
    yield app
    with app.app_context():
        _db.session.remove()
        _db.engine.dispose()
    replica_of(app).engine.dispose()


@pytest.fixture
def caught_up(app, standby_pair):
    """The standby has replayed everything so far (each test starts from the same rows on both)."""
    standby_pair.wait_for_standby()
    return standby_pair


@pytest.fixture
def paused_replay(caught_up):
    """The standby receives the primary's WAL but does not replay it until the test ends."""
    caught_up.standby.scalar("SELECT pg_wal_replay_pause()")
    try:
        yield caught_up
    finally:
        caught_up.standby.scalar("SELECT pg_wal_replay_resume()")
