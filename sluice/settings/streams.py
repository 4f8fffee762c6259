"""Stream sources: where the brokers are (Kafka, Redis Streams, RabbitMQ)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from sluice.settings.sources import PREFIX, Section


class StreamSettings(Section):
    """Addresses the ``ingest-stream`` flow (:mod:`sluice.sources.streams`) uses when a run names none."""

    env_prefix = PREFIX
    title = "Stream sources"

    kafka_bootstrap_servers: str | None = Field(
        default=None,
        description="Kafka bootstrap servers, `host1:9092,host2:9092`, for `ingest-stream` runs with `broker=kafka`.",
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
