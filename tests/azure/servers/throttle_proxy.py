"""An HTTP proxy in front of Azurite that answers the first N requests with 503 ServerBusy,
and can rewrite the replies it relays (`alter`).

Storage throttles with `503 Server Busy` (and `500 Operation Timeout`); Azurite never does, so
this puts the throttling in front of it to exercise the client's retry policy for real. The
same goes for other answers Azurite never gives (a range answered short).
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

BUSY = (
    b'<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code>'
    b"<Message>The server is busy.</Message></Error>"
)
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


# (request method, path, request headers, reply status, reply headers, reply body) → the
# reply to send instead: (status, headers, body)
Alter = Callable[
    [str, str, dict[str, str], int, dict[str, str], bytes], tuple[int, dict[str, str], bytes]
]


class ThrottlingProxy:
    def __init__(self, upstream: str, busy_responses: int = 0, alter: Alter | None = None) -> None:
        target = urlsplit(upstream)
        state = {"left": busy_responses, "lock": threading.Lock(), "seen": [], "alter": alter}
        handler = type(
            "Handler", (_Handler,), {"state": state, "upstream": (target.hostname, target.port)}
        )
        self.state = state
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}{target.path}"

    @property
    def statuses(self) -> list[int]:
        return list(self.state["seen"])

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    state: dict[str, Any]
    upstream: tuple[str, int]
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._relay()

    def do_HEAD(self) -> None:
        self._relay()

    def do_PUT(self) -> None:
        self._relay()

    def _relay(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.state["lock"]:
            busy = self.state["left"] > 0
            self.state["left"] -= busy
        if busy:
            self.state["seen"].append(503)
            return self._answer(503, {"x-ms-error-code": "ServerBusy"}, BUSY)
        conn = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            conn.request(self.command, self.path, body=body or None, headers=headers)
            reply = conn.getresponse()
            data = reply.read()
            self.state["seen"].append(reply.status)
            headers = {k: v for k, v in reply.getheaders() if k.lower() not in HOP_BY_HOP}
            status = reply.status
            if alter := self.state["alter"]:
                asked = dict(self.headers.items())
                status, headers, data = alter(self.command, self.path, asked, status, headers, data)
            self._answer(status, headers, data)
        finally:
            conn.close()

    def _answer(self, status: int, headers: dict[str, str], data: bytes) -> None:
        self.send_response(status)
        length = str(len(data))
        for key, value in headers.items():
            if key.lower() != "content-length":
                self.send_header(key, value)
            elif self.command == "HEAD":  # a HEAD reply states the resource's length
                length = value
        self.send_header("Content-Length", length)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
