"""One page of an endpoint: requested within the budget, retried, and its records found by JSONPath.

:meth:`ApiClient.page` sends a :class:`~sluice.sources.api.pages.PageRequest`
with the credentials' headers, after the client-side budget and the server's
quota allow it, and answers with a :class:`Page` or, when the body is not JSON
even on a second try, a :class:`BadPage` that the sync quarantines with the
request. It retries a dropped connection or a timeout, a 5xx, and a 429/503
(after ``Retry-After``), with jittered backoff, ``max_retries`` times; a 401 is
answered once by renewing the credentials. What it cannot cure it raises:
:class:`ApiAuthError`, :class:`ApiQuotaExhausted`, :class:`SourceUnreachableError`
(the API is down), :class:`SourceError` (any other refusal). Error messages name
the URL without its query, never a header.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from sluice.errors import ApiAuthError, ApiQuotaExhausted, SourceError, SourceUnreachableError
from sluice.sources.api.auth import Credentials
from sluice.sources.api.limits import RateBudget, ServerLimits, backoff
from sluice.sources.api.pages import PageRequest
from sluice.sources.api.quota import SharedQuota
from sluice.sources.api.spec import ApiSpec, Endpoint, compiled

EXCERPT_CHARS = 1024
MALFORMED_TRIES = 2  # a body that is not JSON is asked for this many times before it is quarantined


@dataclass(frozen=True)
class Page:
    request: PageRequest
    records: list[object]
    body: object
    links: dict[str, dict[str, str]]


@dataclass(frozen=True)
class BadPage:
    """A page whose body could not be read: what was asked, what came back, and why it is refused."""

    request: PageRequest
    status: int
    detail: str
    excerpt: str


def records_at(path: str, body: object) -> list[object]:
    """The records ``path`` finds in ``body``: the list it names, or every value it matches."""
    found = [m.value for m in compiled(path).find(body)]
    if len(found) == 1 and isinstance(found[0], list):
        return list(found[0])
    return found


@dataclass
class ApiClient:
    """Pages of ``spec``'s endpoints over one HTTP connection pool, within the API's budget."""

    spec: ApiSpec
    credentials: Credentials
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] = time.sleep
    requests: int = 0
    retries: int = 0
    server: ServerLimits = field(init=False)
    budget: RateBudget = field(init=False)

    def __post_init__(self) -> None:
        limits = self.spec.limits
        self.server = ServerLimits(limits, sleep=self.sleep)
        self.budget = RateBudget(limits.requests_per_second, sleep=self.sleep)
        quota = limits.daily_quota
        self.quota = None if quota is None else SharedQuota(self.spec.name, quota, limits.max_wait_s)
        self.http = httpx.Client(timeout=limits.timeout_s, transport=self.transport, follow_redirects=True)

    def close(self) -> None:
        self.http.close()

    def _send(self, req: PageRequest) -> httpx.Response:
        self.server.before_request(self.spec.name)
        if self.quota is not None:
            self.quota.take()
        self.budget.take()
        self.requests += 1
        params = req.params or None  # an empty dict would drop the query a next link carries
        response = self.http.get(req.url, params=params, headers=self.credentials.headers())
        response.read()
        return response

    def page(self, endpoint: Endpoint, req: PageRequest) -> Page | BadPage:
        """The page ``req`` asks for (see the module doc for what is retried and what is raised)."""
        where, limits = req.url.split("?")[0], self.spec.limits
        renewed, malformed, last = False, 0, ""
        for attempt in range(limits.max_retries + 1):
            if attempt:
                self.retries += 1
            try:
                response = self._send(req)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__} (the connection dropped or timed out)"
                self.sleep(backoff(limits, attempt))
                continue
            status = response.status_code
            if status == 401 and not renewed:
                renewed = True
                self.credentials.rejected()
                continue
            if status in (401, 403):
                raise ApiAuthError(
                    f"API {self.spec.name} refused the credentials for {where} (HTTP {status})",
                    hint="see runbook credentials-expired: renew or rotate the secret the description names",
                )
            if status in (429, 503):
                self.server.throttle(self.spec.name, response.headers, attempt)
                last = f"HTTP {status}"
                continue
            if status >= 500:
                last = f"HTTP {status}"
                self.sleep(backoff(limits, attempt))
                continue
            if status >= 400:
                raise SourceError(
                    f"API {self.spec.name} answered HTTP {status} for {where}",
                    hint="check the endpoint's path and parameters in the API description",
                )
            self.server.observe(response.headers)
            try:
                body = json.loads(response.content)
            except (ValueError, RecursionError) as exc:
                malformed += 1
                if malformed < MALFORMED_TRIES:
                    continue
                excerpt = response.content[:EXCERPT_CHARS].decode("utf-8", "replace")
                return BadPage(req, status, f"not JSON: {exc}", excerpt)
            links = {str(k): {str(a): str(b) for a, b in v.items()} for k, v in response.links.items()}
            return Page(req, records_at(endpoint.records, body), body, links)
        return self._gave_up(where, last)

    def _gave_up(self, where: str, last: str) -> Page:
        tries = self.spec.limits.max_retries + 1
        if last.startswith("HTTP 429"):
            raise ApiQuotaExhausted(
                f"API {self.spec.name} kept answering {last} for {where} ({tries} tries)",
                hint="the run stopped after its last committed page; the next run resumes there "
                "(runbook api-quota-exhausted)",
            )
        raise SourceUnreachableError(
            f"API {self.spec.name}: {where} failed {tries} times, last {last}",
            hint="the API is down or dropping connections; the next run resumes after the last committed page",
        )
