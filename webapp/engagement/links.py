"""The http(s) links of an email's HTML part, found and rewritten in place; the open pixel added. Pure.

Links are the ``href`` of ``<a>`` and ``<area>`` start tags. The HTML is read once from start to end,
as a browser reads it: comments, scripts and styles hold no link, and a tag (or comment) that never
ends swallows the rest of the document. Links are rewritten by replacing the attribute's value in
the source, so that the rest of the markup is sent exactly as it was rendered. Finding is
deterministic: the links found when a message is queued are found again, in the same order, when it
is sent.
"""

import re
from dataclasses import dataclass
from html import escape, unescape
from urllib.parse import urlsplit

MAX_LINKS = 100  # a message's links past these stay as they are (untracked)
MAX_URL_LENGTH = 2000
# What to look at next: a comment, a script or style element, a link's start tag.
_NEXT = re.compile(r"<!--|<(script|style)(?=[\s/>])|<(?:a|area)(?=[\s/>])", re.IGNORECASE)
_CLOSING = {name: re.compile(rf"</{name}[\s/>]", re.IGNORECASE) for name in ("script", "style")}
# One attribute of a start tag: a name, and a value quoted or not; then the end of the tag.
_ATTRIBUTE = re.compile(r"""[\s/]*([^\s/>][^\s/>=]*)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>]*))?""")
_TAG_END = re.compile(r"[\s/]*>")


@dataclass(frozen=True)
class Link:
    url: str  # as a browser follows it: entities decoded, surrounding blanks removed
    start: int  # where the href attribute's value (with its quotes) is in the HTML
    end: int


def find_links(html: str, untracked: tuple[str, ...] = ()) -> list[Link]:
    """The http(s) links of ``<a href>`` and ``<area href>`` in ``html``, in document order, except
    those to one of the ``untracked`` URLs (the unsubscribe link), at most ``MAX_LINKS``."""
    links, position = [], 0
    while len(links) < MAX_LINKS and (found := _NEXT.search(html, position)):
        if found.group() == "<!--":
            end = html.find("-->", found.end())
            position = end + 3 if end >= 0 else len(html)
        elif found.group(1):
            closing = _CLOSING[found.group(1).lower()].search(html, found.end())
            position = closing.end() if closing else len(html)
        else:
            link, position = _start_tag(html, found.end())
            if link is not None and link.url not in untracked and _is_web_url(link.url):
                links.append(link)
    return links


def rewrite_links(html: str, links: list[Link], url_for_link) -> str:
    """``html`` with the href of each of ``links`` replaced by ``url_for_link(index, link)`` (None:
    left as it is)."""
    pieces, done = [], 0
    for index, link in enumerate(links):
        replacement = url_for_link(index, link)
        if replacement is None:
            continue
        pieces += (html[done : link.start], f'"{escape(replacement)}"')
        done = link.end
    return "".join(pieces) + html[done:]


def add_pixel(html: str, pixel_url: str) -> str:
    """``html`` with a 1×1 image of ``pixel_url`` at the end of its body."""
    image = f'<img src="{escape(pixel_url)}" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0">'
    position = html.lower().rfind("</body>")
    return html[:position] + image + html[position:] if position >= 0 else html + image


def _start_tag(html: str, position: int) -> tuple[Link | None, int]:
    """The link of the start tag whose attributes begin at ``position`` (its first href, as browsers
    read it), and where the tag ends (the end of the document if it never does)."""
    link, seen_href = None, False
    while not (end := _TAG_END.match(html, position)):
        attribute = _ATTRIBUTE.match(html, position)
        if attribute is None:
            return None, len(html)
        if not seen_href and attribute.group(1).lower() == "href":
            seen_href, raw = True, attribute.group(2)
            if raw is not None:
                value = raw[1:-1] if raw[:1] in ("'", '"') and len(raw) > 1 else raw
                link = Link(unescape(value).strip(), attribute.start(2), attribute.end(2))
        position = attribute.end()
    return link, end.end()


def _is_web_url(url: str) -> bool:
    if len(url) > MAX_URL_LENGTH:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)
