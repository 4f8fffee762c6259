"""End-to-end latency of a committed batch: from each message's produce (enqueue) time to the lake commit.

A message's time is its broker timestamp (:attr:`Message.timestamp_ms`): a
Kafka message's timestamp (the producer's create time, or the broker's log
append time), the milliseconds of a Redis entry id, or a RabbitMQ message's
``timestamp`` property when the publisher set it. The commit time is when the
Delta commit holding the batch returned: the moment its rows became visible.
Messages without a time, and those the lake held already, are not counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sluice.sources.streams.base import Message, stamps_of

QUANTILES = (0.5, 0.99)


@dataclass(frozen=True)
class BatchLatency:
    """Seconds from produce time to commit over a batch's timed messages: how many, p50, p99 and the largest."""

    count: int
    p50: float
    p99: float
    worst: float
    committed_ms: int  # the commit's wall-clock time, ms since the epoch

    def quantiles(self) -> dict[float, float]:
        return {0.5: self.p50, 0.99: self.p99}


def batch_latency(messages: Sequence[Message], committed_ms: int) -> BatchLatency | None:
    """The latency of ``messages`` committed at ``committed_ms`` (``None``: no message carries a time)."""
    stamps = stamps_of(messages)
    stamps = stamps[stamps >= 0]
    if not len(stamps):
        return None
    seconds = (committed_ms - stamps) / 1000.0
    p50, p99 = np.quantile(seconds, QUANTILES)
    return BatchLatency(len(stamps), float(p50), float(p99), float(seconds.max()), committed_ms)
