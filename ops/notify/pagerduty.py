"""Sending queued events to PagerDuty through the official ``pagerduty`` package.

:class:`PagerDutyChannel` wraps ``pagerduty.EventsApiV2Client`` (an
``httpx2.Client``). That client retries by itself — 429 without limit and
without reading ``Retry-After``, 5xx and network errors with sleeps of
several seconds — which would hold a flush for minutes while PagerDuty is
down. Here the client makes exactly one request per call: its
``postprocess`` hook raises :class:`~ops.notify.retry.SendError` for any
unsuccessful response before its own retry logic sees it, and
``max_network_attempts = 0`` turns a network error into an immediate error;
its per-status ``retry`` table is emptied as well. Every phase of the one
request (connecting with the TLS handshake, writing, reading) is bounded by
``notify_timeout_seconds``, or ``notify_attempt_timeout`` in a bounded pass.
Retrying, with ``Retry-After`` honoured, is :mod:`ops.notify.retry`'s job.

The routing key is added to the body by the client at send time; it never
reaches the stored payload, and error texts carry only the status and the
server's message (scrubbed of secrets by the caller).

TLS: the client verifies certificates against the system store, or against
the bundle named by ``SSL_CERT_FILE`` (httpx2 honours it).
"""

from __future__ import annotations

from typing import Any

import pagerduty
from httpx2 import Response

from ops.notify.credentials import PagerDutyCredentials
from ops.notify.retry import SendError, http_error
from sluice.settings import PAGERDUTY, NotifySettings


class _SingleRequestEventsClient(pagerduty.EventsApiV2Client):
    """An Events API v2 client whose unsuccessful responses raise at once, leaving retries to the caller."""

    def postprocess(self, response: Response) -> None:
        if not response.is_success:
            detail = " ".join(response.text.split())[:200]
            raise http_error("PagerDuty", response.status_code, response.headers.get("Retry-After"), detail)


class PagerDutyChannel:
    """Events API v2: ``trigger``, ``acknowledge`` and ``resolve`` by dedup key."""

    name = PAGERDUTY
    threads = False

    def __init__(self, credentials: PagerDutyCredentials, settings: NotifySettings) -> None:
        try:
            self._client = _SingleRequestEventsClient(
                credentials.routing_key.get_secret_value(), base_url=settings.pagerduty_events_url
            )
        except pagerduty.UrlError:
            raise SendError(
                f"SLUICE_PAGERDUTY_EVENTS_URL must be an https:// URL, not {settings.pagerduty_events_url!r}",
                retry_now=False,
            ) from None
        # httpx2: each of connect (with TLS), write, read; a float, though the client's attribute says int
        self._client.timeout = settings.notify_timeout_seconds  # type: ignore[assignment]
        self._client.max_network_attempts = 0
        self._client.retry = {}  # postprocess raises first anyway; no status may loop inside the client

    def send(self, event: dict[str, Any], thread_ts: str | None = None) -> str:
        """Send one stored event; returns the dedup key PagerDuty acknowledged."""
        action, key = event["event_action"], event["dedup_key"]
        try:
            if action == "trigger":
                body = event["payload"]
                return self._client.trigger(
                    body["summary"],
                    body["source"],
                    dedup_key=key,
                    severity=body["severity"],
                    payload=body,
                    links=event.get("links"),
                )
            if action == "acknowledge":
                return self._client.acknowledge(key)
            if action == "resolve":
                return self._client.resolve(key)
        except pagerduty.Error as exc:
            cause = exc.__cause__
            reason = f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)
            raise SendError(f"PagerDuty unreachable or answered unexpectedly ({reason})") from None
        raise SendError(f"{action!r} is not a PagerDuty event action", permanent=True)

    def close(self) -> None:
        self._client.close()
