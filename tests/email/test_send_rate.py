"""An organization's send rate limit (SPEC §16): a big send is spread over time, never dropped, and
the outbox shows when each waiting message will go."""

import itertools
import time

import pytest
from aiosmtpd.controller import Controller
from rq.job import Job
from sqlalchemy import select

from tests.email.conftest import RecordingHandler, free_port
from tests.email.helpers import make_template
from tests.factories import make_lead, make_org, make_user
from webapp.email_templates.delivery import SEND_QUEUE, THROTTLED, queue_email, send_outbox_messages
from webapp.extensions import db
from webapp.jobs import rq_queue
from webapp.models import OutboxMessage


class TimedHandler(RecordingHandler):
    def __init__(self):
        super().__init__()
        self.arrived = {}

    async def handle_DATA(self, server, session, envelope):
        for address in envelope.rcpt_tos:
            self.arrived[address] = time.time()
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def timed_smtp(mail_config):
    handler = TimedHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    mail_config(MAIL_SERVER="127.0.0.1", MAIL_PORT=controller.port, MAIL_DEFAULT_SENDER="Acme <hello@acme.example.com>")
    yield handler
    controller.stop()


def queue_for(org, count: int, prefix: str) -> list[int]:
    template = make_template(org, name=f"Rate {prefix}", template_type="transactional")
    ids = []
    for n in range(count):
        lead = make_lead(org, email=f"{prefix}{n}@example.com")
        result = queue_email(organization_id=org.id, template_id=template.id, lead_id=lead.id, idempotency_key=f"{prefix}-{n}")
        ids.append(result["message_id"])
    db.session.commit()
    return ids


def test_a_send_rate_spreads_an_organizations_messages_and_leaves_other_organizations_alone(org, timed_smtp):
    org.send_rate_per_second = 5
    other = make_org("Unlimited Insurance")
    limited, unlimited = queue_for(org, 15, "limited"), queue_for(other, 3, "free")

    first = send_outbox_messages(limited + unlimited)

    assert all(first[i] == "sent" for i in unlimited)
    sent_now = [i for i in limited if first[i] == "sent"]
    assert 4 <= len(sent_now) <= 7, first  # the slots of the next second or so
    assert all(first[i] == "throttled" for i in limited if i not in sent_now)
    db.session.expire_all()
    queued = select(OutboxMessage).where(OutboxMessage.status == "queued").order_by(OutboxMessage.next_attempt_at)
    waiting = db.session.scalars(queued).all()
    assert {m.id for m in waiting} == set(limited) - set(sent_now)
    assert {m.status_reason for m in waiting} == {THROTTLED}  # what the outbox shows
    due = [m.next_attempt_at.timestamp() for m in waiting]
    assert all(later - earlier == pytest.approx(0.2, abs=0.01) for earlier, later in itertools.pairwise(due))
    registry = rq_queue(SEND_QUEUE).scheduled_job_registry
    jobs = sorted((registry.get_scheduled_time(job_id), Job.fetch(job_id, registry.connection)) for job_id in registry.get_job_ids())
    assert sorted(i for _, job in jobs for i in job.args[0]) == sorted(m.id for m in waiting)

    for at, job in jobs:  # as RQ's scheduler does: each job at its time
        time.sleep(max(0.0, at.timestamp() - time.time()))
        assert set(send_outbox_messages(*job.args).values()) == {"sent"}

    arrivals = sorted(timed_smtp.arrived[f"limited{n}@example.com"] for n in range(15))
    assert arrivals[-1] - arrivals[0] >= 14 * 0.2 * 0.9  # fifteen messages at five a second
    busiest_second = max(sum(1 for t in arrivals if start <= t < start + 1) for start in arrivals)
    assert busiest_second <= 5 + 1  # at most one more than the rate in any second (the first slot is "now")


def test_admins_set_the_send_rate_through_the_api_and_the_page_and_bad_values_change_nothing(app, client, api, api_as, org, admin):
    from tests.conftest import login_browser

    assert api.get("/api/v1/settings/sending").json == {"send_rate_per_second": None}
    assert api.put("/api/v1/settings/sending", json={"send_rate_per_second": 20}).json == {"send_rate_per_second": 20}
    for bad in (0, 10_001, "fast", "5", True, 2.5):
        response = api.put("/api/v1/settings/sending", json={"send_rate_per_second": bad})
        assert response.status_code == 422 and response.json["errors"][0]["field"] == "send_rate_per_second", bad
    assert api.put("/api/v1/settings/sending", json={"send_rate_per_second": 20, "burst": 5}).status_code == 422
    marketer = make_user(org, email="mo@acme.example.com", role="marketer")
    assert api_as(marketer).put("/api/v1/settings/sending", json={"send_rate_per_second": 1}).status_code == 403
    assert api_as(marketer).get("/api/v1/settings/sending").json == {"send_rate_per_second": 20}
    other = make_org("Other Insurance")
    assert api_as(make_user(other, email="admin@other.example.com", role="admin")).get("/api/v1/settings/sending").json == {
        "send_rate_per_second": None
    }

    login_browser(client, admin.email)
    page = client.post("/admin/email-delivery/sending", data={"send_rate_per_second": "0"})
    assert page.status_code == 422 and "from 1 to 10,000" in page.get_data(as_text=True)
    assert db.session.get(type(org), org.id, populate_existing=True).send_rate_per_second == 20
    page = client.post("/admin/email-delivery/sending", data={"send_rate_per_second": ""}, follow_redirects=True)
    assert "as fast as the workers send" in page.get_data(as_text=True)
    assert db.session.get(type(org), org.id, populate_existing=True).send_rate_per_second is None
