"""One delivery attempt: a few requests with exponential backoff that honour ``Retry-After``.

A channel raises :class:`SendError` saying whether a failure is worth
retrying (HTTP 429, 5xx, a network error) or not (a rejected event, a bad
token), and how long the server asked us to wait. :func:`send_with_retries`
repeats the request while that makes sense and returns an
:class:`AttemptOutcome`; it never raises for a failed delivery, because the
notification stays in the outbox and the next flush tries again.
"""

from __future__ import annotations

import email.utils
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from sluice.settings import NotifySettings

logger = logging.getLogger("ops.notify")
RETRYABLE_STATUS = frozenset({408, 425, 429}) | frozenset(range(500, 600))
MAX_RETRY_AFTER = 86_400.0


class SendError(Exception):
    """A request that did not deliver.

    ``permanent``: retrying cannot help (a 4xx other than 408/425/429).
    ``retry_after``: seconds the server asked for (``Retry-After``), if any.
    ``retry_now``: whether a retry within this attempt can help at all (not
    for missing configuration, say, which only an operator can fix).
    """

    def __init__(
        self, message: str, *, permanent: bool = False, retry_after: float | None = None, retry_now: bool = True
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after
        self.retry_now = retry_now and not permanent


def http_error(service: str, status: int, retry_after: str | None, detail: str = "") -> SendError:
    """A ``SendError`` for an HTTP status: retryable for 408/425/429/5xx, permanent otherwise."""
    text = f"{service} answered HTTP {status}" + (f": {detail}" if detail else "")
    return SendError(text, permanent=status not in RETRYABLE_STATUS, retry_after=parse_retry_after(retry_after))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (seconds or an HTTP date), at most a day; ``None`` if absent or bad."""
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


@dataclass(frozen=True)
class AttemptOutcome:
    """How one delivery attempt ended: ``sent`` with the channel's reference, or not, and why."""

    sent: bool
    requests: int
    external_ref: str | None = None
    error: str | None = None
    permanent: bool = False
    retry_after: float | None = None


def backoff(settings: NotifySettings, retry: int) -> float:
    """The wait before in-process retry number ``retry`` (1, 2, ...)."""
    return min(settings.notify_backoff_seconds * 2.0 ** (retry - 1), settings.notify_backoff_max_seconds)


def send_with_retries(
    send: Callable[[], str | None],
    settings: NotifySettings,
    *,
    label: str,
    sleep: Callable[[float], object],
    redact: Callable[[str], str],
) -> AttemptOutcome:
    """Call ``send`` until it succeeds, fails for good, or ``notify_attempts`` requests were made.

    Waits ``Retry-After`` when the server gives one (unless it is longer than
    ``notify_max_wait_seconds``: then the attempt ends and the outcome carries
    it, so the notification is rescheduled for then), else an exponential
    backoff. ``label`` names the notification in log lines; ``redact`` scrubs
    secrets from error texts.
    """
    request = 0
    while True:
        request += 1
        try:
            return AttemptOutcome(sent=True, requests=request, external_ref=send())
        except SendError as exc:
            error = redact(exc.message)
            last = request >= settings.notify_attempts or not exc.retry_now
            too_long = exc.retry_after is not None and exc.retry_after > settings.notify_max_wait_seconds
            if last or too_long:
                logger.warning("%s not delivered: %s", label, error)
                return AttemptOutcome(
                    sent=False, requests=request, error=error, permanent=exc.permanent, retry_after=exc.retry_after
                )
            wait = exc.retry_after if exc.retry_after is not None else backoff(settings, request)
            logger.info(
                "%s: %s; retrying in %gs (request %d of %d)", label, error, wait, request, settings.notify_attempts
            )
            sleep(wait)
