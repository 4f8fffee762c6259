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
"""

from __future__ import annotations

from datetime import datetime, timezone

from ops.metrics.models import Sample, utc
from ops.metrics.store import MetricsStore
from sluice.sources.streams.lag import PartitionLag, stream_lag
from sluice.sources.streams.latency import BatchLatency

STREAM_LAG_MESSAGES = "sluice_stream_lag_messages"
STREAM_LATENCY_SECONDS = "sluice_stream_latency_seconds"
STREAM_METRICS = (STREAM_LAG_MESSAGES, STREAM_LATENCY_SECONDS)


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
) -> int:
    """Write the lag of every partition of ``topic`` for ``group`` to ``store``; returns the samples written.

    Raises:
        StreamUnreachableError: the broker cannot be reached.
        StreamError: the topic, stream, queue or group does not exist, or ``broker`` is unknown.
        ReadOnlyStoreError: the store is Prometheus, which scrapes rather than receives.
    """
    now = utc(now) if now else datetime.now(timezone.utc)
    store.write([])
    found = stream_lag(broker, address, topic, group)
    return store.write(lag_samples(found, now, environment=environment))
