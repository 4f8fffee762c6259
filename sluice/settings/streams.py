"""Stream sources: where the brokers are (Kafka, Redis Streams, RabbitMQ)."""

from __future__ import annotations

import json
import re

from pydantic import Field, SecretStr, field_validator

from sluice.settings.sources import PREFIX, Section

BROKER_SETTINGS = {
    "kafka": "SLUICE_KAFKA_BOOTSTRAP_SERVERS",
    "redis": "SLUICE_REDIS_URL",
    "rabbitmq": "SLUICE_RABBITMQ_URL",
}
# Kafka client options Sluice sets itself: a run's address, group and offset commits are not for the settings.
KAFKA_FIXED_OPTIONS = ("bootstrap.servers", "group.id", "enable.auto.commit", "enable.auto.offset.store")
# broker:topic, or broker:topic@group (the group defaults to sluice)
_TARGET = re.compile(r"^(kafka|redis|rabbitmq):[^@\s]+(@[^@\s]+)?$")


class StreamSettings(Section):
    """Addresses the ``ingest-stream`` flow (:mod:`sluice.sources.streams`) uses when a run names none."""

    env_prefix = PREFIX
    title = "Stream sources"

    kafka_bootstrap_servers: str | None = Field(
        default=None,
        description="Kafka bootstrap servers, `host1:9092,host2:9092`, for `ingest-stream` runs with `broker=kafka`.",
    )
    kafka_options: SecretStr | None = Field(
        default=None,
        description=(
            "librdkafka options for every Kafka client Sluice makes, as a JSON object: TLS and SASL "
            '(`{"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN", "sasl.username": "…", '
            '"sasl.password": "…"}`), `session.timeout.ms` and the like. Never logged.'
        ),
    )
    redis_url: SecretStr | None = Field(
        default=None,
        description=(
            "Redis URL, `redis://:PASSWORD@host:6379/0`, for `ingest-stream` runs with `broker=redis`. Never logged."
        ),
    )
    rabbitmq_url: SecretStr | None = Field(
        default=None,
        description=(
            "RabbitMQ URL, `amqp://USER:PASSWORD@host:5672/%2F`, for `ingest-stream` runs with `broker=rabbitmq`."
            " Never logged."
        ),
    )
    stream_lag_targets: list[str] = Field(
        default_factory=list,
        description=(
            "The streams whose consumer lag `alerts-evaluate` samples on every run (JSON list of `broker:topic` or "
            '`broker:topic@group`, the group `sluice` when omitted), e.g. `["redis:orders", "kafka:clicks@web"]`.'
        ),
    )

    @field_validator("kafka_options")
    @classmethod
    def _kafka_options(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_kafka_options(value.get_secret_value())
        return value

    def kafka_client_options(self) -> dict[str, str | int | float | bool]:
        """:attr:`kafka_options` as librdkafka takes them (empty when unset)."""
        return parse_kafka_options(self.kafka_options.get_secret_value()) if self.kafka_options else {}

    @field_validator("stream_lag_targets")
    @classmethod
    def _targets(cls, value: list[str]) -> list[str]:
        for target in value:
            if not _TARGET.match(target):
                raise ValueError(f"{target!r} is not broker:topic or broker:topic@group (kafka, redis or rabbitmq)")
        return value

    def address(self, broker: str) -> str | None:
        """The configured address of ``broker`` (bootstrap servers or URL), or None when none is set."""
        if broker == "kafka":
            return self.kafka_bootstrap_servers or None
        secret = {"redis": self.redis_url, "rabbitmq": self.rabbitmq_url}.get(broker)
        return secret.get_secret_value() if secret is not None else None


def parse_kafka_options(text: str) -> dict[str, str | int | float | bool]:
    """A JSON object of librdkafka options with scalar values, none of :data:`KAFKA_FIXED_OPTIONS`.

    Raises:
        ValueError: not such an object (the message names the fault, never a value).
    """
    try:
        found = json.loads(text)
    except ValueError:
        raise ValueError("SLUICE_KAFKA_OPTIONS is not JSON") from None
    if not isinstance(found, dict):
        raise ValueError("SLUICE_KAFKA_OPTIONS must be a JSON object of librdkafka options")
    for key, value in found.items():
        if key in KAFKA_FIXED_OPTIONS:
            raise ValueError(f"SLUICE_KAFKA_OPTIONS may not set {key!r}: Sluice sets it for each run")
        if not isinstance(value, str | int | float | bool):
            raise ValueError(f"SLUICE_KAFKA_OPTIONS[{key!r}] must be a string, number or boolean")
    return found
