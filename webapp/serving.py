"""The gunicorn worker of the Procfile's ``web`` line: gevent's (slow clients do not block it), with one
change. A request line longer than ``--limit-request-line`` is refused by gunicorn itself, before the
app sees it, with an HTML page; this worker answers it as the API answers every other problem
(application/problem+json, 414), as the OpenAPI document says.
"""

import json

from gunicorn import util
from gunicorn.http.errors import LimitRequestLine
from gunicorn.workers.ggevent import GeventWorker

URI_TOO_LONG = {
    "type": "/api/problems/uri-too-long",
    "title": "URI Too Long",
    "status": 414,
    "detail": "The request line is longer than the server accepts; send long lists in a JSON body.",
}


class ProblemJsonGeventWorker(GeventWorker):
    def handle_error(self, req, client, addr, exc):
        if not isinstance(exc, LimitRequestLine):
            return super().handle_error(req, client, addr, exc)
        body = json.dumps(URI_TOO_LONG).encode()
        head = (
            "HTTP/1.1 414 URI Too Long\r\nConnection: close\r\nContent-Type: application/problem+json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        try:
            util.write_nonblock(client, head.encode("latin1") + body)
        except OSError:
            self.log.debug("could not answer a request line over the limit")
