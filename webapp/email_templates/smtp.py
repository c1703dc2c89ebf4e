"""The SMTP connection of a worker: opened for its first message, kept open across messages and jobs.

A worker process keeps one connection (one per thread when jobs run in threads of the web process),
for the mail settings it was opened with: other settings (server, port, TLS, login) open another.
An error closes it and the next message opens a new one. A kept connection may have been dropped by
the server meanwhile: one idle for ``IDLE_CHECK_SECONDS`` is checked with NOOP first, and a message
whose envelope meets a dropped connection is sent again on a new one (nothing of it was sent yet).
Once its data is on the wire, a message is never sent twice by this module: an error there is the
message's failure, retried by the outbox. The connection is closed (QUIT) when the process exits.
"""

import atexit
import os
import smtplib
import threading
import time

from flask import current_app

IDLE_CHECK_SECONDS = 10.0
_local = threading.local()
_open_connections: set["SmtpConnection"] = set()
_open_lock = threading.Lock()


def worker_connection() -> "SmtpConnection":
    """This worker's connection (per process and thread), opened when it first sends."""
    connection = getattr(_local, "connection", None)
    if connection is None or connection.pid != os.getpid():  # a forked child does not use its parent's socket
        connection = _local.connection = SmtpConnection()
    return connection


def close_worker_connections() -> None:
    """Close every connection of this process (at exit; tests use it to start afresh)."""
    with _open_lock:
        connections = list(_open_connections)
    for connection in connections:
        if connection.pid == os.getpid():
            connection.close()


atexit.register(close_worker_connections)


class _DroppedConnection(Exception):
    """The kept connection turned out closed before the message's data was sent."""


class SmtpConnection:
    """An SMTP connection (stdlib smtplib) for the current app's mail settings."""

    def __init__(self):
        self.smtp: smtplib.SMTP | None = None
        self.settings: tuple | None = None
        self.last_used = 0.0
        self.pid = os.getpid()

    def send(self, data: bytes, envelope_from: str, envelope_to: str) -> str:
        """Deliver one message (its bytes as built); returns the server's reply to its data. Raises
        smtplib's errors (refusals as ``SMTPResponseException``) and OSError."""
        international = not (envelope_from.isascii() and envelope_to.isascii())
        options = ["SMTPUTF8", "BODY=8BITMIME"] if international else []
        try:
            smtp, kept = self._ready()
            try:
                return self._send(smtp, data, envelope_from, envelope_to, options, kept)
            except _DroppedConnection:
                self.close()
                smtp, _ = self._ready()
                return self._send(smtp, data, envelope_from, envelope_to, options, kept=False)
        except BaseException:
            self.close()
            raise

    def _send(self, smtp: smtplib.SMTP, data: bytes, envelope_from: str, envelope_to: str, options: list, kept: bool) -> str:
        try:
            code, reply = smtp.mail(envelope_from, options)
            if code == 421 and kept:  # the server is closing the kept connection (an idle timeout)
                raise _DroppedConnection()
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, reply, envelope_from)
            code, reply = smtp.rcpt(envelope_to)
            if code not in (250, 251):
                raise smtplib.SMTPRecipientsRefused({envelope_to: (code, reply)})
        except (smtplib.SMTPServerDisconnected, ConnectionError) as exc:
            if kept:
                raise _DroppedConnection() from exc
            raise
        code, reply = smtp.data(data)
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)
        self.last_used = time.monotonic()
        return f"{code} {reply.decode(errors='replace')}"[:1000]

    def _ready(self) -> tuple[smtplib.SMTP, bool]:
        """The open connection for the current settings, and whether it is one kept from before
        (checked with NOOP when it has been idle a while) rather than a new one."""
        settings = _settings()
        if self.smtp is not None and self.settings != settings:
            self.close()
        if self.smtp is not None and time.monotonic() - self.last_used > IDLE_CHECK_SECONDS:
            try:
                alive = self.smtp.noop()[0] == 250
            except (smtplib.SMTPException, OSError):
                alive = False
            if not alive:
                self.close()
        if self.smtp is not None:
            return self.smtp, True
        self._open(settings)
        return self.smtp, False

    def _open(self, settings: tuple) -> None:
        server, port, timeout, use_tls, username, password = settings
        smtp = smtplib.SMTP(server, port, timeout=timeout)
        try:
            smtp.ehlo()
            if use_tls:
                smtp.starttls()
                smtp.ehlo()
            if username:
                smtp.login(username, password)
        except BaseException:
            smtp.close()
            raise
        self.smtp, self.settings, self.last_used = smtp, settings, time.monotonic()
        with _open_lock:
            _open_connections.add(self)

    def close(self) -> None:
        smtp, self.smtp = self.smtp, None
        with _open_lock:
            _open_connections.discard(self)
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()


def _settings() -> tuple:
    config = current_app.config
    return (
        config["MAIL_SERVER"],
        int(config.get("MAIL_PORT") or 25),
        config.get("MAIL_TIMEOUT_SECONDS", 30),
        bool(config.get("MAIL_USE_TLS")),
        config.get("MAIL_USERNAME") or "",
        config.get("MAIL_PASSWORD") or "",
    )
