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
_URL_ATTRIBUTE_NAME = re.compile(r"(?:^|[^\w:-])(?:href|src|action|formaction|background|poster|cite|xlink:href)\s*$", re.IGNORECASE)
_URL_NOISE = re.compile(r"[\x00-\x20\x7f]+")


def is_script_url(value: str) -> bool:
    """True if a browser would run ``value`` (an attribute value, entities allowed) as a script."""
    url = _URL_NOISE.sub("", unescape(value)).lower()
    return url.startswith(("javascript:", "vbscript:")) or (url.startswith("data:") and not url.startswith("data:image/"))


def neutralise_script_urls(html: str) -> str:
    """Replace script URLs in link and source attributes by ``#``, wherever they came from."""
    pieces, done = [], 0
    for match in _SUSPECT_VALUE.finditer(html):
        quoted = match.group(1)
        quote = quoted[0] if quoted[0] in "\"'" else ""
        value = quoted[1:-1] if quote else quoted
        name_start = max(match.start() - 24, 0)
        if not _URL_ATTRIBUTE_NAME.search(html[name_start : match.start()]) or not is_script_url(value):
            continue
        pieces += (html[done : match.start(1)], f"{quote}#{quote}")
        done = match.end(1)
    return "".join(pieces) + html[done:] if pieces else html
