"""Email fixtures: a real SMTP server (aiosmtpd on a free port) and the app's mail settings."""

import socket
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller

from webapp.email_templates.smtp import close_worker_connections


class RecordingHandler:
    """Accepts every message and keeps it; ``refuse`` makes RCPT answer with a code of our choosing."""

    def __init__(self):
        self.envelopes = []
        self.refuse: str | None = None  # e.g. "450 try again later" or "550 no such user"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return f"250 2.0.0 Ok: queued as M{len(self.envelopes)}"

    @property
    def messages(self):
        """The received messages, parsed."""
        return [message_from_bytes(envelope.content, policy=policy.default) for envelope in self.envelopes]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(autouse=True)
def fresh_smtp_connection():
    """Each test opens SMTP connections of its own: the one a worker keeps is closed after the test."""
    yield
    close_worker_connections()


@pytest.fixture
def smtp_server():
    """A local SMTP server for this test; ``.handler`` holds what it received."""
    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture
def mail_config(app):
    """Set mail settings for one test and put the old ones back afterwards."""
    keys = (
        "MAIL_SERVER",
        "MAIL_PORT",
        "MAIL_DEFAULT_SENDER",
        "MAIL_RETRY_BACKOFF_SECONDS",
        "MAIL_MAX_ATTEMPTS",
        "MAIL_TIMEOUT_SECONDS",
        "PUBLIC_BASE_URL",
        "STALLED_AFTER_SECONDS",
    )
    saved = {key: app.config.get(key) for key in keys}
    missing = {key for key in keys if key not in app.config}

    def configure(**values):
        app.config.update(values)

    yield configure
    for key, value in saved.items():
        if key in missing:
            app.config.pop(key, None)
        else:
            app.config[key] = value


@pytest.fixture
def smtp(app, smtp_server, mail_config):
    """Mail goes to the local SMTP server; retries without backoff so that a job retries in place."""
    mail_config(
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=smtp_server.port,
        MAIL_DEFAULT_SENDER="Acme Insurance <hello@acme.example.com>",
        MAIL_RETRY_BACKOFF_SECONDS=0,
        MAIL_MAX_ATTEMPTS=3,
        MAIL_TIMEOUT_SECONDS=5,
        PUBLIC_BASE_URL="https://leadflow.example.com",
    )
    return smtp_server.handler
