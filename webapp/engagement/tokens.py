"""The signed tokens of tracking URLs: ``/t/o/<token>`` names a message, ``/t/c/<token>`` a message
and the index of one of its links.

Signed with ``SECRET_KEY`` by itsdangerous (as the unsubscribe links are), each kind under a salt of
its own: a token cannot be forged or altered, and an open token is no click token. A token holds
ids only; the URL a click goes to is the one recorded on the message (``OutboxMessage.links``).
Tokens do not expire: an email opened a year later still counts.
"""

import hashlib

from flask import current_app
from itsdangerous import BadData, URLSafeSerializer

from ..validation import is_row_id

_OPEN_SALT = "leadflow.track.open.v1"
_CLICK_SALT = "leadflow.track.click.v1"


def _serializer(salt: str) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=salt, signer_kwargs={"digest_method": hashlib.sha256})


def open_url(message_id: int) -> str:
    """The absolute URL of the message's open pixel."""
    return f"{current_app.config['PUBLIC_BASE_URL']}/t/o/{open_token(message_id)}"


def click_url(message_id: int, index: int) -> str:
    """The absolute URL that records a click on the message's link ``index`` and goes on to it."""
    return f"{current_app.config['PUBLIC_BASE_URL']}/t/c/{click_token(message_id, index)}"


def open_token(message_id: int) -> str:
    return _serializer(_OPEN_SALT).dumps(message_id)


def click_token(message_id: int, index: int) -> str:
    return _serializer(_CLICK_SALT).dumps([message_id, index])


def read_open_token(token: str) -> int | None:
    """The message id an open token names, or None when it is not one of ours."""
    try:
        message_id = _serializer(_OPEN_SALT).loads(token)
    except BadData:
        return None
    return message_id if is_row_id(message_id) else None


def read_click_token(token: str) -> tuple[int, int] | None:
    """``(message id, link index)`` of a click token, or None when it is not one of ours."""
    try:
        value = _serializer(_CLICK_SALT).loads(token)
    except BadData:
        return None
    if not (isinstance(value, list) and len(value) == 2 and is_row_id(value[0])):
        return None
    index = value[1]
    return (value[0], index) if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < 10_000 else None
