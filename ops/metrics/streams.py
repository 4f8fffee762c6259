"""Stream metrics: consumer lag per Kafka partition, Redis stream or RabbitMQ queue; end-to-end latency per batch.

``sluice_stream_lag_messages`` is how many messages the broker holds that the
group has not consumed yet (see :mod:`sluice.sources.streams.lag`); a
partition whose lag the broker cannot tell is left out. Samples are stamped at
collection time and labelled ``broker``, ``topic``, ``partition`` and
``environment`` (never the address: a URL may carry a password).

``sluice_stream_latency_seconds`` is, per committed batch, the p50 and p99
(label ``quantile``: ``0.5``, ``0.99``) of the seconds from each message's
produce time to the lake commit that made it visible
(:mod:`sluice.sources.streams.latency`), stamped at the commit and labelled
``broker``, ``topic``, ``dataset`` and ``environment``. The ingest-stream
task writes them as its batches commit.

A consumer run also records ``sluice_stream_consumers`` (the consumer tasks
it runs, 0 when it ends) and ``sluice_stream_partition_paused`` (1 when its
buffer pauses a partition for backpressure, 0 when it resumes), labelled
``broker``, ``topic``, ``group`` and ``environment`` (and ``partition``), and
for every batch that quarantined messages, ``sluice_rows_quarantined_by_reason``
(the batch's count per ``reason``, labelled ``dataset``, ``flow``, ``reason``
and ``environment``: the ``schema-incompatible`` rule reads it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from ops.metrics.models import Matcher, MatchOp, Sample, Selector, utc
from ops.metrics.store import MetricsStore
from sluice.sources.streams.errors import StreamError, StreamUnreachableError
from sluice.sources.streams.lag import PartitionLag, StreamTarget, stream_lag
from sluice.sources.streams.latency import BatchLatency

STREAM_LAG_MESSAGES = "sluice_stream_lag_messages"
STREAM_LATENCY_SECONDS = "sluice_stream_latency_seconds"
STREAM_CONSUMERS = "sluice_stream_consumers"
STREAM_PAUSED = "sluice_stream_partition_paused"
QUARANTINED_BY_REASON = "sluice_rows_quarantined_by_reason"
STREAM_METRICS = (STREAM_LAG_MESSAGES, STREAM_LATENCY_SECONDS, STREAM_CONSUMERS, STREAM_PAUSED, QUARANTINED_BY_REASON)
PAUSED_WITHIN = timedelta(minutes=15)  # an older pause sample is a consumer gone, not a paused partition


def latency_samples(source: str, dataset: str, latency: BatchLatency, *, environment: str) -> list[Sample]:
    """A committed batch's latency quantiles as samples at its commit time; ``source`` is ``<broker>:<topic>``."""
    broker, _, topic = source.partition(":")
    at = datetime.fromtimestamp(latency.committed_ms / 1000, timezone.utc)
    labels = {"broker": broker, "topic": topic, "dataset": dataset, "environment": environment}
    return [
        Sample(STREAM_LATENCY_SECONDS, {**labels, "quantile": str(q)}, at, value)
        for q, value in latency.quantiles().items()
    ]


def lag_samples(found: list[PartitionLag], now: datetime, *, environment: str) -> list[Sample]:
    """The lag samples of ``found`` at ``now``; a partition without a known lag is left out."""
    return [
        Sample(
            STREAM_LAG_MESSAGES,
            {"broker": p.broker, "topic": p.topic, "partition": p.partition, "environment": environment},
            now,
            float(p.lag),
        )
        for p in found
        if p.lag is not None
    ]


def collect_stream_metrics(
    store: MetricsStore,
    broker: str,
    address: str,
    topic: str,
    group: str,
    *,
    now: datetime | None = None,
    environment: str = "dev",
    kafka_options: Mapping[str, Any] | None = None,
) -> int:
    """Write the lag of every partition of ``topic`` for ``group`` to ``store``; returns the samples written.

    Raises:
        StreamUnreachableError: the broker cannot be reached.
        StreamError: the topic, stream, queue or group does not exist, or ``broker`` is unknown.
        ReadOnlyStoreError: the store is Prometheus, which scrapes rather than receives.
    """
    now = utc(now) if now else datetime.now(timezone.utc)
    store.write([])
    found = stream_lag(broker, address, topic, group, kafka_options)
    return store.write(lag_samples(found, now, environment=environment))


@dataclass
class LagCollection:
    """What one sampling of the watched streams did: samples written, and one line per stream that failed."""

    written: int = 0
    failed: list[str] = field(default_factory=list)


def collect_watched_lag(
    store: MetricsStore,
    targets: Sequence[StreamTarget],
    address: Callable[[str], str | None],
    *,
    now: datetime | None = None,
    environment: str = "dev",
    kafka_options: Mapping[str, Any] | None = None,
) -> LagCollection:
    """Sample the lag of every stream of ``targets`` (``address`` gives a broker's address, None: unset;
    ``kafka_options``: librdkafka options of the Kafka clients).

    A stream whose broker has no address, cannot be reached or lacks the
    topic or group is reported in ``failed`` and the others are still sampled.
    """
    out = LagCollection()
    for target in targets:
        where = address(target.broker)
        if not where:
            out.failed.append(f"{target.text()}: no address configured for {target.broker}")
            continue
        try:
            out.written += collect_stream_metrics(
                store,
                target.broker,
                where,
                target.topic,
                target.group,
                now=now,
                environment=environment,
                kafka_options=kafka_options,
            )
        except (StreamError, StreamUnreachableError) as exc:
            out.failed.append(f"{target.text()}: {exc}")
    return out


def stream_labels(target: StreamTarget, environment: str) -> dict[str, str]:
    return {"broker": target.broker, "topic": target.topic, "group": target.group, "environment": environment}


def consumer_samples(target: StreamTarget, consumers: int, now: datetime, *, environment: str) -> list[Sample]:
    """How many consumer tasks Sluice runs on ``target`` at ``now``."""
    return [Sample(STREAM_CONSUMERS, stream_labels(target, environment), now, float(consumers))]


def paused_samples(
    target: StreamTarget, partitions: Sequence[str], paused: bool, now: datetime, *, environment: str
) -> list[Sample]:
    """Per partition of ``partitions``: a consumer holds it paused for backpressure (1) or resumed it (0)."""
    labels = stream_labels(target, environment)
    return [Sample(STREAM_PAUSED, {**labels, "partition": p}, now, 1.0 if paused else 0.0) for p in sorted(partitions)]


def paused_now(
    store: MetricsStore, target: StreamTarget, *, now: datetime, within: timedelta = PAUSED_WITHIN, environment: str
) -> set[str]:
    """The partitions of ``target`` whose newest pause sample within ``within`` of ``now`` says paused."""
    labels = stream_labels(target, environment)
    selector = Selector(STREAM_PAUSED, tuple(Matcher(k, MatchOp.EQUAL, v) for k, v in sorted(labels.items())))
    found = store.query_range(selector, now - within, now)
    return {s.labels["partition"] for s in found if len(s) and s.values[-1] > 0}


def reason_samples(
    dataset: str, reasons: dict[str, int], now: datetime, *, flow: str = "ingest-stream", environment: str
) -> list[Sample]:
    """One batch's quarantined rows per reason code, stamped at ``now``."""
    labels = {"dataset": dataset, "flow": flow, "environment": environment}
    return [
        Sample(QUARANTINED_BY_REASON, {**labels, "reason": reason}, now, float(count))
        for reason, count in sorted(reasons.items())
        if count
    ]
