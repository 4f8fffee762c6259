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
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from prefect import get_run_logger, task

from ops.metrics.errors import MetricsError, ReadOnlyStoreError
from ops.metrics.store import MetricsStore, open_store
from ops.metrics.streams import consumer_samples, latency_samples, paused_samples, reason_samples
from sluice.lake.frames import LeaseSpec
from sluice.settings import MetricsBackend, get_settings
from sluice.sources.streams.base import MAX_DELIVERIES, BatchLimits, StreamSource
from sluice.sources.streams.consume import ConsumeOutcome, ConsumeSpec, consume
from sluice.sources.streams.decode import Decoder, JsonDecoder
from sluice.sources.streams.errors import StreamError, StreamUnreachableError
from sluice.sources.streams.lag import StreamTarget, stream_lag
from sluice.sources.streams.referenced import ReferencedSink
from sluice.sources.streams.scale import ScalingPolicy, SuperviseSpec, supervise
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
    scaling: ScalingPolicy = field(default_factory=ScalingPolicy)  # max_consumers 1: one consumer, no supervisor
    scale_interval_s: float = 5.0  # how often the supervisor reads the lag
    kafka_options: Mapping[str, Any] = field(default_factory=dict)  # librdkafka options (SLUICE_KAFKA_OPTIONS)

    @property
    def target(self) -> StreamTarget:
        return StreamTarget(self.broker, self.topic, self.group)

    def lag_args(self) -> tuple[str, str, str, str, Mapping[str, Any]]:
        """What :func:`~sluice.sources.streams.lag.stream_lag` takes for this stream."""
        return self.broker, self.address, self.topic, self.group, self.kafka_options


def make_source(req: StreamRequest, sink: StreamSink, index: int = 0) -> StreamSource:
    if req.broker == "kafka":
        from sluice.sources.streams.kafka import KafkaConfig, KafkaSource

        config = KafkaConfig(req.address, req.topic, req.group, req.kafka_options)
        return KafkaSource(config, lambda: sink.positions(f"kafka:{req.topic}"))
    if req.broker == "rabbitmq":
        from sluice.sources.streams.rabbitmq import MAX_PREFETCH, RabbitConfig, RabbitSource

        prefetch = min(2 * req.limits.max_records, MAX_PREFETCH)  # a batch being committed, the next one arriving
        return RabbitSource(RabbitConfig(req.address, req.topic, prefetch, req.max_deliveries))
    from sluice.sources.streams.redis_streams import RedisConfig, RedisSource

    consumer = req.consumer or socket.gethostname()
    consumer = f"{consumer}-{index}" if index else consumer  # a supervisor's consumers each have a name
    return RedisSource(RedisConfig(req.address, req.topic, req.group, consumer, req.claim_idle_ms))


def value_decoder(value_format: str, require_key: bool) -> Decoder:
    """How the stream's values are read: JSON objects, or Avro / Protobuf through the configured registry."""
    if value_format == "json":
        return JsonDecoder(require_key=require_key)
    from sluice.formats.typed import SchemaRegistry, TypedFormat
    from sluice.sources.streams.typed import TypedValues

    return TypedValues(TypedFormat(value_format), SchemaRegistry.from_settings())


def lake_sink(contract: Contract, run_id: str, decoder: Decoder, index: int = 0) -> StreamSink:
    """The sink of the dataset in this environment's lake, under its lease (consumer ``index`` stages apart).

    A contract with ``references`` gets a sink that checks them (:mod:`sluice.sources.streams.referenced`).
    """
    from sluice.runs.metastore import engine_for

    settings = get_settings()
    kind = ReferencedSink if contract.references else StreamSink  # references checked per batch
    return kind(
        contract,
        settings.lake_root(),
        settings.staging_root() / f"consumer-{index}" if index else settings.staging_root(),
        settings.quarantine_root(),
        decoder=decoder,
        lease=LeaseSpec(
            engine_for(settings.metadata_db_url()), settings.lease_ttl_seconds, settings.lease_wait_seconds
        ),
        run_id=run_id,
        storage_options=dict(settings.lake_storage_options),
    )


@dataclass
class StreamRecorder:
    """Writes the consumer count and the paused partitions of one stream to the metrics store (None: not kept)."""

    target: StreamTarget
    environment: str
    store: MetricsStore | None
    dataset: str = ""

    @classmethod
    def current(cls, target: StreamTarget, dataset: str = "") -> StreamRecorder:
        settings = get_settings()
        embedded = settings.metrics.metrics_backend is not MetricsBackend.PROMETHEUS
        store = open_store(settings.metrics, home=settings.home) if embedded else None
        return cls(target, settings.env, store, dataset)

    def batch(self, outcome: BatchOutcome) -> None:
        """A committed batch's latency quantiles, and its quarantined messages per reason (when it has any)."""
        if self.store is None:
            return
        samples = []
        if outcome.latency is not None:
            source = f"{self.target.broker}:{self.target.topic}"
            samples += latency_samples(source, self.dataset, outcome.latency, environment=self.environment)
        if outcome.reasons:
            now = datetime.now(timezone.utc)
            samples += reason_samples(self.dataset, outcome.reasons, now, environment=self.environment)
        if samples:
            try:
                self.store.write(samples)
            except ReadOnlyStoreError as exc:  # a store that scrapes (Prometheus): said once, then not tried again
                self.store = None
                log.warning("stream batch metrics are not recorded: %s", exc)
            except (MetricsError, OSError) as exc:
                log.warning("stream metrics of a batch not recorded: %s", exc)

    def paused(self, partitions: list[str], held: bool) -> None:
        if self.store is not None:
            now = datetime.now(timezone.utc)
            self.store.write(paused_samples(self.target, partitions, held, now, environment=self.environment))

    def consumers(self, count: int, lag: int | None) -> None:
        if self.store is not None:
            now = datetime.now(timezone.utc)
            self.store.write(consumer_samples(self.target, count, now, environment=self.environment))


def total_lag(req: StreamRequest) -> Callable[[], int | None]:
    """The group's backlog (lag and pending) summed over the partitions (None: one is unknown, or the broker failed)."""

    def read() -> int | None:
        try:
            found: Sequence[int | None] = [p.backlog for p in stream_lag(*req.lag_args())]
        except (StreamError, StreamUnreachableError) as exc:
            get_run_logger().warning("lag not read, the consumer count stays: %s", exc)
            return None
        return None if any(lag is None for lag in found) else sum(lag or 0 for lag in found)

    return read


def _consume_one(req: StreamRequest, contract: Contract, run_id: str, recorder: StreamRecorder) -> ConsumeOutcome:
    sink = lake_sink(contract, run_id, value_decoder(req.value_format, req.require_key))
    recorder.consumers(1, None)
    spec = ConsumeSpec(req.limits, follow_s=req.follow_s, idle_s=req.idle_s)
    return consume(make_source(req, sink), sink, spec, on_batch=recorder.batch, on_pause=recorder.paused)


def _consume_scaled(req: StreamRequest, contract: Contract, run_id: str, recorder: StreamRecorder) -> ConsumeOutcome:
    def run(index: int, stop: threading.Event, counted: Callable[[BatchOutcome], None]) -> ConsumeOutcome:
        sink = lake_sink(contract, run_id, value_decoder(req.value_format, req.require_key), index)
        spec = ConsumeSpec(req.limits, follow_s=None, idle_s=req.idle_s)

        def on_batch(outcome: BatchOutcome) -> None:
            counted(outcome)
            recorder.batch(outcome)

        return consume(
            make_source(req, sink, index), sink, spec, on_batch=on_batch, on_pause=recorder.paused, stop=stop
        )

    watch = SuperviseSpec(req.scale_interval_s, req.follow_s, req.idle_s)
    found = supervise(run, total_lag(req), req.scaling, watch, on_sample=recorder.consumers)
    get_run_logger().info("consumers after each lag sample: %s", found.counts)
    return found.outcome


@task(name="ingest-stream", task_run_name="consume-{req.broker}-{req.topic}", **TRANSIENT_RETRIES)
def consume_into_lake(req: StreamRequest, contract: Contract, run_id: str) -> ConsumeOutcome:
    """Consume the topic or stream into the dataset's lake table (see the module doc).

    With ``req.scaling.max_consumers`` above 1, a supervisor runs between the bounds' consumers by the lag
    (:mod:`sluice.sources.streams.scale`); the consumer count and paused partitions go to the metrics store.
    """
    recorder = StreamRecorder.current(req.target, contract.name)
    scaled = req.scaling.max_consumers > 1
    outcome = (_consume_scaled if scaled else _consume_one)(req, contract, run_id, recorder)
    recorder.consumers(0, None)
    get_run_logger().info(
        "%s %s: %d batch(es), %d message(s), paused %d time(s)",
        req.broker,
        req.topic,
        len(outcome.batches),
        sum(b.read for b in outcome.batches),
        outcome.pauses,
    )
    return outcome
