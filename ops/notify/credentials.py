"""Loading the secrets a channel needs, at send time, and keeping them out of text.

An environment variable wins over a Prefect Secret block. Blocks are loaded
only when a notification is about to be sent, never while one is queued, so
queueing needs neither the Prefect API nor the secret. Secrets stay
:class:`~pydantic.SecretStr` until the moment a client is built, and
:class:`Redactor` removes them from any text that might be stored or logged
(an error from a third-party client, say).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import SecretStr

from ops.errors import NotifyError
from sluice.settings import NotifySettings

MASK = "***"


def load_secret_block(name: str) -> SecretStr:
    """The string value of the Prefect Secret block ``name``."""
    try:
        from prefect.blocks.system import Secret

        block = Secret.load(name)  # typed "block or coroutine": Prefect dispatches on the caller being async
        if not isinstance(block, Secret):
            raise TypeError("Secret.load returned an awaitable: called from async code")
        value = block.get()
    except Exception as exc:  # noqa: BLE001 - the Prefect API is down, the block is missing, ...
        raise NotifyError(
            f"could not load the Prefect Secret block {name!r} ({type(exc).__name__})",
            hint="check PREFECT_API_URL and `prefect block ls`",
        ) from None
    if not isinstance(value, str) or not value:
        raise NotifyError(f"the Prefect Secret block {name!r} does not hold a non-empty string")
    return SecretStr(value)


def _resolve(value: SecretStr | None, block: str | None) -> SecretStr | None:
    if value is not None and value.get_secret_value():
        return value
    return load_secret_block(block) if block else None


@dataclass(frozen=True)
class PagerDutyCredentials:
    routing_key: SecretStr


@dataclass(frozen=True)
class SlackCredentials:
    """A bot token with its channel (preferred: it can thread), or an incoming-webhook URL."""

    bot_token: SecretStr | None = None
    channel: str | None = None
    webhook_url: SecretStr | None = None


def pagerduty_credentials(settings: NotifySettings) -> PagerDutyCredentials:
    key = _resolve(settings.pagerduty_routing_key, settings.pagerduty_secret_block)
    if key is None:
        raise NotifyError(
            "PagerDuty is not configured", hint="set SLUICE_PAGERDUTY_ROUTING_KEY or SLUICE_PAGERDUTY_SECRET_BLOCK"
        )
    return PagerDutyCredentials(key)


def slack_credentials(settings: NotifySettings) -> SlackCredentials:
    if settings.slack_bot_configured():
        token = _resolve(settings.slack_bot_token, settings.slack_secret_block)
        return SlackCredentials(bot_token=token, channel=settings.slack_channel)
    if settings.slack_webhook_configured():
        return SlackCredentials(webhook_url=_resolve(settings.slack_webhook_url, settings.slack_webhook_secret_block))
    raise NotifyError(
        "Slack is not configured",
        hint="set SLUICE_SLACK_BOT_TOKEN (or SLUICE_SLACK_SECRET_BLOCK) with SLUICE_SLACK_CHANNEL, "
        "or SLUICE_SLACK_WEBHOOK_URL (or SLUICE_SLACK_WEBHOOK_SECRET_BLOCK)",
    )


@dataclass
class Redactor:
    """Replaces every known secret in a text with ``***``."""

    secrets: set[str] = field(default_factory=set)

    def add(self, *values: SecretStr | str | None) -> None:
        for value in values:
            text = value.get_secret_value() if isinstance(value, SecretStr) else value
            if text and len(text) >= 4:
                self.secrets.add(text)

    def __call__(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text

    @classmethod
    def from_settings(cls, settings: NotifySettings) -> Redactor:
        """A redactor that knows the secrets set in the environment (block values are added when loaded)."""
        redactor = cls()
        redactor.add(settings.pagerduty_routing_key, settings.slack_bot_token, settings.slack_webhook_url)
        return redactor
