"""The task of the ``ingest-stream`` flow: a Kafka topic, Redis stream or RabbitMQ queue into the dataset's lake table.

A thin task over :func:`sluice.sources.streams.consume.consume`: it builds
the source and the sink (this environment's lake, under the dataset's lease)
and runs until the stream is idle, for ``follow_s`` seconds, or until the run
is cancelled. Every batch is committed with its positions before the broker
is told, so a run killed anywhere loses and doubles nothing. Each batch's
end-to-end latency (produce time to commit) goes to the metrics store as
``sluice_stream_latency_seconds`` (:mod:`ops.metrics.streams`) as it commits.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from prefect import get_run_logger, task

from ops.metrics.errors import MetricsError, ReadOnlyStoreError
from ops.metrics.store import MetricsStore, open_store
from ops.metrics.streams import latency_samples
from sluice.lake.frames import LeaseSpec
from sluice.settings import get_settings
from sluice.sources.streams.base import MAX_DELIVERIES, BatchLimits, StreamSource
from sluice.sources.streams.consume import ConsumeOutcome, ConsumeSpec, consume
from sluice.sources.streams.decode import Decoder, JsonDecoder
from sluice.sources.streams.sink import BatchOutcome, StreamSink
from sluice.validate.contracts import Contract
from tasks.retry import TRANSIENT_RETRIES

Broker = Literal["kafka", "redis", "rabbitmq"]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamRequest:
    """One consume run: the broker and where it is, the topic or stream, the group, and the run's bounds."""

    broker: Broker
    address: str  # Kafka bootstrap servers, a redis:// URL, or an amqp:// URL
    topic: str  # the Kafka topic, the Redis stream key, or the RabbitMQ queue
    group: str = "sluice"
    consumer: str = ""  # Redis: this consumer's name in the group (default: the host's name)
    follow_s: float | None = 0.0
    idle_s: float = 5.0
    limits: BatchLimits = field(default_factory=BatchLimits)
    require_key: bool = False
    claim_idle_ms: int = 30_000
    value_format: str = "json"  # json, or avro / protobuf in the Confluent wire format (the schema registry)
    max_deliveries: int = MAX_DELIVERIES  # RabbitMQ: a message delivered this often before is dead-lettered


def make_source(req: StreamRequest, sink: StreamSink) -> StreamSource:
    if req.broker == "kafka":
        from sluice.sources.streams.kafka import KafkaConfig, KafkaSource

        config = KafkaConfig(req.address, req.topic, req.group)
        return KafkaSource(config, lambda: sink.positions(f"kafka:{req.topic}"))
    if req.broker == "rabbitmq":
        from sluice.sources.streams.rabbitmq import MAX_PREFETCH, RabbitConfig, RabbitSource

        prefetch = min(2 * req.limits.max_records, MAX_PREFETCH)  # a batch being committed, the next one arriving
        return RabbitSource(RabbitConfig(req.address, req.topic, prefetch, req.max_deliveries))
    from sluice.sources.streams.redis_streams import RedisConfig, RedisSource

    consumer = req.consumer or socket.gethostname()
    return RedisSource(RedisConfig(req.address, req.topic, req.group, consumer, req.claim_idle_ms))


def value_decoder(value_format: str, require_key: bool) -> Decoder:
    """How the stream's values are read: JSON objects, or Avro / Protobuf through the configured registry."""
    if value_format == "json":
        return JsonDecoder(require_key=require_key)
    from sluice.formats.typed import SchemaRegistry, TypedFormat
    from sluice.sources.streams.typed import TypedValues

    return TypedValues(TypedFormat(value_format), SchemaRegistry.from_settings())


def lake_sink(contract: Contract, run_id: str, decoder: Decoder) -> StreamSink:
    """The sink of the dataset in this environment's lake, under its lease."""
    from sluice.runs.metastore import engine_for

    settings = get_settings()
    return StreamSink(
        contract,
        settings.lake_root(),
        settings.staging_root(),
        settings.quarantine_root(),
        decoder=decoder,
        lease=LeaseSpec(
            engine_for(settings.metadata_db_url()), settings.lease_ttl_seconds, settings.lease_wait_seconds
        ),
        run_id=run_id,
        storage_options=dict(settings.lake_storage_options),
    )


def latency_recorder(
    source: str, dataset: str, environment: str, store: MetricsStore
) -> Callable[[BatchOutcome], None]:
    """Writes each committed batch's latency quantiles to ``store``; a store that refuses them is logged, not raised.

    A Prometheus store takes no writes (it scrapes): the latency is then not kept, and said once.
    """
    refused: list[str] = []

    def record(outcome: BatchOutcome) -> None:
        if outcome.latency is None or refused:
            return
        try:
            store.write(latency_samples(source, dataset, outcome.latency, environment=environment))
        except ReadOnlyStoreError as exc:
            refused.append(str(exc))
            log.warning("stream latency is not recorded: %s", exc)
        except (MetricsError, OSError) as exc:
            log.warning("stream latency of a batch not recorded: %s", exc)

    return record


@task(name="ingest-stream", task_run_name="consume-{req.broker}-{req.topic}", **TRANSIENT_RETRIES)
def consume_into_lake(req: StreamRequest, contract: Contract, run_id: str) -> ConsumeOutcome:
    """Consume the topic or stream into the dataset's lake table (see the module doc)."""
    sink = lake_sink(contract, run_id, value_decoder(req.value_format, req.require_key))
    spec = ConsumeSpec(req.limits, follow_s=req.follow_s, idle_s=req.idle_s)
    settings = get_settings()
    record = latency_recorder(f"{req.broker}:{req.topic}", contract.name, settings.env, open_store(home=settings.home))
    outcome = consume(make_source(req, sink), sink, spec, on_batch=record)
    get_run_logger().info(
        "%s %s: %d batch(es), %d message(s), paused %d time(s)",
        req.broker,
        req.topic,
        len(outcome.batches),
        sum(b.read for b in outcome.batches),
        outcome.pauses,
    )
    return outcome
