"""Where notifications go and how hard delivery tries, from ``SLUICE_*`` variables.

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

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from ops.errors import NotifyError

PAGERDUTY = "pagerduty"
SLACK = "slack"
CHANNELS = (PAGERDUTY, SLACK)


class NotifySettings(BaseSettings):
    """Notification channels and delivery policy. Every field maps to ``SLUICE_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="SLUICE_", extra="ignore")

    pagerduty_routing_key: SecretStr | None = None
    pagerduty_secret_block: str | None = None
    pagerduty_events_url: str = "https://events.pagerduty.com"

    slack_bot_token: SecretStr | None = None
    slack_secret_block: str | None = None
    slack_channel: str | None = None
    slack_webhook_url: SecretStr | None = None
    slack_webhook_secret_block: str | None = None
    slack_api_url: str = "https://slack.com/api/"

    runbook_base_url: str | None = None

    notify_attempts: int = Field(4, ge=1, le=20)
    notify_backoff_seconds: float = Field(1.0, ge=0)
    notify_backoff_max_seconds: float = Field(30.0, ge=0)
    notify_max_wait_seconds: float = Field(60.0, ge=0)
    notify_retry_seconds: float = Field(60.0, ge=0)
    notify_retry_max_seconds: float = Field(600.0, ge=0)
    notify_timeout_seconds: float = Field(10.0, gt=0)
    notify_attempt_timeout: float = Field(0.5, gt=0, le=5)
    notify_attempt_budget: float = Field(0.5, gt=0, le=10)
    notify_background: bool = True
    notify_background_seconds: float = Field(21_600.0, gt=0)
    notify_poll_seconds: float = Field(2.0, gt=0, le=300)
    notify_run_dir: Path | None = None

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

    @classmethod
    def load(cls) -> NotifySettings:
        """The settings from the environment, or a ``NotifyError`` naming the variable that is wrong."""
        try:
            return cls()
        except ValidationError as exc:
            first = exc.errors()[0]
            name = f"SLUICE_{str(first['loc'][0]).upper()}" if first.get("loc") else "a SLUICE_* variable"
            raise NotifyError(f"{name} is not valid: {first['msg']}",
                              hint=f"fix or unset {name}; the defaults need no change") from None

    def run_dir(self) -> Path:
        """Where background deliverers keep their lock and log files."""
        uid = os.getuid() if hasattr(os, "getuid") else 0
        return self.notify_run_dir or Path(tempfile.gettempdir()) / f"sluice-notify-{uid}"
