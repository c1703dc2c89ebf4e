"""Script URLs (``javascript:``, ``vbscript:``, ``data:`` other than images) kept out of rendered emails.

A lead value printed in ``href="{{ ... }}"`` is escaped, but escaping leaves its scheme, so every
rendered HTML part goes through ``neutralise_script_urls``. The rest of the markup is the template
author's and is sent as written (no sanitiser re-serialises it).
"""

import re
from html import unescape

# Each attribute value that could hold a script URL: one that starts, after blanks, with j, v, d
# or an entity. Matched after every "=" without consuming the value, so that no "=" is skipped.
_SUSPECT_VALUE = re.compile(
    r"""=(?=[ \t\n\f\r]*("[\x00-\x20]*[jJvVdD&][^"]*"|'[\x00-\x20]*[jJvVdD&][^']*'"""
    r"""|[\x00-\x08\x0b\x0e-\x1f]*[jJvVdD&][^ \t\n\f\r>]*))"""
)
# What follows each "=" that _SUSPECT_VALUE matches: a blank, a control character or one of its letters,
# possibly after a quote. Cheaper to search for: _SUSPECT_VALUE is tried only where this matches (and
# since this matches no "=" after the first, no "=" is skipped).
_MAYBE_SUSPECT = re.compile(r"""=["']?[\x00-\x20jJvVdD&]""")
_URL_ATTRIBUTE_NAMES = ("href", "src", "action", "formaction", "background", "poster", "cite", "xlink:href")
_URL_ATTRIBUTE_NAME = re.compile(r"(?:^|[^\w:-])(?:" + "|".join(_URL_ATTRIBUTE_NAMES) + r")\s*$", re.IGNORECASE)
# How those names end: only these ASCII letters match their last two letters case-insensitively, so
# a name that ends otherwise is ruled out before the regular expression is tried (most attributes).
_URL_ATTRIBUTE_ENDINGS = frozenset(name[-2:] for name in _URL_ATTRIBUTE_NAMES)
_URL_NOISE = re.compile(r"[\x00-\x20\x7f]+")


def is_script_url(value: str) -> bool:
    """True if a browser would run ``value`` (an attribute value, entities allowed) as a script."""
    url = _URL_NOISE.sub("", unescape(value)).lower()
    return url.startswith(("javascript:", "vbscript:")) or (url.startswith("data:") and not url.startswith("data:image/"))


def neutralise_script_urls(html: str) -> str:
    """Replace script URLs in link and source attributes by ``#``, wherever they came from."""
    pieces, done = [], 0
    for maybe in _MAYBE_SUSPECT.finditer(html):
        match = _SUSPECT_VALUE.match(html, maybe.start())
        if match is None:
            continue
        before = html[max(match.start() - 24, 0) : match.start()]
        if before.rstrip()[-2:].lower() not in _URL_ATTRIBUTE_ENDINGS or not _URL_ATTRIBUTE_NAME.search(before):
            continue
        quoted = match.group(1)
        quote = quoted[0] if quoted[0] in "\"'" else ""
        if not is_script_url(quoted[1:-1] if quote else quoted):
            continue
        pieces += (html[done : match.start(1)], f"{quote}#{quote}")
        done = match.end(1)
    return "".join(pieces) + html[done:] if pieces else html
