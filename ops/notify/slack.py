"""Posting queued messages to Slack with ``slack_sdk``.

With a bot token and a channel, :class:`SlackChannel` posts through
``WebClient.chat_postMessage`` and returns the message's ``ts``; the
delivery loop passes the ``ts`` of an incident's first message as
``thread_ts``, so everything after it lands in that thread. With an incoming
webhook (``WebhookClient``) there is nothing to thread under: a webhook
answers ``ok`` and no ``ts``, and cannot post into a thread, so every message
is posted to the webhook's channel on its own.

The SDK's own retry handlers are switched off; :mod:`ops.notify.retry`
retries 429 and 5xx with ``Retry-After`` honoured. The webhook client logs
its URL — a secret — at DEBUG level, so it gets a logger that does not.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from ops.notify.credentials import SlackCredentials
from ops.notify.retry import SendError, http_error
from sluice.settings import SLACK, NotifySettings

TRANSIENT_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited", "rate_limited"}
)
_webhook_logger = logging.getLogger("slack_sdk.webhook.without_url")
_webhook_logger.setLevel(logging.INFO)  # slack_sdk logs the webhook URL at DEBUG when its logger allows it


def _header(headers: dict[str, Any] | None, name: str) -> str | None:
    """A response header's value (urllib gives a list per name, the webhook client a string)."""
    for key, value in dict(headers or {}).items():
        if key.lower() == name.lower():
            found: str = value[0] if isinstance(value, list) else value
            return found
    return None


class SlackChannel:
    """A bot posting to one channel (threads), or an incoming webhook (no threads)."""

    name = SLACK

    def __init__(self, credentials: SlackCredentials, settings: NotifySettings) -> None:
        timeout = settings.notify_timeout_seconds  # urllib takes a float, whatever the SDK's int hint says
        self._channel = credentials.channel
        self._web: WebClient | None = None
        self._hook: WebhookClient | None = None
        if credentials.bot_token is not None:
            base = settings.slack_api_url.rstrip("/") + "/"
            self._web = WebClient(
                token=credentials.bot_token.get_secret_value(),
                base_url=base,
                retry_handlers=[],
                timeout=timeout,  # type: ignore[arg-type]
            )
        elif credentials.webhook_url is not None:
            self._hook = WebhookClient(
                credentials.webhook_url.get_secret_value(),
                retry_handlers=[],
                logger=_webhook_logger,
                timeout=timeout,  # type: ignore[arg-type]
            )

    @property
    def threads(self) -> bool:
        """Whether replies can go into a thread (a bot can, a webhook cannot)."""
        return self._web is not None

    def send(self, message: dict[str, Any], thread_ts: str | None = None) -> str | None:
        """Post one stored message; returns its ``ts`` (bot) or ``None`` (webhook)."""
        try:
            if self._web is not None:
                return _post(self._web, self._channel or "", message, thread_ts)
            if self._hook is not None:
                _post_webhook(self._hook, message)
                return None
        except (URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SendError(f"Slack unreachable ({type(exc).__name__}: {reason})") from None
        raise SendError("Slack is not configured", retry_now=False)

    def close(self) -> None:
        """Nothing to release: the SDK opens a connection per request."""


def _post(client: WebClient, channel: str, message: dict[str, Any], thread_ts: str | None) -> str:
    try:
        response = client.chat_postMessage(
            channel=channel, text=message["text"], blocks=message["blocks"], thread_ts=thread_ts
        )
    except SlackApiError as exc:
        status, error = exc.response.status_code, exc.response.get("error", "")
        if status != 200:
            raise http_error("Slack", status, _header(exc.response.headers, "Retry-After"), str(error)) from None
        raise SendError(f"Slack refused the message: {error}", permanent=error not in TRANSIENT_ERRORS) from None
    return str(response["ts"])


def _post_webhook(client: WebhookClient, message: dict[str, Any]) -> None:
    response = client.send(text=message["text"], blocks=message["blocks"])
    if response.status_code != 200:
        raise http_error(
            "Slack webhook",
            response.status_code,
            _header(response.headers, "Retry-After"),
            " ".join((response.body or "").split())[:200],
        )
