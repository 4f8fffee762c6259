"""A local REST API and OAuth2 token endpoint, speaking real HTTP, for the API source's tests and bench.

:class:`ApiServer` serves on 127.0.0.1 (an ephemeral port) from a thread:

- ``POST /oauth/token``: client credentials (``client_secret_post``) and refresh
  tokens; tokens expire after ``token_ttl`` seconds; a client accepts every secret
  in its set (a rotation's overlap: :meth:`ApiServer.rotate`).
- ``GET /v1/accounts``: accounts ordered by ``updated_at`` then id, filtered by
  ``updated_since``, paged by offset (``/v1/accounts``), page number
  (``/v1/accounts_page``), cursor (``/v1/accounts_cursor``), next link in the
  body (``/v1/accounts_next``) or Link header (``/v1/accounts_link``).
- ``GET /v1/accounts/{id}/contacts``: an account's contacts, paged by page number.

Every API request needs a live bearer token. The server keeps a rate limit
(requests in any one-second window; over it: 429 with ``Retry-After``, counted
in ``over_rate``) and an optional quota (``X-RateLimit-*``; when none remain,
429 until far in the future). :meth:`ApiServer.fault` queues faults for the
next matching requests: ``malformed`` (a body that is not JSON), ``drop`` (the
connection closed halfway through the body), ``429``, ``500``.
"""

from __future__ import annotations

import collections
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)


@dataclass
class Fault:
    path: str  # a prefix of the request path
    kind: str  # malformed, drop, 429, 500
    times: int = 1
    retry_after: float = 0.0


@dataclass
class ApiState:
    clients: dict[str, set[str]] = field(default_factory=dict)
    token_ttl: float = 3600.0
    tokens: dict[str, float] = field(default_factory=dict)  # access token: expiry (time.time())
    refresh_tokens: set[str] = field(default_factory=set)
    accounts: dict[str, dict[str, object]] = field(default_factory=dict)
    contacts: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    rate: float | None = None  # requests per second the API allows
    quota: int | None = None  # requests left (X-RateLimit-Remaining); None: no quota
    quota_limit: int = 0
    faults: list[Fault] = field(default_factory=list)
    clock: int = 0  # seconds after EPOCH of the last change
    recent: collections.deque[float] = field(default_factory=collections.deque)
    over_rate: int = 0
    requests: list[tuple[float, str, int]] = field(default_factory=list)  # time, path, status
    tokens_issued: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _stamp(seconds: int) -> str:
    return (EPOCH + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


class ApiServer:
    def __init__(self, accounts: int = 0, contacts_per_account: int = 0) -> None:
        self.state = ApiState()
        for i in range(accounts):
            self.add_account(contacts=contacts_per_account, name=f"Account {i}")
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> ApiServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def add_client(self, client_id: str, secret: str) -> None:
        self.state.clients.setdefault(client_id, set()).add(secret)

    def rotate(self, client_id: str, new: str, *, drop_old: bool = False) -> None:
        """A new secret for the client; with ``drop_old`` the overlap ends and only the new one works."""
        with self.state.lock:
            if drop_old:
                self.state.clients[client_id] = set()
            self.state.clients.setdefault(client_id, set()).add(new)

    def expire_tokens(self) -> None:
        """Every access token issued so far expires now."""
        with self.state.lock:
            self.state.tokens = dict.fromkeys(self.state.tokens, 0.0)

    def issue_refresh_token(self) -> str:
        token = secrets.token_urlsafe(16)
        self.state.refresh_tokens.add(token)
        return token

    def _tick(self) -> str:
        self.state.clock += 1
        return _stamp(self.state.clock)

    def add_account(self, *, contacts: int = 0, name: str = "") -> str:
        with self.state.lock:
            key = f"A{len(self.state.accounts):06d}"
            self.state.accounts[key] = {
                "account_id": key,
                "name": name or key,
                "tier": "gold",
                "created_date": "2026-01-01",
                "updated_at": self._tick(),
            }
            self.state.contacts[key] = [
                {
                    "contact_id": f"{key}-C{j:03d}",
                    "account_id": key,
                    "email": f"c{j}@{key.lower()}.example",
                    "created_date": "2026-01-01",
                }
                for j in range(contacts)
            ]
        return key

    def touch(self, key: str, **changes: object) -> None:
        """Change an account: its fields and a newer ``updated_at`` (it moves to the end of the order)."""
        with self.state.lock:
            self.state.accounts[key].update(changes, updated_at=self._tick())

    def fault(self, path: str, kind: str, times: int = 1, retry_after: float = 0.0) -> None:
        with self.state.lock:
            self.state.faults.append(Fault(path, kind, times, retry_after))

    def api_requests(self) -> list[tuple[float, str, int]]:
        return [r for r in self.state.requests if not r[1].startswith("/oauth")]


class _Handler(BaseHTTPRequestHandler):
    state: ApiState
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        # Recorded before the body goes out: a client that has its answer finds its request in the log.
        self.state.requests.append((time.time(), urlparse(self.path).path, status))
        self.wfile.write(body)

    def _json(self, status: int, value: object, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(value).encode(), headers)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        if urlparse(self.path).path != "/oauth/token":
            self._json(404, {"error": "not_found"})
            return
        state = self.state
        with state.lock:
            grant = form.get("grant_type")
            if grant == "client_credentials":
                ok = form.get("client_secret", "") in state.clients.get(form.get("client_id", ""), set())
            elif grant == "refresh_token":
                ok = form.get("refresh_token", "") in state.refresh_tokens
            else:
                self._json(400, {"error": "unsupported_grant_type"})
                return
            if not ok:
                self._json(401, {"error": "invalid_client"})
                return
            token = secrets.token_urlsafe(16)
            state.tokens[token] = time.time() + state.token_ttl
            state.tokens_issued += 1
            answer: dict[str, object] = {"access_token": token, "token_type": "Bearer", "expires_in": state.token_ttl}
            if grant == "refresh_token":
                state.refresh_tokens.discard(form["refresh_token"])
                answer["refresh_token"] = secrets.token_urlsafe(16)
                state.refresh_tokens.add(str(answer["refresh_token"]))
        self._json(200, answer)

    def _authorized(self) -> bool:
        auth = self.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip()
        with self.state.lock:
            return auth.startswith("Bearer ") and self.state.tokens.get(token, 0.0) > time.time()

    def _limited(self) -> bool:
        state, now = self.state, time.time()
        with state.lock:
            if state.quota is not None:
                if state.quota <= 0:
                    reset = str(int(now + 86400))
                    headers = {"Retry-After": "86400", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
                    self._json(429, {"error": "quota exhausted"}, headers)
                    return True
                state.quota -= 1
            if state.rate is not None:
                while state.recent and state.recent[0] <= now - 1.0:
                    state.recent.popleft()
                if len(state.recent) >= state.rate:
                    state.over_rate += 1
                    self._json(429, {"error": "rate limited"}, {"Retry-After": "1"})
                    return True
                state.recent.append(now)
        return False

    def _fault(self, path: str) -> Fault | None:
        with self.state.lock:
            for fault in self.state.faults:
                if path.startswith(fault.path) and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def _faulted(self, fault: Fault, body: bytes) -> None:
        if fault.kind == "malformed":
            self._send(200, b'{"data": {"items": [{"account_id": "A0000')
        elif fault.kind == "drop":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.state.requests.append((time.time(), urlparse(self.path).path, 0))
        elif fault.kind == "429":
            self._json(429, {"error": "slow down"}, {"Retry-After": f"{fault.retry_after:g}"})
        else:
            self._json(int(fault.kind), {"error": "server error"})

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if not self._authorized():
            self._json(401, {"error": "invalid_token"})
            return
        if self._limited():
            return
        fault = self._fault(url.path)
        if fault is not None and fault.kind in ("429", "500", "503"):
            self._faulted(fault, b"")
            return
        found = self._route(url.path, query)
        if found is None:
            self._json(404, {"error": "not_found"})
            return
        body, headers = found
        raw = json.dumps(body).encode()
        if fault is not None:
            self._faulted(fault, raw)
            return
        with self.state.lock:
            if self.state.quota is not None:
                headers["X-RateLimit-Remaining"] = str(self.state.quota)
                headers["X-RateLimit-Limit"] = str(self.state.quota_limit)
                headers["X-RateLimit-Reset"] = "3600"
        self._send(200, raw, headers)

    def _route(self, path: str, query: dict[str, str]) -> tuple[object, dict[str, str]] | None:
        parts = path.strip("/").split("/")
        if len(parts) == 4 and parts[:2] == ["v1", "accounts"] and parts[3] == "contacts":
            items = list(self.state.contacts.get(parts[2], []))
            page, per = int(query.get("page", "1")), int(query.get("per_page", "100"))
            return {"results": items[(page - 1) * per : page * per]}, {}
        if len(parts) != 2 or not parts[1].startswith("accounts"):
            return None
        with self.state.lock:
            rows = sorted(self.state.accounts.values(), key=lambda r: (str(r["updated_at"]), str(r["account_id"])))
        since = query.get("updated_since")
        if since:
            rows = [r for r in rows if _parse(str(r["updated_at"])) >= _parse(since)]
        return _paged(parts[1], rows, query, f"{self.headers.get('Host')}{path}")


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _paged(
    style: str, rows: list[dict[str, object]], query: dict[str, str], here: str
) -> tuple[object, dict[str, str]]:
    limit = int(query.get("limit", "100"))
    if style == "accounts":
        offset = int(query.get("offset", "0"))
        return {"data": {"items": rows[offset : offset + limit]}, "total": len(rows)}, {}
    if style == "accounts_page":
        page = int(query.get("page", "1"))
        return {"data": {"items": rows[(page - 1) * limit : page * limit]}}, {}
    start = int(query.get("cursor", query.get("start", "0")))
    chunk, more = rows[start : start + limit], start + limit < len(rows)
    rest = {k: v for k, v in query.items() if k not in ("cursor", "start")}
    if style == "accounts_cursor":
        return {"data": {"items": chunk}, "next_cursor": str(start + limit) if more else None}, {}
    link = f"http://{here}?{urlencode({**rest, 'start': start + limit})}" if more else None
    if style == "accounts_next":
        return {"data": {"items": chunk}, "links": {"next": link}}, {}
    return {"data": {"items": chunk}}, ({"Link": f'<{link}>; rel="next"'} if link else {})
