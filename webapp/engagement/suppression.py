"""Suppressed addresses: a hard bounce or a spam complaint stops every further email to the address.

``suppress_address`` adds one (once per organization and address, whatever races it);
``suppression_reason`` is what ``queue_email`` asks before it queues a message (and the send job
again, for an address suppressed in between), and the reason it gives becomes the message's
``status_reason`` and the automation step's output.
"""

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..batching import in_batch, memo, remember
from ..extensions import db
from ..models import SuppressedAddress, utcnow

_REASON_TEXT = {"bounced": "it hard-bounced", "complained": "its owner reported an email as spam"}


def suppress_address(organization_id: int, email: str, reason: str, message_id: int | None) -> None:
    """Put the address on the organization's suppression list (in the caller's transaction); an
    address already on it keeps its first reason."""
    if not email:
        return
    now = utcnow()
    row = {"organization_id": organization_id, "email": email.strip().lower(), "reason": reason, "message_id": message_id}
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(SuppressedAddress).values(**row, created_at=now, updated_at=now)
    db.session.execute(statement.on_conflict_do_nothing(index_elements=["organization_id", "email"]))


def suppression_reason(organization_id: int, email: str | None) -> str | None:
    """Why no email may go to ``email`` (a sentence for the outbox and the run history), or None."""
    if not email:
        return None
    key = ("suppression", organization_id, email.strip().lower())
    return memo(key, lambda: suppression_reasons({(organization_id, email)}).get((organization_id, email)))


def read_ahead(addresses: set[tuple[int, str | None]]) -> None:
    """In a batch, read whether these ``(organization_id, email)`` are suppressed in one query, for
    the ``suppression_reason`` calls to come (a batch of automation runs reads its leads')."""
    if not in_batch():
        return
    reasons = suppression_reasons(addresses)
    for organization_id, email in addresses:
        if email:
            remember(("suppression", organization_id, email.strip().lower()), reasons.get((organization_id, email)))


def suppression_reasons(addresses: set[tuple[int, str | None]]) -> dict[tuple[int, str], str]:
    """``suppression_reason`` of many ``(organization_id, email)`` in one query: only the suppressed ones."""
    wanted = {(organization_id, email.strip().lower()): (organization_id, email) for organization_id, email in addresses if email}
    if not wanted:
        return {}
    rows = db.session.execute(
        select(SuppressedAddress.organization_id, SuppressedAddress.email, SuppressedAddress.reason, SuppressedAddress.message_id).where(
            SuppressedAddress.organization_id.in_({organization_id for organization_id, _ in wanted}),
            SuppressedAddress.email.in_({email for _, email in wanted}),
        )
    )
    reasons = {}
    for organization_id, email, reason, message_id in rows:
        if (organization_id, email) in wanted:
            source = f" (message {message_id})" if message_id else ""
            reasons[wanted[(organization_id, email)]] = f"the address is suppressed: {_REASON_TEXT.get(reason, reason)}{source}"
    return reasons
