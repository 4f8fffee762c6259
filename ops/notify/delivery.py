"""Sending what the outbox holds: :func:`deliver_pending`, called after commit.

``ops notify flush`` calls it, and so should whatever just queued
notifications (``ops alerts check``, the flow-failure hook), once its
transaction has committed. Each notification is claimed, sent and settled in
transactions of its own, so a slow or unreachable PagerDuty only delays the
notifications themselves; an error never escapes for a notification that
could not be sent: it stays in the outbox for the next call.

**Order.** Notifications of one incident on one channel go out in the order
they were queued, and one that is not delivered holds back the later ones
(an acknowledge must not overtake its trigger; a Slack reply needs its
thread's first message). A ``failed`` notification holds nothing back.

**A channel that is down** — a notification still undelivered after all its
retries — is left alone for the rest of the flush: its other notifications
wait for the next one, so an outage costs one notification's retries per
flush, not every notification's. Other channels carry on.

**Threads.** A Slack message goes into the thread of the incident's first
Slack message that has a ``ts`` (a bot posted it); without one it is posted
on its own and becomes the thread's first message.

**Bounded passes.** ``bounded=True`` is the pass the process that changed an
incident makes right after its commit: one request per notification with
``notify_attempt_timeout``, no retries and no waits, no new claim once
``notify_attempt_budget`` has passed, and a short claim lease. What it could
not send stays due (or is due when ``Retry-After`` says) for the background
deliverer (:mod:`ops.notify.background`), which makes full passes.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol

from sqlalchemy.engine import Engine

from ops.errors import NotifyError
from ops.incidents.models import Notification, utcnow
from ops.notify.credentials import Redactor, pagerduty_credentials, slack_credentials
from ops.notify.outbox import (
    FAILED,
    PENDING,
    SENDING,
    SENT,
    claim,
    mark_sent,
    mark_unsent,
    open_rows,
    thread_root,
)
from ops.notify.retry import AttemptOutcome, SendError, send_with_retries
from sluice.settings import PAGERDUTY, SLACK, NotifySettings, get_settings

logger = logging.getLogger("ops.notify")


class Channel(Protocol):
    name: str

    @property
    def threads(self) -> bool: ...

    def send(self, payload: dict[str, Any], thread_ts: str | None = None) -> str | None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Outcome:
    """What one flush did with one notification."""

    id: int
    incident: str
    channel: str
    action: str
    status: str
    attempts: int
    requests: int
    external_ref: str | None = None
    error: str | None = None
    next_attempt_at: datetime | None = None


@dataclass(frozen=True)
class DeliveryReport:
    """The notifications one flush tried, and how many it left waiting (not due, held back, channel down)."""

    sent: int = 0
    pending: int = 0
    failed: int = 0
    waiting: int = 0
    notifications: list[Outcome] = field(default_factory=list)

    @property
    def undelivered(self) -> int:
        return self.pending + self.failed + self.waiting


CLIENT_MODULES = {PAGERDUTY: "ops.notify.pagerduty", SLACK: "ops.notify.slack"}


class _Channels:
    """Channels built on first use within one flush; a channel that cannot be built fails each of its rows."""

    def __init__(self, settings: NotifySettings, redact: Redactor) -> None:
        self._settings, self._redact = settings, redact
        self._built: dict[str, Channel | SendError] = {}

    @staticmethod
    def load(name: str) -> None:
        """Import the channel's client library (no network, no secret); a failure shows when it is built."""
        if name in CLIENT_MODULES:
            with contextlib.suppress(ImportError):
                importlib.import_module(CLIENT_MODULES[name])

    def get(self, name: str) -> Channel:
        if name not in self._built:
            try:
                self._built[name] = self._build(name)
            except NotifyError as exc:
                text = f"{exc.args[0]} ({exc.hint})" if exc.hint else str(exc.args[0])
                self._built[name] = SendError(self._redact(text), retry_now=False)
            except SendError as exc:
                self._built[name] = exc
            except Exception as exc:  # noqa: BLE001 - a client that cannot be set up must not end the flush with rows claimed
                text = f"could not set up the {name} client ({type(exc).__name__}: {exc})"
                self._built[name] = SendError(self._redact(text), retry_now=False)
        built = self._built[name]
        if isinstance(built, SendError):
            raise built
        return built

    def _build(self, name: str) -> Channel:
        if name == PAGERDUTY:
            from ops.notify.pagerduty import PagerDutyChannel

            pd = pagerduty_credentials(self._settings)
            self._redact.add(pd.routing_key)
            return PagerDutyChannel(pd, self._settings)
        if name == SLACK:
            from ops.notify.slack import SlackChannel

            slack = slack_credentials(self._settings)
            self._redact.add(slack.bot_token, slack.webhook_url)
            return SlackChannel(slack, self._settings)
        raise SendError(f"unknown channel {name!r}", retry_now=False)

    def close(self) -> None:
        for built in self._built.values():
            if not isinstance(built, SendError):
                built.close()


BOUNDED_LEASE = timedelta(seconds=30)


def bounded_policy(settings: NotifySettings) -> NotifySettings:
    """The delivery policy of a bounded pass: one request with the short timeout, never a wait."""
    return settings.model_copy(
        update={
            "notify_attempts": 1,
            "notify_max_wait_seconds": 0.0,
            "notify_timeout_seconds": settings.notify_attempt_timeout,
        }
    )


def _lease(settings: NotifySettings) -> timedelta:
    """Longer than one attempt can take, so a live deliverer never loses its claim."""
    longest_wait = max(settings.notify_max_wait_seconds, settings.notify_backoff_max_seconds)
    return timedelta(seconds=settings.notify_attempts * (settings.notify_timeout_seconds + longest_wait) + 60)


def _retry_delay(settings: NotifySettings, attempts: int, retry_after: float | None) -> timedelta:
    backoff = min(settings.notify_retry_seconds * 2 ** max(attempts - 1, 0), settings.notify_retry_max_seconds)
    return timedelta(seconds=max(backoff, retry_after or 0.0))


def _attempt(
    row: Notification,
    channels: _Channels,
    engine: Engine,
    settings: NotifySettings,
    redact: Redactor,
    sleep: Callable[[float], object],
) -> AttemptOutcome:
    label = f"{row.channel} {row.action} for INC-{row.incident_id} (notification {row.id})"
    try:
        channel = channels.get(row.channel)
    except SendError as exc:
        logger.warning("%s not delivered: %s", label, exc.message)
        return AttemptOutcome(sent=False, requests=0, error=exc.message)
    payload = json.loads(row.payload)
    thread_ts = thread_root(engine, row.incident_id) if channel.threads else None

    def send() -> str | None:
        try:
            return channel.send(payload, thread_ts)
        except SendError:
            raise
        except Exception as exc:  # noqa: BLE001 - a client bug or an answer of an unexpected shape: keep the row, say what
            raise SendError(f"unexpected {type(exc).__name__}: {exc}", retry_now=False) from None

    return send_with_retries(send, settings, label=label, sleep=sleep, redact=redact)


def _settle(
    engine: Engine, row: Notification, outcome: AttemptOutcome, now: datetime, settings: NotifySettings, bounded: bool
) -> Outcome:
    settled = partial(
        Outcome,
        id=row.id,
        incident=f"INC-{row.incident_id}",
        channel=row.channel,
        action=row.action,
        attempts=row.attempts,
        requests=outcome.requests,
    )
    if outcome.sent:
        if not mark_sent(engine, row, outcome.external_ref, utcnow()):
            logger.warning("notification %d was sent, but its claim had expired and was taken over", row.id)
        return settled(status=SENT, external_ref=outcome.external_ref)
    if bounded:  # the background deliverer takes over at once, or when Retry-After says
        retry_at = now + timedelta(seconds=outcome.retry_after or 0.0)
    else:
        retry_at = now + _retry_delay(settings, row.attempts, outcome.retry_after)
    error = outcome.error or "not delivered"
    mark_unsent(engine, row, error, permanent=outcome.permanent, retry_at=retry_at, at=utcnow())
    status = FAILED if outcome.permanent else PENDING
    return settled(status=status, error=error, next_attempt_at=None if outcome.permanent else retry_at)


def _due(row: Notification, now: datetime, due_only: bool) -> bool:
    if row.status == SENDING:
        return row.next_attempt_at <= now  # the lease of a deliverer that died has run out
    return not due_only or row.next_attempt_at <= now


def _take(
    engine: Engine,
    candidate: Notification,
    channels: _Channels,
    now: datetime,
    lease: timedelta,
    due_only: bool,
    deadline: float,
) -> Notification | None:
    """Claim ``candidate`` if there is time left. Its channel's client library is imported first, so a slow
    first import spends a bounded pass's time before a claim, never while holding one."""
    channels.load(candidate.channel)
    if time.monotonic() >= deadline:
        return None
    return claim(engine, candidate.id, now, lease, due_only=due_only)


def deliver_pending(
    engine: Engine,
    now: datetime | None = None,
    *,
    settings: NotifySettings | None = None,
    due_only: bool = True,
    limit: int = 500,
    bounded: bool = False,
    deadline: float | None = None,
    sleep: Callable[[float], object] = time.sleep,
) -> DeliveryReport:
    """Send every due notification in the outbox, each exactly once, and report what happened.

    ``now`` (default: the current time) decides what is due and when a
    failed notification is tried next; ``due_only=False`` also sends pending
    notifications whose next attempt is still ahead (``ops notify flush``
    does, since an operator asked). ``bounded=True`` makes the short pass of
    the module docstring; it claims nothing after ``deadline`` (a
    ``time.monotonic()`` value, default: ``notify_attempt_budget`` from now).
    ``sleep`` waits between retries.
    Call it after the transaction that queued notifications has committed,
    never inside one.
    """
    now = now or utcnow()
    settings = settings or get_settings().notify
    policy = bounded_policy(settings) if bounded else settings
    lease = BOUNDED_LEASE if bounded else _lease(settings)
    if deadline is None:
        deadline = time.monotonic() + settings.notify_attempt_budget if bounded else math.inf
    redact = Redactor.from_settings(settings)
    channels = _Channels(policy, redact)
    held: set[tuple[int, str]] = set()
    down: set[str] = set()
    outcomes: list[Outcome] = []
    waiting = 0
    try:
        for candidate in open_rows(engine, limit):
            group = (candidate.incident_id, candidate.channel)
            row = None
            if group not in held and candidate.channel not in down and _due(candidate, now, due_only):
                row = _take(engine, candidate, channels, now, lease, due_only, deadline)
            if row is None:  # not due, held back, claimed by another deliverer, or out of time
                held.add(group)
                waiting += 1
                continue
            attempt = _attempt(row, channels, engine, policy, redact, sleep)
            outcome = _settle(engine, row, attempt, now, settings, bounded)
            outcomes.append(outcome)
            if outcome.status == PENDING:  # the channel is down or throttling: leave it alone until the next pass
                down.add(row.channel)
    finally:
        channels.close()
    count = {s: sum(o.status == s for o in outcomes) for s in (SENT, PENDING, FAILED)}
    return DeliveryReport(
        sent=count[SENT], pending=count[PENDING], failed=count[FAILED], waiting=waiting, notifications=outcomes
    )
