"""A worker's SMTP connection is kept open across messages and jobs, and opened again when the server
dropped it; a message whose send fails is retried and recorded as before."""

import pytest
from aiosmtpd.controller import Controller

from tests.email.conftest import RecordingHandler, free_port
from tests.email.helpers import make_template, reloaded
from tests.factories import make_lead
from webapp.email_templates import smtp as worker_smtp
from webapp.email_templates.delivery import queue_email, send_outbox_messages
from webapp.extensions import db
from webapp.models import OutboxMessage


class ConnectionsHandler(RecordingHandler):
    """Notes the connection (the client's address) each message came over; ``refuse_data`` answers
    the next DATA commands with that reply, one each."""

    def __init__(self):
        super().__init__()
        self.peers = []
        self.refuse_data: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        if self.refuse_data:
            return self.refuse_data.pop(0)
        self.peers.append(session.peer)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def server(mail_config):
    """An SMTP server that can be restarted on the same port (``restart()``), dropping its connections."""
    handler, port = ConnectionsHandler(), free_port()
    controllers = [Controller(handler, hostname="127.0.0.1", port=port)]
    controllers[0].start()
    mail_config(
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=port,
        MAIL_DEFAULT_SENDER="Acme Insurance <hello@acme.example.com>",
        MAIL_RETRY_BACKOFF_SECONDS=0,
        MAIL_MAX_ATTEMPTS=3,
        MAIL_TIMEOUT_SECONDS=5,
        PUBLIC_BASE_URL="https://leadflow.example.com",
    )

    def restart():
        controllers[-1].stop()
        controllers.append(Controller(handler, hostname="127.0.0.1", port=port))
        controllers[-1].start()

    handler.restart = restart
    yield handler
    worker_smtp.close_worker_connections()
    controllers[-1].stop()


def queued(org, count: int, prefix: str) -> list[int]:
    template = make_template(org, name=f"Notice {prefix}", template_type="transactional")
    ids = []
    for n in range(count):
        lead = make_lead(org, email=f"{prefix}{n}@example.com")
        result = queue_email(organization_id=org.id, template_id=template.id, lead_id=lead.id, idempotency_key=f"{prefix}-{n}")
        ids.append(result["message_id"])
    db.session.commit()
    return ids


def test_two_jobs_send_over_one_connection_kept_open_between_them(org, server):
    first, second = queued(org, 3, "a"), queued(org, 2, "b")

    assert set(send_outbox_messages(first).values()) == {"sent"}
    assert set(send_outbox_messages(second).values()) == {"sent"}

    assert len(server.envelopes) == 5
    assert len(set(server.peers)) == 1


def test_a_connection_the_server_dropped_is_opened_again_without_failing_the_message(org, server):
    assert set(send_outbox_messages(queued(org, 1, "a")).values()) == {"sent"}
    server.restart()  # the kept connection is closed by the server

    [message_id] = queued(org, 1, "b")
    assert send_outbox_messages([message_id]) == {message_id: "sent"}

    message = db.session.get(OutboxMessage, message_id)
    assert message.attempts == 1 and message.last_error is None
    assert len(server.envelopes) == 2 and len(set(server.peers)) == 2


def test_an_idle_connection_is_checked_before_it_is_used(org, server, monkeypatch):
    monkeypatch.setattr(worker_smtp, "IDLE_CHECK_SECONDS", 0.0)
    assert set(send_outbox_messages(queued(org, 1, "a")).values()) == {"sent"}
    server.restart()

    assert set(send_outbox_messages(queued(org, 1, "b")).values()) == {"sent"}
    assert len(server.envelopes) == 2


def test_a_message_refused_at_its_data_is_retried_and_the_next_ones_still_go(org, server):
    ids = queued(org, 3, "a")
    server.refuse_data = ["451 4.3.0 try again later"]

    assert send_outbox_messages(ids) == dict.fromkeys(ids, "sent")  # backoff 0 in tests: retried in the same job

    first = reloaded(db.session.get(OutboxMessage, ids[0]))
    assert first.attempts == 2 and "451 4.3.0 try again later" in first.last_error
    assert [reloaded(db.session.get(OutboxMessage, i)).attempts for i in ids[1:]] == [1, 1]
    assert len(server.envelopes) == 3


def test_a_message_refused_for_good_fails_and_is_not_sent_again(org, server):
    [message_id] = queued(org, 1, "a")
    server.refuse_data = ["554 5.6.0 message refused"]

    assert send_outbox_messages([message_id]) == {message_id: "failed"}
    assert send_outbox_messages([message_id]) == {message_id: "failed"}

    message = db.session.get(OutboxMessage, message_id)
    assert message.status == "failed" and message.attempts == 1 and "554 5.6.0" in message.last_error
    assert server.envelopes == []


def test_other_mail_settings_open_another_connection(org, server, mail_config):
    assert set(send_outbox_messages(queued(org, 1, "a")).values()) == {"sent"}
    other = ConnectionsHandler()
    controller = Controller(other, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        mail_config(MAIL_PORT=controller.port)
        assert set(send_outbox_messages(queued(org, 1, "b")).values()) == {"sent"}
    finally:
        worker_smtp.close_worker_connections()
        controller.stop()

    assert len(server.envelopes) == 1 and len(other.envelopes) == 1
