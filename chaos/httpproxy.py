"""An HTTP fault proxy on loopback: the real API behind it, and answers of its own when a fault is armed.

Sluice's ``ingest-api`` runs reach the API through :class:`HttpFaultProxy`
(the drill writes the API's description with the proxy's address as its base
URL); the drill's probes read the API straight, so a fault never blinds the
judge. Untouched, the proxy forwards every request to the upstream API and
every answer back, with the upstream's address in ``Link`` headers and bodies
rewritten to the proxy's, so next links lead through the proxy too.

:meth:`HttpFaultProxy.throttle_then_fail` arms a fault: once ``after_requests``
more requests were forwarded, the proxy itself answers ``429 Too Many
Requests`` with a ``Retry-After`` for ``throttle_seconds`` (by default the
rest of that window, in whole seconds), then ``fail_status`` (500) to every
request until :meth:`HttpFaultProxy.heal`. :class:`HttpProxyStats` counts what
it forwarded and what it answered itself.

Example:
    >>> with HttpFaultProxy("http://127.0.0.1:9000") as proxy:
    ...     proxy.throttle_then_fail(60, after_requests=2)
    ...     httpx.get(proxy.url + "/v1/accounts")
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx

from ops.errors import ChaosError

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "accept-encoding",
        "content-encoding",
    }
)
OWN_HEADERS = frozenset({"date", "server"})  # send_response writes its own
UPSTREAM_TIMEOUT = 30.0


@dataclass(frozen=True)
class HttpFaults:
    """What the proxy answers itself once ``after_requests`` more were forwarded (the default: nothing)."""

    throttle_seconds: float = 0.0
    retry_after: float | None = None  # None: the rest of the throttled window
    fail_status: int | None = None
    after_requests: int = 0

    def ensure_valid(self) -> HttpFaults:
        """``self`` if every value can work, else a ``ChaosError`` naming the bad one."""
        if self.throttle_seconds < 0 or not math.isfinite(self.throttle_seconds):
            raise ChaosError(f"throttle_seconds must be >= 0, not {self.throttle_seconds}")
        if self.retry_after is not None and self.retry_after < 0:
            raise ChaosError(f"retry_after must be >= 0 seconds, not {self.retry_after}")
        if self.fail_status is not None and not 500 <= self.fail_status <= 599:
            raise ChaosError(f"fail_status must be a 5xx status, not {self.fail_status}")
        if self.after_requests < 0:
            raise ChaosError(f"after_requests must be >= 0, not {self.after_requests}")
        return self

    @property
    def armed(self) -> bool:
        return self.throttle_seconds > 0 or self.fail_status is not None


@dataclass(frozen=True)
class HttpProxyStats:
    """Counters since the proxy started: requests forwarded, and answered by the proxy itself."""

    forwarded: int = 0
    throttled: int = 0  # 429 answers of the proxy
    failed: int = 0  # fail_status answers of the proxy
    upstream_errors: int = 0  # the upstream could not be reached (answered 502)


class HttpFaultProxy:
    """Forward HTTP requests to ``upstream`` (``scheme://host:port``), answering 429 and 5xx when armed."""

    def __init__(self, upstream: str, *, host: str = "127.0.0.1", port: int = 0) -> None:
        parts = urlsplit(upstream)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ChaosError(f"cannot proxy {upstream!r}", hint="an http:// or https:// URL with a host")
        self.upstream = f"{parts.scheme}://{parts.netloc}"
        self.stats = HttpProxyStats()
        self._faults = HttpFaults()
        self._armed_at_forwarded = 0
        self._window_start: float | None = None
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=UPSTREAM_TIMEOUT, follow_redirects=False)
        handler = type("Handler", (_Handler,), {"proxy": self})
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="http-fault-proxy", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> HttpFaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._client.close()

    def __enter__(self) -> HttpFaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def faults(self) -> HttpFaults:
        return self._faults

    def throttle_then_fail(
        self,
        throttle_seconds: float,
        *,
        fail_status: int | None = 500,
        retry_after: float | None = None,
        after_requests: int = 0,
    ) -> HttpFaults:
        """Arm the fault: after ``after_requests`` forwarded, 429 for ``throttle_seconds``, then ``fail_status``."""
        faults = HttpFaults(throttle_seconds, retry_after, fail_status, after_requests).ensure_valid()
        with self._lock:
            self._faults = faults
            self._armed_at_forwarded = self.stats.forwarded
            self._window_start = None
        return faults

    def heal(self) -> None:
        """Forward everything again."""
        with self._lock:
            self._faults = HttpFaults()
            self._window_start = None

    def _count(self, **more: int) -> None:
        with self._lock:
            self.stats = replace(self.stats, **{k: getattr(self.stats, k) + v for k, v in more.items()})

    def decide(self) -> tuple[int, dict[str, str]] | None:
        """The answer the proxy gives itself to a request now (status, headers), or None to forward it."""
        with self._lock:
            faults = self._faults
            if not faults.armed or self.stats.forwarded - self._armed_at_forwarded < faults.after_requests:
                return None
            now = time.monotonic()
            if self._window_start is None:
                self._window_start = now
            left = faults.throttle_seconds - (now - self._window_start)
        if left > 0:
            wait = faults.retry_after if faults.retry_after is not None else left
            return 429, {"Retry-After": str(max(1, math.ceil(wait)))}
        if faults.fail_status is not None:
            return faults.fail_status, {}
        return None

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> httpx.Response:
        return self._client.request(method, self.upstream + path, headers=headers, content=body or None)

    def rewrite(self, data: bytes) -> bytes:
        """``data`` with the upstream's address replaced by the proxy's (links lead through the proxy)."""
        return data.replace(self.upstream.encode(), self.url.encode())


class _Handler(BaseHTTPRequestHandler):
    proxy: HttpFaultProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _answer(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _own(self, status: int, headers: dict[str, str]) -> None:
        error = "too many requests" if status == 429 else "injected server error"
        body = json.dumps({"error": error, "injected_by": "sluice chaos drill"}).encode()
        self._answer(status, body, [("Content-Type", "application/json"), *headers.items()])

    def _relay(self) -> None:
        proxy = self.proxy
        decided = proxy.decide()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if decided is not None:
            status, headers = decided
            proxy._count(**({"throttled": 1} if status == 429 else {"failed": 1}))
            self._own(status, headers)
            return
        sent = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        try:
            response = proxy.forward(self.command, self.path, sent, body)
        except httpx.HTTPError as exc:
            proxy._count(upstream_errors=1)
            self._answer(502, json.dumps({"error": type(exc).__name__}).encode(), [])
            return
        proxy._count(forwarded=1)
        back = [(k, proxy.rewrite(v.encode()).decode()) for k, v in response.headers.multi_items()]
        self._answer(
            response.status_code,
            proxy.rewrite(response.content),
            [h for h in back if h[0].lower() not in HOP_BY_HOP | OWN_HEADERS],
        )

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _relay
