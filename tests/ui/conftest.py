"""Browser tests: the app served on a free port, a real RQ worker process, the system Chromium."""

import os
import pathlib
import subprocess
import sys
import threading

import pytest
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from webapp import create_app

ROOT = pathlib.Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def live_server(app):
    """The app with CSRF on, served by a thread; returns its base URL."""
    served = create_app({"TESTING": False, "WTF_CSRF_ENABLED": True, "RATELIMIT_ENABLED": False})
    server = make_server("127.0.0.1", 0, served, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def worker_process(test_env):
    """``python worker.py`` as a real process, running this test's jobs (and no other test's)."""
    log = open(ROOT / "test-artifacts" / "worker.log", "w") if (ROOT / "test-artifacts").is_dir() else subprocess.DEVNULL
    process = subprocess.Popen(
        [sys.executable, "worker.py"], cwd=ROOT, env={**os.environ, **test_env}, stdout=log, stderr=subprocess.STDOUT
    )
    yield process
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    if log is not subprocess.DEVNULL:
        log.close()


@pytest.fixture(scope="session")
def browser():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server, viewport={"width": 1360, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def screenshot(page, name: str) -> pathlib.Path:
    """Save a full-page screenshot under test-artifacts/screenshots/ (kept by CI as an artifact)."""
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page, email: str, password: str = "secret-pass-1") -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")


def follow_navigation(page, label: str) -> None:
    """Click ``label`` in the main navigation, opening the Menu button or a "More"/"Admin" group first
    when the link is behind one (templates/base.html)."""
    link = page.locator(f"nav[aria-label=Main] a.nav-link:text-is('{label}')")  # found hidden as well as shown
    toggle = page.locator(".nav-toggle")
    if not link.is_visible() and toggle.is_visible():
        toggle.click()
    if not link.is_visible():
        link.locator("xpath=ancestor::li[contains(@class, 'nav-group')]/button").click()
    link.click()
