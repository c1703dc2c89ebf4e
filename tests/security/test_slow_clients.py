"""Slow clients must not take the web server down.

Clients that send a request line and then trickle header bytes (a "slowloris") held both sync workers of
the Procfile's former ``web`` line (``gunicorn --workers 2 ...``): with 4 such sockets a normal request
waited 20-40 s. This test starts the server exactly as the Procfile's ``web`` line does (through
``/bin/sh -c`` with ``PORT`` set and the project's ``.venv/bin`` first on ``PATH``, from the project root),
keeps many slow sockets open (slow headers, then slow bodies) and checks that normal requests are still
answered quickly. All traffic goes to 127.0.0.1; the server and the sockets are cleaned up whatever
happens, and the server's log is left in test-artifacts/slow-clients-server.log.
"""

import contextlib
import http.client
import json
import os
import re
import selectors
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
NORMAL_PATH = "/login"
MIN_SLOW_SOCKETS = 64  # and at least 4 x (workers x threads) of the web line
TRICKLE_INTERVAL = 1.0  # seconds between two bytes of one slow socket
SETTLE_SECONDS = 2.0  # the slow sockets have been accepted and are being read from
NORMAL_REQUESTS = 6
REQUEST_GAP = 1.0  # between two normal requests: together they span a keep-alive cycle of the server
MAX_NORMAL_LATENCY = 2.0  # seconds, for each normal request while the slow sockets trickle
START_TIMEOUT = 20.0


def procfile_command(process_type: str = "web") -> str:
    for line in (PROJECT_ROOT / "Procfile").read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() == process_type:
            return command.strip()
    raise AssertionError(f"the Procfile has no {process_type!r} line")


def _option(command: str, *names: str, default: int) -> int:
    for name in names:
        if match := re.search(rf"(?:^|\s){re.escape(name)}(?:=|\s+)(\d+)", command):
            return int(match.group(1))
    return default


def concurrency_of(command: str) -> int:
    """workers x threads as the command line says (gunicorn's defaults: 1 worker, 1 thread)."""
    return _option(command, "--workers", "-w", default=1) * _option(command, "--threads", default=1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def timed_get(port: int, path: str = NORMAL_PATH, timeout: float = 10.0) -> tuple[int | None, float]:
    """(status, seconds) of one normal request; status None when it timed out or failed."""
    started = time.monotonic()
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        response = conn.getresponse()
        response.read()
        return response.status, time.monotonic() - started
    except OSError:
        return None, time.monotonic() - started
    finally:
        conn.close()


@contextlib.contextmanager
def procfile_server(command: str, env: dict[str, str]):
    """The Procfile command running on a free port, as a process runner starts it; yields the port."""
    port = free_port()
    full_env = {
        **os.environ,
        **env,
        "PORT": str(port),
        "PYTHONUNBUFFERED": "1",
        "PATH": f"{PROJECT_ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    log_path = PROJECT_ROOT / "test-artifacts" / "slow-clients-server.log"
    log_path.parent.mkdir(exist_ok=True)
    with open(log_path, "wb") as log:
        # A session of its own: the master and its workers are one process group to stop together.
        process = subprocess.Popen(
            ["/bin/sh", "-c", command], cwd=PROJECT_ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                if process.poll() is not None:
                    raise AssertionError(f"the server exited with {process.returncode}: see {log_path}")
                status, _ = timed_get(port, timeout=2.0)
                if status == 200:
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(f"the server did not answer {NORMAL_PATH} within {START_TIMEOUT} s: see {log_path}")
                time.sleep(0.2)
            yield port
        finally:
            _stop(process)


def _stop(process: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


SLOW_HEADERS = f"GET {NORMAL_PATH} HTTP/1.1\r\nHost: {HOST}\r\nX-Slow: ".encode()
SLOW_BODY = (
    f"POST {NORMAL_PATH} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    "Content-Length: 100000\r\n\r\nemail="
).encode()


@contextlib.contextmanager
def slow_clients(port: int, count: int, opening: bytes = SLOW_HEADERS, interval: float = TRICKLE_INTERVAL):
    """``count`` sockets that send ``opening``, then one more byte every ``interval`` seconds.

    A socket that the server closes (or answers) is replaced by a new one, as a slowloris does, so that
    ``count`` slow sockets press on the server all along. Yields counters: ``reconnects``, ``bytes``."""
    selector, stop, stats = selectors.DefaultSelector(), threading.Event(), {"reconnects": 0, "bytes": 0}

    def open_one() -> None:
        sock = socket.create_connection((HOST, port), timeout=5)
        try:
            sock.sendall(opening)
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
        except BaseException:
            sock.close()
            raise

    def replace(sock: socket.socket) -> None:
        selector.unregister(sock)
        sock.close()
        if not stop.is_set():
            with contextlib.suppress(OSError):
                open_one()
                stats["reconnects"] += 1

    def trickle() -> None:
        next_byte = time.monotonic() + interval
        while not stop.is_set():
            # The server spoke or hung up: the slow client comes back on a new connection.
            for key, _ in selector.select(timeout=max(0.0, min(0.2, next_byte - time.monotonic()))):
                replace(key.fileobj)
            if time.monotonic() >= next_byte:
                next_byte += interval
                for key in list(selector.get_map().values()):
                    try:
                        key.fileobj.send(b"a")
                        stats["bytes"] += 1
                    except OSError:
                        replace(key.fileobj)

    sender = threading.Thread(target=trickle, name="slow-clients", daemon=True)
    try:
        for _ in range(count):
            open_one()
        sender.start()
        yield stats
    finally:
        stop.set()
        if sender.is_alive():
            sender.join(timeout=5)
        for key in list(selector.get_map().values()):
            with contextlib.suppress(OSError):
                key.fileobj.close()
        selector.close()


@pytest.mark.parametrize("opening", [SLOW_HEADERS, SLOW_BODY], ids=["slow-headers", "slow-body"])
def test_a_normal_request_is_answered_quickly_while_slow_clients_trickle(test_env, opening):
    command = procfile_command("web")
    slow_count = max(MIN_SLOW_SOCKETS, 4 * concurrency_of(command))
    with procfile_server(command, test_env) as port:
        quiet_status, quiet_latency = timed_get(port)
        assert quiet_status == 200
        with slow_clients(port, slow_count, opening) as slow:
            time.sleep(SETTLE_SECONDS)
            for _ in range(NORMAL_REQUESTS):
                status, latency = timed_get(port, timeout=MAX_NORMAL_LATENCY + 3)
                print(
                    f"\n[slow clients] {command!r}, {slow_count} slow sockets: GET {NORMAL_PATH} -> {status} in "
                    f"{latency:.3f} s (quiet: {quiet_latency:.3f} s; slow bytes sent {slow['bytes']}, "
                    f"reconnects {slow['reconnects']})"
                )
                assert status == 200 and latency < MAX_NORMAL_LATENCY, (
                    f"a normal GET {NORMAL_PATH} took {latency:.1f} s (status {status}) while {slow_count} clients "
                    f"trickled bytes to {command!r}"
                )
                time.sleep(REQUEST_GAP)
            assert slow["bytes"] >= slow_count, "the slow clients did not get to trickle"


def test_a_request_line_over_the_limit_is_answered_as_problem_json(test_env):
    """gunicorn refuses a request line longer than --limit-request-line before the app sees it; the
    Procfile's worker answers it as every API problem is answered (and as the document says)."""
    with procfile_server(procfile_command("web"), test_env) as port:
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
        try:
            conn.request("GET", "/api/v1/leads?q=" + "x" * 9000, headers={"Connection": "close"})
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        assert response.status == 414
        assert response.getheader("Content-Type") == "application/problem+json"
        assert json.loads(body)["status"] == 414
        status, _ = timed_get(port, "/api/v1/leads?q=" + "x" * 7000)  # under the limit: the app answers (401 without a token)
        assert status == 401
