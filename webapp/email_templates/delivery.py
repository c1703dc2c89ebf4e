"""The outbox: render an email for a lead into a row, then send it over SMTP from a job.

- ``queue_email()`` runs inside the caller's transaction (an automation step) and never commits: it
  renders the template, inserts one ``OutboxMessage`` under the caller's idempotency key (a repeat
  returns the first row and does nothing else) and, once the transaction commits, queues the job.
  Without ``MAIL_SERVER`` the message is ``held``: kept in the outbox, visible, not sent.
- ``send_outbox_messages()`` is the job: the messages a transaction queued, up to 100, over the
  worker's SMTP connection, kept open across jobs (``smtp``), each written by ``mime``. It sends
  only ``queued`` messages: it marks them ``sending`` under a lease in one short transaction, talks
  SMTP outside any transaction, then marks them ``sent`` with the server's replies and records the
  leads' ``email_sent`` events, 25 at a time. SMTP errors are retried with backoff
  (``next_attempt_at``; the sweeper queues the retry when it is due), then ``failed`` with the error
  kept; a 5xx refusal fails at once.
- ``requeue_stalled_messages()`` is the sweeper: messages whose job was lost (left queued, or
  sending past their lease) and retries that are due are queued again.

Marketing email to an opted-out lead (or to a lead without an address) is never sent: the row is
``suppressed``, with the reason, at queue time and again at send time.
"""

import functools
import hashlib
import logging
import smtplib
import time
from datetime import date, datetime, timedelta, timezone
from email.utils import parseaddr

from flask import current_app
from markupsafe import escape
from sqlalchemy import and_, case, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..batching import in_batch, memo, with_new_id
from ..engagement.suppression import address_suppressions, blocking_reason, suppression_reason
from ..engagement.tracking import tracking_columns
from ..extensions import db
from ..jobs import enqueue_ids
from ..jobs.loops import not_waiting
from ..leads.changes import after_lead_changes, new_event
from ..models import EmailTemplate, Lead, Organization, OutboxMessage, User, utcnow
from . import smtp, throttle
from .mime import message_bytes
from .rendering import LEAD_FIELDS, RenderedEmail, TemplateRenderError, build_context, render_email, render_text, sample_context
from .unsubscribe import preview_unsubscribe_url, unsubscribe_url

log = logging.getLogger(__name__)
THROTTLED = "waiting for a slot of the organization's send rate limit"
# Sending waits behind the automation runs that queue the emails (a worker takes "low" jobs last): in
# a burst, runs (assignments, tasks, the emails' rows) are not held up by SMTP; idle workers send at once.
SEND_QUEUE = "low"
# Messages sent before they are recorded: a dead worker's resends are at most this many. Each record is a
# transaction of a few round trips (update, events, journeys waiting for them, commit): 25 rather than 10
# sends a quarter faster.
RECORD_SENT_EVERY = 25
NO_MAIL_SERVER = "no mail server is configured (MAIL_SERVER): the message is kept here, not sent"
OPTED_OUT = "the lead opted out of marketing email"


class DeliveryError(Exception):
    """An email that cannot be queued as asked (missing template or lead, a template that does not
    render); ``permanent`` tells the automation engine not to retry."""

    def __init__(self, message: str, permanent: bool = True):
        super().__init__(message)
        self.permanent = permanent


# --- context ----------------------------------------------------------------------------------------


def lead_template_context(lead: Lead, unsubscribe_link: str | None = None) -> dict:
    """The variables of SPEC §6 for a lead: its fields, the organization's name, the assigned agent,
    its unsubscribe link (``unsubscribe_link`` when the caller has it already) and today's date (UTC)."""
    organization_name = _organization_name(lead.organization_id)
    agent = lead.assigned_to
    agent_values = {"name": agent.name, "email": agent.email} if agent is not None else None
    link = unsubscribe_link or unsubscribe_url(lead)
    return build_context(lead_values(lead), organization_name or "", agent_values, link, today())


def lead_values(lead: Lead) -> dict:
    return {**{name: getattr(lead, name) for name in LEAD_FIELDS}, "tags": list(lead.tags)}


def organization_sample_context(organization_id: int) -> dict:
    """Sample data with the organization's own name: previews without a lead, ``personalize=False``."""
    return sample_context(_organization_name(organization_id) or "Acme Insurance", today())


def _organization_name(organization_id: int) -> str | None:
    return memo(
        ("organization_name", organization_id),
        lambda: db.session.scalar(select(Organization.name).where(Organization.id == organization_id)),
    )


def today() -> date:
    return datetime.now(timezone.utc).date()


def render_for_delivery(
    template_type: str, subject: str, body_html: str, body_text: str, context: dict, cache_key=None, *, unsubscribe_link: str | None = None
) -> RenderedEmail:
    """Render, then make sure a marketing email shows an unsubscribe link: when the template does not
    print ``unsubscribe_link`` itself, a short footer with it is added (previews show the same)."""
    rendered = render_email(subject, body_html, body_text, context, cache_key=cache_key)
    if template_type != "marketing" or not unsubscribe_link:
        return rendered
    html, text = rendered.html, rendered.text
    if html and unsubscribe_link not in html and str(escape(unsubscribe_link)) not in html:
        footer = (
            '<p style="margin:24px 0 0;font-size:12px;color:#6b7280;text-align:center">'
            f'Don\'t want these emails? <a href="{escape(unsubscribe_link)}" style="color:#6b7280">Unsubscribe</a></p>'
        )
        position = html.lower().rfind("</body>")
        html = html[:position] + footer + html[position:] if position >= 0 else html + footer
    if unsubscribe_link not in text:
        text = f"{text}\n\n--\nUnsubscribe: {unsubscribe_link}" if text else f"Unsubscribe: {unsubscribe_link}"
    return RenderedEmail(rendered.subject, html, text, rendered.missing_variables)


# --- queueing ---------------------------------------------------------------------------------------


def queue_email(
    *,
    organization_id: int,
    template_id: int,
    lead_id: int,
    idempotency_key: str,
    subject_override: str | None = None,
    to: str = "lead",
    personalize: bool = True,
    automation_run_id: int | None = None,
) -> dict:
    """Render ``template_id`` for the lead and put it in the outbox, once per ``idempotency_key``.

    Runs in the caller's transaction and does not commit. Returns what the run history shows:
    ``{"message_id", "status", "to", "subject", ...}``, with ``"duplicate": True`` when the key was
    used already (nothing else is done), and ``"skipped": True`` with a ``reason`` when suppressed.
    Raises DeliveryError when the template or lead does not exist or the template does not render.
    """
    existing = None if in_batch() else _message_with_key(idempotency_key)  # in a batch, keys are new (``batching``)
    if existing is not None:
        return message_summary(existing, duplicate=True)

    def load_template() -> EmailTemplate | None:  # the query is built only when the batch has not loaded it yet
        query = select(EmailTemplate).where(EmailTemplate.id == template_id, EmailTemplate.organization_id == organization_id)
        return db.session.scalar(query)

    template = memo(("email_template", template_id, organization_id), load_template)
    if template is None:
        raise DeliveryError(f"email template {template_id} does not exist")
    lead = db.session.get(Lead, lead_id)  # usually in the session already (the automation step's lead)
    if lead is None or lead.organization_id != organization_id:
        raise DeliveryError(f"lead {lead_id} does not exist")
    if to not in ("lead", "assignee"):
        raise DeliveryError(f"unknown recipient {to!r}: expected 'lead' or 'assignee'")

    address, name, no_address = _recipient(lead, to)
    marketing = template.template_type == "marketing"
    reason = (
        no_address
        or ("the template is not active" if not template.is_active else None)
        or (OPTED_OUT if marketing and to == "lead" and lead.email_opt_out else None)
        or suppression_reason(organization_id, address, marketing=marketing)  # the suppression list (SPEC §16, §17)
    )
    link = unsubscribe_url(lead) if to == "lead" else preview_unsubscribe_url()
    context = lead_template_context(lead, link) if personalize else organization_sample_context(organization_id)
    context["unsubscribe_url"] = link  # sent to the lead, the link must work even with sample data
    try:
        rendered = render_for_delivery(
            template.template_type,
            template.subject,
            template.body_html,
            template.body_text,
            context,
            (template.id, template.version),
            unsubscribe_link=link if to == "lead" else None,
        )
        subject = rendered.subject
        if subject_override:
            subject = " ".join(render_text(subject_override, context, field="subject").split())
    except TemplateRenderError as exc:
        if reason is None:
            raise DeliveryError(f"template “{template.name}” cannot be rendered: {exc}") from None
        rendered, subject = RenderedEmail("", "", ""), ""  # suppressed anyway: nothing to show

    message = OutboxMessage(
        organization_id=organization_id,
        idempotency_key=idempotency_key,
        lead_id=lead.id,
        template_id=template.id,
        template_version=template.version,
        automation_run_id=automation_run_id,
        template_type=template.template_type,
        recipient=to,
        to_address=address or "",
        to_name=name or "",
        subject=subject[:1000],
        body_html=rendered.html,
        body_text=rendered.text,
        unsubscribe_url=link if marketing and to == "lead" else None,
        message_id_header=message_id_header(idempotency_key),
        **tracking_columns(template, to, rendered.html, link),  # the pixel and the links, put in at send time
    )
    return _store(message, reason)


def queue_test_email(
    *,
    organization_id: int,
    user: User,
    template: EmailTemplate,
    rendered: RenderedEmail,
    lead_id: int | None,
    content_is_saved: bool,
    key: str,
) -> dict:
    """A "send me a test" copy of the editor's preview, to the signed-in user (never to the lead)."""
    message = OutboxMessage(
        organization_id=organization_id,
        idempotency_key=key,
        lead_id=lead_id,
        template_id=template.id,
        template_version=template.version if content_is_saved else None,
        created_by_id=user.id,
        is_test=True,
        template_type=template.template_type,
        recipient="user",
        to_address=user.email,
        to_name=user.display_name,
        subject=f"[Test] {rendered.subject}"[:1000],
        body_html=rendered.html,
        body_text=rendered.text,
        message_id_header=message_id_header(key),
    )
    return _store(message, None)


def _recipient(lead: Lead, to: str) -> tuple[str | None, str | None, str | None]:
    """(address, name, why there is none)."""
    if to == "lead":
        return lead.email, lead.full_name, None if lead.email else "the lead has no email address"
    user = lead.assigned_to
    if user is None:
        return None, None, "the lead has no assignee"
    if not user.is_active:
        return user.email, user.display_name, "the lead's assignee is deactivated"
    return user.email, user.display_name, None


def _store(message: OutboxMessage, suppressed_because: str | None) -> dict:
    if suppressed_because:
        message.status, message.status_reason = "suppressed", suppressed_because
    elif current_app.config.get("MAIL_SERVER"):
        message.status = "queued"
    else:
        message.status, message.status_reason = "held", NO_MAIL_SERVER
    if in_batch():  # inserted with the batch's other rows; its key is new (``batching``)
        # Every column with a server default is given its value: the ORM then inserts the batch's rows
        # as one executemany, not as a multi-row INSERT of thousands of parameters asking for the defaults back.
        message.open_count, message.click_count = message.open_count or 0, message.click_count or 0
        message.track_opens = bool(message.track_opens)
        with_new_id(message)
        return _queued(message)
    # INSERT ... ON CONFLICT DO NOTHING rather than a savepoint: a concurrent queue_email with the same
    # key wins, and releasing a savepoint would hand the caller's queued jobs to workers before its commit.
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    values = {
        column.key: getattr(message, column.key)
        for column in OutboxMessage.__table__.columns
        if column.key != "id" and getattr(message, column.key) is not None
    }
    inserted = db.session.execute(
        insert(OutboxMessage).values(**values).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(OutboxMessage.id)
    ).first()
    if inserted is None:
        return message_summary(_message_with_key(message.idempotency_key), duplicate=True)
    message.id = inserted.id
    return _queued(message)


def _queued(message: OutboxMessage) -> dict:
    if message.status == "suppressed":
        log.info("email %s to lead %s suppressed: %s", message.id, message.lead_id, message.status_reason)
    if message.status == "queued":
        queue_send(message.id)
    return message_summary(message)


def queue_send(message_id: int) -> None:
    """Queue the message's sending once the transaction commits: the messages a transaction queues
    are sent by jobs of up to 100, each over one SMTP connection (``send_outbox_messages``)."""
    enqueue_ids(send_outbox_messages, "outbox", message_id, queue=SEND_QUEUE)


def _message_with_key(key: str) -> OutboxMessage | None:
    return db.session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == key))


def message_summary(message: OutboxMessage, *, duplicate: bool = False) -> dict:
    summary = {
        "message_id": message.id,
        "status": message.status,
        "to": message.to_address,
        "subject": message.subject,
        "template_id": message.template_id,
        "template_version": message.template_version,
        "idempotency_key": message.idempotency_key,
    }
    if message.status_reason:
        summary["reason"] = message.status_reason
    if message.status == "suppressed":
        summary["skipped"] = True
    if duplicate:
        summary["duplicate"] = True
    return summary


def message_id_header(idempotency_key: str) -> str:
    """The Message-ID, derived from the key: a resend after a lost acknowledgement is recognisably the
    same message."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<{digest}.leadflow@{_message_id_domain(current_app.config.get('MAIL_DEFAULT_SENDER') or '')}>"


@functools.lru_cache(maxsize=16)
def _message_id_domain(sender: str) -> str:
    return parseaddr(sender)[1].rpartition("@")[2] or "leadflow.invalid"


# --- sending ----------------------------------------------------------------------------------------


def send_outbox_messages(message_ids: list[int]) -> dict[int, str]:
    """The job: send these messages over the worker's SMTP connection; returns what became of each.
    Safe to run any number of times: only a ``queued`` message is sent.

    They are claimed together (one transaction marks them ``sending`` under a lease), sent one after
    the other, and recorded ``sent`` (with their ``email_sent`` events) every ``RECORD_SENT_EVERY``
    messages: a worker that dies in between leaves at most that many sent messages to be sent again
    when their lease expires.
    """
    outcome, to_send, paces = {}, sorted(set(message_ids)), {}
    connection = smtp.worker_connection()  # kept open across jobs (``smtp``)
    while to_send:
        claimed = _claim(to_send, paces)
        outcome.update({message_id: c for message_id, c in claimed.items() if isinstance(c, str)})
        to_send, sent = [], []
        for message_id, (data, envelope_from, envelope_to, pace) in ((i, c) for i, c in claimed.items() if not isinstance(c, str)):
            pace.wait()  # the organization's send rate (``throttle``)
            try:
                sent.append((message_id, connection.send(data, envelope_from, envelope_to)))
            except (smtplib.SMTPException, OSError) as exc:
                outcome[message_id] = _record_failure(message_id, exc)
                if outcome[message_id] == "retry_now":
                    to_send.append(message_id)
            if len(sent) == RECORD_SENT_EVERY:
                outcome.update(_record_sent(sent))
                sent = []
        outcome.update(_record_sent(sent))
    return outcome


def send_outbox_message(message_id: int) -> str:
    """Send one queued message (``send_outbox_messages``); returns what became of it."""
    return send_outbox_messages([message_id])[message_id]


def _claim(message_ids: list[int], paces: dict) -> dict:
    """Mark the queued messages ``sending`` under a lease, in one short transaction; returns for each
    its bytes and envelope, or a string saying why there is nothing to send."""
    messages = db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.id.in_(message_ids))
        .order_by(OutboxMessage.id)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    ).all()
    lead_ids = {m.lead_id for m in messages if m.lead_id}
    leads = {lead.id: lead for lead in db.session.scalars(select(Lead).where(Lead.id.in_(lead_ids)))} if lead_ids else {}
    organization_ids = {m.organization_id for m in messages}
    rates = select(Organization.id, Organization.send_rate_per_second).where(Organization.id.in_(organization_ids))
    rates = dict(db.session.execute(rates).all())
    suppressed = address_suppressions({(m.organization_id, m.to_address) for m in messages if not m.is_test})
    claimed = dict.fromkeys(message_ids, "busy-or-missing")  # another job holds it right now, or it was deleted
    for message in messages:
        found = suppressed.get((message.organization_id, message.to_address), ())
        why_not = blocking_reason(found, marketing=message.template_type == "marketing")
        pace = paces.setdefault(message.organization_id, throttle.Pace(rates.get(message.organization_id)))
        claimed[message.id] = _claim_one(message, leads.get(message.lead_id), pace, why_not)
    db.session.commit()
    return claimed


def _claim_one(message: OutboxMessage, lead: Lead | None, pace: throttle.Pace, suppressed_because: str | None):
    config, now = current_app.config, utcnow()
    if message.status != "queued":
        return message.status
    holds_slot = message.status_reason == THROTTLED  # its slot of the send rate is its next_attempt_at
    early = timedelta(seconds=throttle.NEAR_SECONDS if holds_slot else 0)
    if message.next_attempt_at is not None and message.next_attempt_at > now + early:
        return "waiting"  # a retry that is not due yet: the sweeper queues it when it is
    if not config.get("MAIL_SERVER"):
        message.status, message.status_reason = "held", NO_MAIL_SERVER
        return "held"
    if suppressed_because:  # suppressed since it was queued (a hard bounce, a complaint, an unsubscribe)
        message.status, message.status_reason = "suppressed", suppressed_because
        return "suppressed"
    if message.recipient == "lead" and message.template_type == "marketing" and not message.is_test:
        if lead is None or lead.email_opt_out:
            message.status = "suppressed"
            message.status_reason = OPTED_OUT if lead is not None else "the lead was deleted"
            log.info("email %s suppressed at send time: %s", message.id, message.status_reason)
            return "suppressed"
    slot = message.next_attempt_at.timestamp() if holds_slot else time.time()
    if pace.rate and not holds_slot:
        slot = throttle.reserve(message.organization_id, pace.rate)
        if slot > time.time() + throttle.NEAR_SECONDS:  # back in the outbox until its slot: one job per second of slots
            message.status_reason, message.next_attempt_at = THROTTLED, datetime.fromtimestamp(slot, timezone.utc)
            enqueue_ids(send_outbox_messages, "outbox", message.id, queue=SEND_QUEUE, at=message.next_attempt_at.replace(microsecond=0))
            return "throttled"
    # built only for a message sent now: a throttled one is built when its slot comes
    sender = config.get("MAIL_DEFAULT_SENDER") or "Leadflow <no-reply@localhost>"
    envelope_from = _envelope_from(sender)
    try:
        data = message_bytes(message, sender, international=not (envelope_from.isascii() and message.to_address.isascii()))
    except (ValueError, TypeError) as exc:  # data no header can carry: no retry can fix it
        message.status, message.last_error = "failed", f"the message cannot be built: {exc}"[:2000]
        return "failed"
    message.status, message.status_reason = "sending", None
    message.attempts += 1
    message.next_attempt_at = None
    message.lease_expires_at = now + timedelta(seconds=config.get("STALLED_AFTER_SECONDS", 300))
    pace.slots.append(slot)
    return data, envelope_from, message.to_address, pace


@functools.lru_cache(maxsize=16)
def _envelope_from(sender: str) -> str:
    """The sender's address (parsed once, not once per message)."""
    return parseaddr(sender)[1]


def _is_permanent(exc: Exception) -> bool:
    """A 5xx refusal will be refused again; connection trouble and 4xx replies are worth a retry."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(500 <= code < 600 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return 500 <= exc.smtp_code < 600
    return False


def _describe(exc: Exception) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{to}: {code} {reply.decode(errors='replace')}" for to, (code, reply) in exc.recipients.items())
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{type(exc).__name__}: {exc.smtp_code} {reply}"
    return f"{type(exc).__name__}: {exc}"


def _record_failure(message_id: int, exc: Exception) -> str:
    config = current_app.config
    message = db.session.scalar(
        select(OutboxMessage).where(OutboxMessage.id == message_id).with_for_update().execution_options(populate_existing=True)
    )
    if message is None or message.status != "sending":
        db.session.rollback()
        return message.status if message is not None else "missing"
    message.last_error = _describe(exc)[:2000]
    message.lease_expires_at = None
    max_attempts = config.get("MAIL_MAX_ATTEMPTS", 3)
    if _is_permanent(exc) or message.attempts >= max_attempts:
        message.status = "failed"
        db.session.commit()
        log.warning("email %s failed after %s attempt(s): %s", message_id, message.attempts, message.last_error)
        return "failed"
    backoff = config.get("MAIL_RETRY_BACKOFF_SECONDS", 60) * 2 ** (message.attempts - 1)
    message.status = "queued"
    message.next_attempt_at = utcnow() + timedelta(seconds=backoff) if backoff > 0 else None
    db.session.commit()
    log.info("email %s: attempt %s failed (%s), retrying in %ss", message_id, message.attempts, message.last_error, backoff)
    return "retry_now" if backoff <= 0 else "retry_scheduled"


def _record_sent(sent: list[tuple[int, str]]) -> dict[int, str]:
    """Record messages ``sent`` with the server's replies, and their leads' ``email_sent`` events, in
    one transaction (a journey may wait for them): one UPDATE for the messages, one INSERT for the events."""
    if not sent:
        return {}
    replies = dict(sent)
    recorded = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(replies))
        .values(status="sent", sent_at=utcnow(), smtp_response=case(replies, value=OutboxMessage.id), lease_expires_at=None)
        .returning(
            OutboxMessage.id,
            OutboxMessage.organization_id,
            OutboxMessage.lead_id,
            OutboxMessage.is_test,
            OutboxMessage.subject,
            OutboxMessage.template_id,
            OutboxMessage.to_address,
        )
        .execution_options(synchronize_session=False)
    ).all()
    events = {}
    for message in sorted(recorded):
        if message.lead_id and not message.is_test:
            data = {"subject": message.subject, "template_id": message.template_id, "message_id": message.id, "to": message.to_address}
            events.setdefault(message.organization_id, []).append(new_event(message.organization_id, message.lead_id, "email_sent", data))
    for organization_id, organization_events in events.items():
        after_lead_changes(organization_id, [], organization_events)
    db.session.commit()
    return dict.fromkeys(replies, "sent")


# --- the outbox page's actions, and the sweeper -----------------------------------------------------


def release_message(message: OutboxMessage) -> None:
    """Queue a held or failed message again (the caller commits; the job is queued on commit)."""
    if message.status not in ("held", "failed"):
        raise ValueError(f"a {message.status} message cannot be sent again")
    if not current_app.config.get("MAIL_SERVER"):
        raise ValueError("no mail server is configured (MAIL_SERVER)")
    message.status, message.status_reason, message.attempts, message.next_attempt_at = "queued", None, 0, None
    queue_send(message.id)


def requeue_stalled_messages() -> int:
    """Sweeper: queue again the messages whose job was lost (queued or sending, untouched for
    ``STALLED_AFTER_SECONDS``) and the retries that are due, except those whose job is still waiting
    in the queue (behind a backlog). Returns how many were queued."""
    now = utcnow()
    cutoff = now - timedelta(seconds=current_app.config.get("STALLED_AFTER_SECONDS", 300))
    stalled_or_due = and_(
        not_waiting(OutboxMessage.id, "outbox"),
        or_(
            and_(OutboxMessage.status == "queued", OutboxMessage.next_attempt_at.is_(None), OutboxMessage.updated_at < cutoff),
            and_(OutboxMessage.status == "queued", OutboxMessage.next_attempt_at <= now),
            and_(
                OutboxMessage.status == "sending",
                or_(
                    OutboxMessage.lease_expires_at < now, and_(OutboxMessage.lease_expires_at.is_(None), OutboxMessage.updated_at < cutoff)
                ),
            ),
        ),
    )
    ids = db.session.scalars(select(OutboxMessage.id).where(stalled_or_due).order_by(OutboxMessage.id).limit(5000)).all()
    if not ids:
        db.session.rollback()
        return 0
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids), stalled_or_due)
        .values(status="queued", next_attempt_at=None, lease_expires_at=None, updated_at=now)
    )
    for message_id in ids:
        queue_send(message_id)
    db.session.commit()
    log.info("requeued %s outbox message(s)", len(ids))
    return len(ids)
