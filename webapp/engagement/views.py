"""The public tracking URLs of sent emails: ``/t/o/<token>`` (the open pixel) and ``/t/c/<token>``
(a link). No sign-in: the signed token is the credential, as for unsubscribe links. A token that is
not one of ours is a 404 and records nothing; a click goes only to the URL recorded for the link
when the message was queued, never to one taken from the request. HEAD requests (link checkers)
are answered and record nothing.
"""

import base64

from flask import Blueprint, abort, make_response, redirect, request

from ..extensions import db
from .recording import record_click, record_open, recorded_link
from .tokens import read_click_token, read_open_token

bp = Blueprint("tracking", __name__)
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")  # a transparent 1×1 GIF
NOT_CACHED = {"Cache-Control": "no-store, no-cache, must-revalidate, max-age=0", "Pragma": "no-cache", "Expires": "0"}


@bp.get("/t/o/<open_token>")
def open_pixel(open_token):
    message_id = read_open_token(open_token)
    if message_id is None or (request.method == "GET" and not record_open(message_id)):
        abort(404)
    db.session.commit()
    response = make_response(PIXEL)
    response.headers.update({"Content-Type": "image/gif", **NOT_CACHED})
    return response


@bp.get("/t/c/<click_token>")
def click(click_token):
    named = read_click_token(click_token)
    url = None if named is None else record_click(*named) if request.method == "GET" else recorded_link(*named)
    if url is None:
        abort(404)
    db.session.commit()
    response = redirect(url, 302)
    response.headers.update(NOT_CACHED)
    return response
