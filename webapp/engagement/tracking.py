"""What is tracked in an email: decided when it is queued, applied to its HTML when it is sent.

Tracked are the messages to a lead from a marketing template, as the template's ``track_opens`` and
``track_clicks`` say (SPEC §16). ``queue_email`` records on the outbox row whether the pixel goes in
and which links a click may lead to (``tracking_columns``); ``build_mime`` sends ``tracked_html``.
The outbox keeps the HTML as rendered, so that a marketer reading a message in the outbox records no
open and no click. The unsubscribe link is never rewritten.
"""

from .links import add_pixel, find_links, rewrite_links
from .tokens import click_url, open_url

TRACKED_TEMPLATE_TYPES = ("marketing",)


def tracking_columns(template, recipient: str, html: str, unsubscribe_link: str | None) -> dict:
    """The outbox row's ``track_opens`` and ``links`` for an email from ``template`` with this HTML:
    the http(s) links in order, the unsubscribe link left out (None when clicks are not tracked)."""
    if recipient != "lead" or template.template_type not in TRACKED_TEMPLATE_TYPES or not html:
        return {"track_opens": False, "links": None}
    links = [link.url for link in find_links(html, _untracked(unsubscribe_link))] if template.track_clicks else []
    return {"track_opens": bool(template.track_opens), "links": links or None}


def tracked_html(message) -> str:
    """The HTML part to send: each recorded link rewritten to its click URL, the pixel added.

    The links are found again in the stored HTML and matched to the recorded ones in order; a link
    is rewritten only to the click URL of a recorded link with the same URL, so a click always leads
    where the reader meant to go.
    """
    html = message.body_html or ""
    if not html or not (message.links or message.track_opens):
        return html
    if message.links:
        recorded = list(message.links)
        matched = {}  # position among the links found -> index of the recorded link
        found = find_links(html, _untracked(message.unsubscribe_url))
        for position, link in enumerate(found):
            if len(matched) < len(recorded) and link.url == recorded[len(matched)]:
                matched[position] = len(matched)
        html = rewrite_links(html, found, lambda position, _link: click_url(message.id, matched[position]) if position in matched else None)
    if message.track_opens:
        html = add_pixel(html, open_url(message.id))
    return html


def _untracked(unsubscribe_link: str | None) -> tuple[str, ...]:
    return (unsubscribe_link,) if unsubscribe_link else ()
