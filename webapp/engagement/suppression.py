"""The suppression list as email sees it (SPEC §16, §17): may an email go to this address?

An address is suppressed by a row of its own (kind ``email``) or of its domain (kind ``domain``).
A hard bounce, a complaint, a DNC or litigator entry, a manual one: no email at all. An unsubscribe:
no marketing email; transactional mail still goes.

``suppress_address`` adds an address (once per organization and address, whatever races it);
``suppression_reason`` is what ``queue_email`` asks before it queues a message, and the send job
asks ``address_suppressions`` and ``blocking_reason`` again for an address suppressed in between;
the sentence it gives becomes the message's ``status_reason`` and the automation step's output.
"""

from collections import defaultdict
from typing import NamedTuple

from sqlalchemy import and_, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..batching import in_batch, memo, remember
from ..extensions import db
from ..models import Suppression, utcnow

MARKETING_ONLY = frozenset({"unsubscribed"})  # reasons that let transactional mail through
_REASON_TEXT = {
    "bounced": "it hard-bounced",
    "complained": "its owner reported an email as spam",
    "unsubscribed": "its owner unsubscribed",
    "dnc": "it is on a do-not-contact list",
    "litigator": "its owner is a known litigator",
    "manual": "it was added by hand",
}
# The strongest reason speaks for a suppressed address: a bounce first, an unsubscribe last.
_PRECEDENCE = ("bounced", "complained", "litigator", "dnc", "manual", "unsubscribed")


class Found(NamedTuple):
    """A suppression row that covers an address: its own (``email``) or its domain's (``domain``)."""

    kind: str
    value: str
    reason: str
    message_id: int | None


def suppress_address(organization_id: int, email: str, reason: str, message_id: int | None, source: str = "delivery event") -> None:
    """Put the address on the organization's suppression list (in the caller's transaction). An
    address already on it keeps its first reason, unless that was an unsubscribe and this is a bounce
    or a complaint (which also stop transactional mail)."""
    if not email or not email.strip():
        return
    now = utcnow()
    row = {"organization_id": organization_id, "kind": "email", "value": email.strip().lower(), "reason": reason, "source": source}
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(Suppression).values(**row, message_id=message_id, created_at=now, updated_at=now)
    statement = statement.on_conflict_do_update(
        index_elements=["organization_id", "kind", "value"],
        set_={"reason": reason, "message_id": message_id, "source": source, "updated_at": now},
        where=and_(Suppression.reason.in_(MARKETING_ONLY), statement.excluded.reason.not_in(MARKETING_ONLY)),
    )
    db.session.execute(statement)


def address_suppressions(addresses: set[tuple[int, str | None]]) -> dict[tuple[int, str], tuple[Found, ...]]:
    """The suppression rows covering each of these ``(organization_id, email)``, in one query: only
    the suppressed ones, keyed as given."""
    wanted = defaultdict(list)  # (organization id, lower-cased address) -> the keys as given
    for organization_id, email in addresses:
        if email and email.strip():
            wanted[(organization_id, email.strip().lower())].append((organization_id, email))
    if not wanted:
        return {}
    emails = {email for _, email in wanted}
    domains = {email.rpartition("@")[2] for email in emails if "@" in email}
    rows = db.session.execute(
        select(Suppression.organization_id, Suppression.kind, Suppression.value, Suppression.reason, Suppression.message_id).where(
            Suppression.organization_id.in_({organization_id for organization_id, _ in wanted}),
            or_(
                and_(Suppression.kind == "email", Suppression.value.in_(emails)),
                and_(Suppression.kind == "domain", Suppression.value.in_(domains)),
            ),
        )
    )
    by_value = defaultdict(list)
    for organization_id, kind, value, reason, message_id in rows:
        by_value[(organization_id, kind, value)].append(Found(kind, value, reason, message_id))
    found = {}
    for (organization_id, email), keys in wanted.items():
        covering = (
            *by_value.get((organization_id, "email", email), ()),
            *by_value.get((organization_id, "domain", email.rpartition("@")[2]), ()),
        )
        if covering:
            for key in keys:
                found[key] = covering
    return found


def blocking_reason(found, *, marketing: bool) -> str | None:
    """Why an email may not go to an address covered by these rows (a sentence), or None: an
    unsubscribe stops marketing email only."""
    blocking = [row for row in found if marketing or row.reason not in MARKETING_ONLY]
    if not blocking:
        return None
    row = min(blocking, key=lambda row: precedence(row.reason))
    what = "the address is suppressed" if row.kind == "email" else f"the domain {row.value} is suppressed"
    source = f" (message {row.message_id})" if row.message_id else ""
    return f"{what}: {_REASON_TEXT.get(row.reason, row.reason)}{source}"


def precedence(reason: str) -> int:
    """Rank of a reason among several covering one value: the lowest speaks for it."""
    return _PRECEDENCE.index(reason) if reason in _PRECEDENCE else 0


def suppression_reason(organization_id: int, email: str | None, *, marketing: bool = True) -> str | None:
    """Why no email (of this kind: marketing or transactional) may go to ``email`` (a sentence for the
    outbox and the run history), or None."""
    if not email or not email.strip():
        return None
    key = ("suppression", organization_id, email.strip().lower())
    found = memo(key, lambda: address_suppressions({(organization_id, email)}).get((organization_id, email), ()))
    return blocking_reason(found, marketing=marketing)


def read_ahead(addresses: set[tuple[int, str | None]]) -> None:
    """In a batch, read the suppressions of these ``(organization_id, email)`` in one query, for the
    ``suppression_reason`` calls to come (a batch of automation runs reads its leads')."""
    if not in_batch():
        return
    found = address_suppressions(addresses)
    for organization_id, email in addresses:
        if email and email.strip():
            remember(("suppression", organization_id, email.strip().lower()), found.get((organization_id, email), ()))
