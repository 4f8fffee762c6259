"""Stand-ins for the PagerDuty Events API and the Slack API: real HTTP(S) servers that record requests.

The tests point the real clients at them. Each answers from a script of
replies first (``reply(...)``) and then with its default success answer, so a
test can stage a 429 or an outage and then look at exactly what the clients
sent. The fixtures of :mod:`tests.ops.channels` start them, PagerDuty over
HTTPS with a throwaway ``trustme`` CA.
"""

from __future__ import annotations

import itertools
import json
import ssl
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any = ""
    headers: dict[str, str] = field(default_factory=dict)


class FakeService:
    """A threaded HTTP server on 127.0.0.1 (HTTPS with ``tls``), stoppable and restartable on its port."""

    def __init__(self, default: Callable[[Received], Reply], tls: ssl.SSLContext | None = None) -> None:
        self.default = default
        self.tls = tls
        self.requests: list[Received] = []
        self.answered: list[tuple[Received, Reply]] = []
        self.script: deque[Reply] = deque()
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def reply(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def bodies(self) -> list[Any]:
        return [r.json for r in self.requests]

    def accepted(self) -> list[Any]:
        """The bodies of the requests answered with a 2xx: what the service took, in order."""
        with self._lock:
            return [r.json for r, reply in self.answered if 200 <= reply.status < 300]

    def answer(self, received: Received) -> Reply:
        with self._lock:
            self.requests.append(received)
            reply = self.script.popleft() if self.script else self.default(received)
            self.answered.append((received, reply))
            return reply

    def start(self) -> FakeService:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        if self.tls is not None:
            server.socket = self.tls.wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _handler(service: FakeService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            reply = service.answer(Received(self.path, dict(self.headers.items()), raw))
            body = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
            data = body.encode()
            self.send_response(reply.status)
            kind = "text/plain" if isinstance(reply.body, str) else "application/json"
            self.send_header("Content-Type", reply.headers.get("Content-Type", kind))
            for name, value in reply.headers.items():
                if name != "Content-Type":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def pagerduty_ok(received: Received) -> Reply:
    key = received.json.get("dedup_key", "generated-key")
    return Reply(202, {"status": "success", "message": "Event processed", "dedup_key": key})


def slack_ok() -> Callable[[Received], Reply]:
    """Slack's answers: a new ``ts`` for every chat.postMessage, ``ok`` for a webhook."""
    counter = itertools.count(1)

    def answer(received: Received) -> Reply:
        if received.path.startswith("/services/"):
            return Reply(200, "ok")
        body = received.json
        return Reply(200, {"ok": True, "channel": body["channel"], "ts": f"1700000000.{next(counter):06d}"})

    return answer
