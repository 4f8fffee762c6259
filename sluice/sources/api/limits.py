"""An API's request budget: a client-side rate, the server's own limits, and backoff with jitter.

:class:`RateBudget` spaces requests ``1 / requests_per_second`` apart, across
every endpoint of the API in the process. :class:`ServerLimits` reads what the
server says of its limits: ``Retry-After`` (seconds or an HTTP date) on a 429
or 503, and ``X-RateLimit-Remaining`` / ``X-RateLimit-Reset`` on any answer;
when none remain, the next request waits for the reset. A wait longer than
``max_wait_s`` is a quota exhausted for this run (:class:`ApiQuotaExhausted`):
the run stops after its last committed page and the next run resumes there.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from sluice.errors import ApiQuotaExhausted
from sluice.sources.api.spec import Limits

SECONDS = re.compile(r"^[0-9]+(\.[0-9]+)?$")
RESET_EPOCH = 10**9  # an X-RateLimit-Reset above this is a Unix time, below it a number of seconds


@dataclass
class RateBudget:
    """At most ``per_second`` requests a second, spaced evenly; :meth:`take` waits for the next slot."""

    per_second: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    waited_s: float = 0.0

    def __post_init__(self) -> None:
        self._next = 0.0
        self._lock = threading.Lock()

    def take(self) -> None:
        with self._lock:
            now = self.clock()
            at = max(now, self._next)
            self._next = at + 1.0 / self.per_second
        if at > now:
            self.waited_s += at - now
            self.sleep(at - now)


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """The seconds a ``Retry-After`` header asks to wait (``None``: absent or unreadable)."""
    if not value:
        return None
    text = value.strip()
    if SECONDS.match(text):
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    base = now if now is not None else time.time()
    return max(0.0, when.timestamp() - base)


def _number(headers: Mapping[str, str], *names: str) -> float | None:
    for name in names:
        raw = headers.get(name)
        if raw is not None:
            try:
                found = float(raw)
            except ValueError:
                return None
            return found if math.isfinite(found) and found >= 0 else None
    return None


@dataclass
class Quota:
    """What the server last said of its quota: requests remaining and when it resets (Unix time)."""

    remaining: float | None = None
    limit: float | None = None
    resets_at: float | None = None

    @property
    def used_fraction(self) -> float | None:
        if self.remaining is None or not self.limit:
            return None
        return max(0.0, 1.0 - self.remaining / self.limit)


@dataclass
class ServerLimits:
    """The server's limits as its answers state them, and the waits they impose."""

    limits: Limits
    sleep: Callable[[float], None] = time.sleep
    quota: Quota = field(default_factory=Quota)
    waited_s: float = 0.0
    throttled: int = 0  # 429 and 503 answers

    def observe(self, headers: Mapping[str, str]) -> None:
        """Note ``X-RateLimit-*`` of an answer."""
        remaining = _number(headers, "x-ratelimit-remaining", "ratelimit-remaining")
        if remaining is None:
            return
        reset = _number(headers, "x-ratelimit-reset", "ratelimit-reset")
        limit = _number(headers, "x-ratelimit-limit", "ratelimit-limit")
        now = time.time()
        at = None if reset is None else (reset if reset > RESET_EPOCH else now + reset)
        self.quota = Quota(remaining, limit if limit is not None else self.quota.limit, at)

    def before_request(self, api: str) -> None:
        """Wait for the quota's reset when none remains; fail when the reset is too far away."""
        if self.quota.remaining is None or self.quota.remaining > 0 or self.quota.resets_at is None:
            return
        self._wait(api, self.quota.resets_at - time.time(), "its quota is used up")
        self.quota = Quota(None, self.quota.limit, None)

    def throttle(self, api: str, headers: Mapping[str, str], attempt: int) -> None:
        """A 429 or 503: wait what ``Retry-After`` says, else back off with jitter."""
        self.throttled += 1
        self.observe(headers)
        asked = retry_after(headers.get("retry-after"))
        self._wait(api, asked if asked is not None else backoff(self.limits, attempt), "it is throttling")

    def _wait(self, api: str, seconds: float, why: str) -> None:
        if seconds > self.limits.max_wait_s:
            at = min(time.time() + seconds, datetime(9999, 1, 1, tzinfo=timezone.utc).timestamp())
            until = datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
            raise ApiQuotaExhausted(
                f"API {api}: {why} until {until}, longer than the run may wait ({self.limits.max_wait_s:g} s)",
                hint="the run stopped after its last committed page; the next run resumes there (runbook "
                "api-quota-exhausted)",
            )
        if seconds > 0:
            self.waited_s += seconds
            self.sleep(seconds)


def backoff(limits: Limits, attempt: int) -> float:
    """Full jitter: a random wait up to ``backoff_s * 2**attempt``, capped at ``backoff_max_s``."""
    return random.uniform(0, min(limits.backoff_max_s, limits.backoff_s * 2**attempt))
