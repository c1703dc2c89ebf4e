"""The bytes of an outbox message as sent: multipart/alternative (text, then HTML) with the row's headers.

``build_mime`` states the message with the standard library's ``EmailMessage``. ``message_bytes``
writes the same bytes as ``build_mime(...).as_bytes(policy=policy.SMTP)`` directly, some ten times
cheaper: each header folded as the library folds it (a plain ASCII value that fits on its line is
written as it is, any other is folded by the library's own header classes), the parts
quoted-printable encoded by the library's encoder. Only the Date and the MIME boundary differ from
one build to the next, as they do between two builds of ``build_mime``. A message to or from an
address that needs SMTPUTF8 is serialised from ``build_mime``.

``List-Unsubscribe`` is the exception to the library's folding, in both builds: the library writes a
value longer than a line and without a space to fold at as RFC 2047 encoded words, which mail
clients do not read as a URL (no one-click unsubscribe). It is written as it is, ``<https://…>`` on
one line, as RFC 2369 and RFC 8058 expect (RFC 5322 allows 998 characters; a URL has no whitespace
to fold at).
"""

import functools
import random
import re
import sys
from email import policy, quoprimime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate

from ..engagement.tracking import tracked_html

_MAX_LINE = policy.SMTP.max_line_length
# A value the library writes unchanged when it fits on the line: printable ASCII words, one space
# apart, without an RFC 2047 encoded word ("=?") to decode and encode again.
_PLAIN = re.compile(r"[!-~]+(?: [!-~]+)*")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
_PHRASE = re.compile(rf"{_ATOM}(?: {_ATOM})*")  # a display name written without quotes
_MESSAGE_ID = re.compile(rf"<{_ATOM}(?:\.{_ATOM})*@{_ATOM}(?:\.{_ATOM})*>")
_BOUNDARY_DIGITS = len(repr(sys.maxsize - 1))
_TEXT_PART_HEADERS = 'Content-Type: text/{}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n'
_MIME_VERSION = "MIME-Version: 1.0\r\n"
_LONGEST_LINE = 998  # RFC 5322 2.1.1, without the CRLF
_URL = re.compile(r"[!-~]+")  # printable ASCII without whitespace, as a URL is written


class _UnfoldedHeader(str):
    """A header ``EmailMessage`` stores and writes as it is, on one line (see the module's docstring)."""

    def __new__(cls, name: str, value: str):
        header = super().__new__(cls, value)
        header.name = name
        return header

    def fold(self, *, policy) -> str:
        return f"{self.name}: {self}{policy.linesep}"


def _list_unsubscribe(url: str) -> str | None:
    """``<url>``, the List-Unsubscribe value to write unfolded, or None when the URL is not one a line carries
    (then the library's folding applies)."""
    value = f"<{url}>"
    if _URL.fullmatch(url) and "<" not in url and ">" not in url and len("List-Unsubscribe: ") + len(value) <= _LONGEST_LINE:
        return value
    return None


def build_mime(message, sender: str) -> EmailMessage:
    """multipart/alternative (text, then HTML) with the outbox row's headers."""
    mime = EmailMessage()
    mime["From"] = sender
    local, _, domain = message.to_address.rpartition("@")
    mime["To"] = Address(display_name=message.to_name or "", username=local, domain=domain)
    mime["Subject"] = message.subject
    mime["Date"] = formatdate(usegmt=True)
    mime["Message-ID"] = message.message_id_header
    mime["X-Leadflow-Message"] = str(message.id)
    mime["X-Leadflow-Message-Id"] = str(message.id)  # what delivery events name (SPEC §16)
    if message.unsubscribe_url:
        value = _list_unsubscribe(message.unsubscribe_url)
        mime["List-Unsubscribe"] = _UnfoldedHeader("List-Unsubscribe", value) if value else f"<{message.unsubscribe_url}>"
        mime["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if message.template_type != "transactional":
        mime["Auto-Submitted"] = "auto-generated"
    mime.set_content(message.body_text or "", cte="quoted-printable")
    if message.body_html:
        mime.add_alternative(tracked_html(message), subtype="html", cte="quoted-printable")
    return mime


def message_bytes(message, sender: str, international: bool = False) -> bytes:
    """The message as sent (``build_mime`` serialised for SMTP). Raises ValueError for data that no
    header can carry (a line break in a header, say), as ``build_mime`` does."""
    if international:
        return build_mime(message, sender).as_bytes(policy=policy.SMTPUTF8)
    headers = [
        _folded_constant("From", sender),
        _to_header(message.to_address, message.to_name or ""),
        _header("Subject", message.subject),
        f"Date: {formatdate(usegmt=True)}\r\n",
        _message_id_header(message.message_id_header),
        f"X-Leadflow-Message: {message.id}\r\n",
        f"X-Leadflow-Message-Id: {message.id}\r\n",
    ]
    if message.unsubscribe_url:
        value = _list_unsubscribe(message.unsubscribe_url)
        unsubscribe = f"List-Unsubscribe: {value}\r\n" if value else _header("List-Unsubscribe", f"<{message.unsubscribe_url}>")
        headers += (unsubscribe, "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
    if message.template_type != "transactional":
        headers.append("Auto-Submitted: auto-generated\r\n")
    text = _quoted_printable(message.body_text or "")
    if not message.body_html:
        return "".join((*headers, _TEXT_PART_HEADERS.format("plain"), _MIME_VERSION, "\r\n", text)).encode("ascii")
    html = _quoted_printable(tracked_html(message))
    boundary = _boundary(text, html)
    return "".join(
        (
            *headers,
            _MIME_VERSION,
            f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n\r\n',
            f"--{boundary}\r\n",
            _TEXT_PART_HEADERS.format("plain"),
            "\r\n",
            text,
            f"\r\n--{boundary}\r\n",
            _TEXT_PART_HEADERS.format("html"),
            _MIME_VERSION,  # where EmailMessage.add_alternative leaves it
            "\r\n",
            html,
            f"\r\n--{boundary}--\r\n",
        )
    ).encode("ascii")


def _header(name: str, value: str) -> str:
    if len(name) + 2 + len(value) <= _MAX_LINE and _PLAIN.fullmatch(value) and "=?" not in value:
        return f"{name}: {value}\r\n"
    return _folded(name, value)


def _to_header(address: str, name: str) -> str:
    local, _, domain = address.rpartition("@")
    if _DOT_ATOM.fullmatch(local) and _DOT_ATOM.fullmatch(domain) and (not name or (_PHRASE.fullmatch(name) and "=?" not in name)):
        line = f"To: {name} <{local}@{domain}>\r\n" if name else f"To: {local}@{domain}\r\n"
        if len(line) - 2 <= _MAX_LINE:
            return line
    return _folded("To", Address(display_name=name, username=local, domain=domain))


def _message_id_header(value: str) -> str:
    if value and len(value) + 12 <= _MAX_LINE and _MESSAGE_ID.fullmatch(value):
        return f"Message-ID: {value}\r\n"
    return _folded("Message-ID", value)


@functools.lru_cache(maxsize=64)
def _folded_constant(name: str, value: str) -> str:
    return _folded(name, value)


def _folded(name: str, value) -> str:
    """The header line(s) as ``EmailMessage`` stores and the SMTP policy writes them."""
    if isinstance(value, str) and len(value.splitlines()) > 1:  # as EmailMessage refuses it
        raise ValueError("Header values may not contain linefeed or carriage return characters")
    return policy.default.header_factory(name, value).fold(policy=policy.SMTP)


def _quoted_printable(body: str) -> str:
    """A text part's body as ``set_content(body, cte="quoted-printable")`` encodes it, CRLF line ends."""
    normal = b"\n".join(body.encode("utf-8").splitlines()) + b"\n"
    return quoprimime.body_encode(normal.decode("latin-1"), _MAX_LINE).replace("\n", "\r\n")


def _boundary(*parts: str) -> str:
    """A MIME boundary as the library draws it, on no line of the parts (quoted-printable text
    cannot hold one: "==" is not quoted-printable)."""
    while True:
        boundary = f"{'=' * 15}{random.randrange(sys.maxsize):0{_BOUNDARY_DIGITS}d}=="
        if not any(boundary in part for part in parts):
            return boundary
