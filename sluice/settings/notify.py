"""The ``notify`` section: where notifications go and how hard delivery tries.

**Channels.** PagerDuty is configured by a routing key, Slack by a bot token
and a channel (threaded messages) or by an incoming-webhook URL (no threads).
Each secret comes from its environment variable or, when that is unset, from
the Prefect Secret block its ``*_SECRET_BLOCK`` setting names:

==========================  ======================================  =====================================
secret                      environment variable                    Secret block name setting
==========================  ======================================  =====================================
PagerDuty routing key       ``SLUICE_PAGERDUTY_ROUTING_KEY``        ``SLUICE_PAGERDUTY_SECRET_BLOCK``
Slack bot token             ``SLUICE_SLACK_BOT_TOKEN``              ``SLUICE_SLACK_SECRET_BLOCK``
Slack incoming-webhook URL  ``SLUICE_SLACK_WEBHOOK_URL``            ``SLUICE_SLACK_WEBHOOK_SECRET_BLOCK``
==========================  ======================================  =====================================

Secrets are held as :class:`~pydantic.SecretStr`, so they print as ``**********``.
``SLUICE_PAGERDUTY_EVENTS_URL`` and ``SLUICE_SLACK_API_URL`` point the clients
elsewhere (a regional endpoint, a proxy, a local server in tests); the
PagerDuty client only accepts ``https://`` and trusts the CA bundle named by
``SSL_CERT_FILE`` when that is set. ``SLUICE_RUNBOOK_BASE_URL`` turns a
runbook id into a link (``<base>/<id>.md``).

**Delivery.** One attempt at a notification makes up to ``notify_attempts``
requests, waiting ``notify_backoff_seconds`` × 2ⁿ (at most
``notify_backoff_max_seconds``) between them, or what ``Retry-After`` asks
for. A ``Retry-After`` longer than ``notify_max_wait_seconds`` is not waited
out in the process: the notification is rescheduled for then. A notification
still undelivered after an attempt waits ``notify_retry_seconds`` × 2ⁿ (at
most ``notify_retry_max_seconds``) before a deliverer picks it up again.

**Who delivers, and when** (see :mod:`ops.notify.background`). The process
that changed an incident makes one bounded attempt after its commit: one
request per due notification, each with ``notify_attempt_timeout`` seconds
for connecting and for reading, no retries and no waits, and no new request
once ``notify_attempt_budget`` seconds have passed. Whatever is left is
delivered by a background deliverer (``notify_background``, on by default):
a detached process, at most one per store and host, that keeps going with
the full retry policy, polling at least every ``notify_poll_seconds``, until
the outbox is empty or ``notify_background_seconds`` have passed. Its lock
and log live in ``notify_run_dir`` (default: ``<tmp>/sluice-notify-<uid>``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pydantic import Field, SecretStr

from sluice.settings.sources import PREFIX, Section

PAGERDUTY = "pagerduty"
SLACK = "slack"
CHANNELS = (PAGERDUTY, SLACK)


class NotifySettings(Section):
    """Notification channels (PagerDuty, Slack) and delivery policy, read by :mod:`ops.notify`."""

    env_prefix = PREFIX
    title = "Notifications"

    pagerduty_routing_key: SecretStr | None = Field(
        default=None, description=("PagerDuty Events API v2 routing key. Never logged or printed.")
    )
    pagerduty_secret_block: str | None = Field(
        default=None,
        description=(
            "Name of a Prefect Secret block holding the routing key, read when `SLUICE_PAGERDUTY_ROUTING_KEY` is unset."
        ),
    )
    pagerduty_events_url: str = Field(
        default="https://events.pagerduty.com",
        description=(
            "PagerDuty Events API endpoint (a regional endpoint or a proxy); `https://` only. `SSL_CERT_FILE` names "
            "extra CAs."
        ),
    )

    slack_bot_token: SecretStr | None = Field(
        default=None,
        description=(
            "Slack bot token (`xoxb-…`); messages about one incident thread under its first. Needs "
            "`SLUICE_SLACK_CHANNEL`."
        ),
    )
    slack_secret_block: str | None = Field(
        default=None,
        description=(
            "Name of a Prefect Secret block holding the bot token, read when `SLUICE_SLACK_BOT_TOKEN` is unset."
        ),
    )
    slack_channel: str | None = Field(default=None, description="The Slack channel the bot posts to.")
    slack_webhook_url: SecretStr | None = Field(
        default=None, description=("A Slack incoming-webhook URL, instead of a bot (no threads).")
    )
    slack_webhook_secret_block: str | None = Field(
        default=None,
        description=(
            "Name of a Prefect Secret block holding the webhook URL, read when `SLUICE_SLACK_WEBHOOK_URL` is unset."
        ),
    )
    slack_api_url: str = Field(
        default="https://slack.com/api/", description=("Slack Web API base URL (a proxy, or a local server in tests).")
    )

    runbook_base_url: str | None = Field(
        default=None,
        description=(
            "Where runbooks are browsed: notifications and Prefect artifacts link a runbook as `<base>/<id>.md`; "
            "unset, notifications name it and artifacts link its file (`file://`)."
        ),
    )

    notify_attempts: int = Field(
        default=4, ge=1, le=20, description=("Requests one delivery attempt makes before it gives up for now.")
    )
    notify_backoff_seconds: float = Field(
        default=1.0,
        ge=0,
        description=(
            "First wait between two requests of an attempt; doubles each time (or what `Retry-After` asks for)."
        ),
    )
    notify_backoff_max_seconds: float = Field(
        default=30.0, ge=0, description=("Longest wait between two requests of an attempt.")
    )
    notify_max_wait_seconds: float = Field(
        default=60.0,
        ge=0,
        description=("A `Retry-After` longer than this is not waited out; the notification is rescheduled for then."),
    )
    notify_retry_seconds: float = Field(
        default=60.0,
        ge=0,
        description=(
            "After a failed attempt, the notification waits this long (doubling each time) before the next flush "
            "sends it."
        ),
    )
    notify_retry_max_seconds: float = Field(
        default=600.0, ge=0, description=("Longest wait of an undelivered notification between two attempts.")
    )
    notify_timeout_seconds: float = Field(
        default=10.0, gt=0, description=("Seconds before one request to PagerDuty or Slack gives up.")
    )
    notify_attempt_timeout: float = Field(
        default=0.5,
        gt=0,
        le=5,
        description=(
            "Seconds one request of the bounded attempt made right after an incident change may take; what it does "
            "not deliver goes to the background deliverer."
        ),
    )
    notify_attempt_budget: float = Field(
        default=0.5,
        gt=0,
        le=10,
        description=(
            "Seconds after which the bounded attempt claims no further notification: an incident change never waits "
            "longer than this plus one request."
        ),
    )
    notify_background: bool = Field(
        default=True,
        description=(
            "Start a detached background deliverer (at most one per store and host) for what the bounded attempt "
            "left; off, it waits for the next change, `ops notify flush` or `ops notify serve`."
        ),
    )
    notify_background_seconds: float = Field(
        default=21_600.0,
        gt=0,
        description=("Seconds a detached deliverer keeps retrying before it gives up (the outbox keeps what is left)."),
    )
    notify_poll_seconds: float = Field(
        default=2.0,
        gt=0,
        le=300,
        description=("Seconds between two looks at the outbox by a background or `ops notify serve` deliverer."),
    )
    notify_run_dir: Path | None = Field(
        default=None, description=("Folder of the background deliverers' lock files and logs.")
    )

    def pagerduty_configured(self) -> bool:
        return bool(self.pagerduty_routing_key or self.pagerduty_secret_block)

    def slack_bot_configured(self) -> bool:
        return bool((self.slack_bot_token or self.slack_secret_block) and self.slack_channel)

    def slack_webhook_configured(self) -> bool:
        return bool(self.slack_webhook_url or self.slack_webhook_secret_block)

    def problems(self) -> list[str]:
        """Settings that switch a channel off although they look meant to switch it on."""
        if (self.slack_bot_token or self.slack_secret_block) and not self.slack_channel:
            return ["a Slack bot token is set but SLUICE_SLACK_CHANNEL is not: the bot posts nowhere"]
        return []

    def channels(self) -> tuple[str, ...]:
        """The channels with credentials configured (secrets are not loaded here)."""
        slack = self.slack_bot_configured() or self.slack_webhook_configured()
        return tuple(name for name, on in ((PAGERDUTY, self.pagerduty_configured()), (SLACK, slack)) if on)

    def runbook_url(self, runbook_id: str | None) -> str | None:
        if not runbook_id or not self.runbook_base_url:
            return None
        return f"{self.runbook_base_url.rstrip('/')}/{runbook_id}.md"

    def run_dir(self) -> Path:
        """Where background deliverers keep their lock and log files."""
        uid = os.getuid() if hasattr(os, "getuid") else 0
        return self.notify_run_dir or Path(tempfile.gettempdir()) / f"sluice-notify-{uid}"
