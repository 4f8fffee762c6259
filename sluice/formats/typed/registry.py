"""The schema registry as Sluice asks it: schemas by id, once per batch, and a health check for ``ops doctor``.

Requests go through confluent-kafka's ``SchemaRegistryClient``, which keeps
every schema it fetched. An id the registry does not know is remembered for
the batch only (a schema registered a moment later is found by the next
batch), and a batch looks up at most :data:`MAX_UNKNOWN_LOOKUPS` unknown
ids, the most frequent first: a batch of random bytes costs a bounded number
of requests.

A registry that cannot be reached, that answers 5xx after the retries, or
that refuses the credentials fails the whole batch with one error; it never
turns into a quarantine of every message.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import httpx2
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from pydantic import SecretStr

from sluice.errors import ConfigError, SchemaRegistryUnavailable
from sluice.formats.typed.wire import MessageReason, Refused
from sluice.settings import RegistrySettings, get_settings

MAX_UNKNOWN_LOOKUPS = 32
_NOT_FOUND = 404
_REFUSED = (401, 403)


def value_subject(topic: str) -> str:
    """The subject of a topic's values under the default naming strategy (TopicNameStrategy)."""
    return f"{topic}-value"


def shown_url(url: str) -> str:
    """``url`` without any ``user:password@`` part, for messages."""
    parts = urlsplit(url.split(",", maxsplit=1)[0].strip())
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}" if parts.scheme else url


@dataclass(frozen=True)
class RegistryConfig:
    """Where the registry is and how to ask it (see :class:`sluice.settings.RegistrySettings`)."""

    url: str
    basic_auth: SecretStr | None = None
    ca_file: Path | None = None
    timeout_seconds: float = 10.0
    retries: int = 2
    retry_wait_seconds: float = 0.5

    @classmethod
    def from_settings(cls, settings: RegistrySettings | None = None) -> RegistryConfig:
        """The configured registry.

        Raises:
            ConfigError: ``SLUICE_SCHEMA_REGISTRY_URL`` is unset.
        """
        s = settings or get_settings().registry
        if not s.schema_registry_url:
            raise ConfigError(
                "typed messages need a schema registry, and SLUICE_SCHEMA_REGISTRY_URL is unset",
                hint="set SLUICE_SCHEMA_REGISTRY_URL=https://registry.example:8081",
            )
        return cls(
            url=s.schema_registry_url,
            basic_auth=s.schema_registry_basic_auth,
            ca_file=s.schema_registry_ca_file,
            timeout_seconds=s.schema_registry_timeout_seconds,
            retries=s.schema_registry_retries,
            retry_wait_seconds=s.schema_registry_retry_wait_seconds,
        )

    def client_conf(self) -> dict[str, object]:
        wait_ms = int(self.retry_wait_seconds * 1000)
        conf: dict[str, object] = {
            "url": self.url,
            "timeout": self.timeout_seconds,
            "max.retries": self.retries,
            "retries.wait.ms": wait_ms,
            "retries.max.wait.ms": max(wait_ms, wait_ms * 2**self.retries),
        }
        if self.basic_auth is not None:
            conf["basic.auth.user.info"] = self.basic_auth.get_secret_value()
        if self.ca_file is not None:
            conf["ssl.ca.location"] = str(self.ca_file)
        return conf


@contextmanager
def asking(config: RegistryConfig, what: str) -> Iterator[None]:
    """Registry failures as Sluice errors: a refusal of the credentials is a ConfigError, the rest unavailability."""
    try:
        yield
    except SchemaRegistryError as exc:
        url = shown_url(config.url)
        if exc.http_status_code in _REFUSED:
            raise ConfigError(
                f"schema registry {url} refused {what}: HTTP {exc.http_status_code} {exc.error_message}",
                hint="check SLUICE_SCHEMA_REGISTRY_BASIC_AUTH (user:password, or API key:secret)",
            ) from None
        raise SchemaRegistryUnavailable(
            f"schema registry {url} failed {what}: HTTP {exc.http_status_code} {exc.error_message}"
        ) from None
    except (httpx.TransportError, httpx2.TransportError) as exc:
        cause = f"{type(exc).__name__}: {exc or 'no answer'}"
        raise SchemaRegistryUnavailable(
            f"schema registry {shown_url(config.url)} cannot be reached for {what} ({cause})"
        ) from None
    except ValueError as exc:  # a 2xx whose body is not the registry's JSON: not a registry at that URL
        raise SchemaRegistryUnavailable(
            f"schema registry {shown_url(config.url)} gave no registry answer for {what} ({exc})"
        ) from None


class SchemaRegistry:
    """A registry client and the batch look-up of schema ids."""

    def __init__(self, config: RegistryConfig) -> None:
        self.config = config
        self.client = SchemaRegistryClient(config.client_conf())

    @classmethod
    def from_settings(cls, settings: RegistrySettings | None = None) -> SchemaRegistry:
        return cls(RegistryConfig.from_settings(settings))

    def schemas(self, ids: Sequence[int]) -> dict[int, Schema | Refused]:
        """The schema of each distinct id in ``ids`` (the ids of a batch, repeats included), or why there is none.

        Raises:
            SchemaRegistryUnavailable: the registry cannot be reached or fails.
            ConfigError: the registry refuses the credentials.
        """
        found: dict[int, Schema | Refused] = {}
        failed = 0
        for schema_id, _ in Counter(ids).most_common():
            if failed >= MAX_UNKNOWN_LOOKUPS:
                found[schema_id] = Refused(
                    MessageReason.SCHEMA_UNKNOWN,
                    f"schema id {schema_id} not looked up: the batch already named {failed} ids the registry "
                    "does not know",
                )
                continue
            found[schema_id] = self._one(schema_id)
            failed += isinstance(found[schema_id], Refused)
        return found

    def _one(self, schema_id: int) -> Schema | Refused:
        with asking(self.config, f"schema id {schema_id}"):
            try:
                return self.client.get_schema(schema_id)
            except SchemaRegistryError as exc:
                if exc.http_status_code != _NOT_FOUND:
                    raise
        return Refused(
            MessageReason.SCHEMA_UNKNOWN,
            f"schema id {schema_id} is not in the registry at {shown_url(self.config.url)}",
        )


@dataclass(frozen=True)
class RegistryCheck:
    """What ``ops doctor`` shows of the registry: reachable or not, and the wanted subjects it lacks."""

    url: str
    reachable: bool
    detail: str
    subjects: int = 0  # subjects the registry holds
    missing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.reachable and not self.missing


def check_registry(config: RegistryConfig, wanted_subjects: Sequence[str] = ()) -> RegistryCheck:
    """Whether the registry answers, and which of ``wanted_subjects`` it lacks (one request: the subject list).

    Never raises for the registry's own failures: they are the check's answer.
    """
    url = shown_url(config.url)
    try:
        with asking(config, "the list of subjects"):
            subjects = set(SchemaRegistry(config).client.get_subjects())
    except (SchemaRegistryUnavailable, ConfigError) as exc:
        return RegistryCheck(url, reachable=False, detail=str(exc).splitlines()[0])
    missing = [s for s in wanted_subjects if s not in subjects]
    detail = f"{len(subjects)} subjects" + (f"; missing: {', '.join(missing)}" if missing else "")
    return RegistryCheck(url, reachable=True, detail=detail, subjects=len(subjects), missing=missing)
