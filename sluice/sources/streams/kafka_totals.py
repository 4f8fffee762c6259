"""Kafka's account of a batch: the offsets it spans per partition, against the messages delivered.

Offsets in a partition are consecutive, so a span of offsets with as many
messages delivered is complete, and costs nothing more to tell. A span with
more offsets than messages has gaps, which are not always losses: a
transactional producer's commit and abort markers take offsets no consumer
is ever given, and a ``read_committed`` consumer (librdkafka's default) is
not given aborted records either. So the offsets a batch lacks are read again
by a probe consumer with the same options (the same isolation level), which
is given exactly what the topic serves there: what it finds is what the
batch lost.

Where that re-read cannot be exact the span is *not comparable*: a topic
with ``cleanup.policy=compact`` (read with the AdminClient's
``describe_configs`` once, at the first gap; compaction may remove a lost
record before the re-read), offsets gone below the log start (retention),
or a re-read that does not reach the span's end in time. A broker that does
not answer ``describe_configs`` (no permission, or librdkafka's mock
cluster: UNSUPPORTED_FEATURE) leaves the policy unknown, which the span's
basis says; the re-read then stands.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from sluice.sources.streams.base import MessageColumns, Offset, StreamBatch
from sluice.sources.streams.totals import SpanCount, span_start

REREAD_S = 30.0  # how long a re-read of a span's gaps may take
ADMIN_TIMEOUT_S = 5.0


def gaps(start: int, offsets: np.ndarray) -> np.ndarray:
    """The runs of offsets from ``start`` to ``offsets``' last that ``offsets`` (sorted, unique) lacks, as rows
    ``[first, last]`` (an empty array of shape (0, 2) when none)."""
    before = np.concatenate([[start - 1], offsets[:-1]])
    missing = offsets - before > 1
    return np.stack([before[missing] + 1, offsets[missing] - 1], axis=1).astype(np.int64).reshape(-1, 2)


def compaction(configs: dict[str, str]) -> bool:
    """Whether a topic's configuration compacts it (``cleanup.policy`` ``compact`` or ``compact,delete``)."""
    return "compact" in configs.get("cleanup.policy", "").replace(" ", "").split(",")


def topic_configs(admin_config: dict[str, Any], topic: str) -> dict[str, str]:
    """The topic's configuration as the brokers state it (``describe_configs``).

    Raises:
        KafkaException: the brokers refuse or do not support the request; TimeoutError: no answer in time.
    """
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.admin._config import ConfigResource
    from confluent_kafka.admin._resource import ResourceType

    admin = AdminClient(admin_config)
    futures = admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)], request_timeout=ADMIN_TIMEOUT_S)
    entries = next(iter(futures.values())).result(timeout=ADMIN_TIMEOUT_S)
    return {k: str(v.value) for k, v in entries.items()}


def in_gaps(found: np.ndarray, runs: np.ndarray) -> int:
    """How many of the offsets ``found`` fall in one of the ``runs`` (rows ``[first, last]``, sorted)."""
    at = np.searchsorted(runs[:, 0], found, side="right") - 1
    inside = (at >= 0) & (found <= runs[np.maximum(at, 0), 1])
    return int(inside.sum())


class KafkaSpans:
    """Counts a batch's spans for :class:`~sluice.sources.streams.kafka.KafkaSource` (see the module doc).

    Its probe consumer and admin client are its own: the source's consumer belongs to the polling thread.
    """

    def __init__(self, topic: str, consumer_config: dict[str, Any], admin_config: dict[str, Any]) -> None:
        self.topic = topic
        self._consumer_config = {**consumer_config, "enable.partition.eof": True}
        self._admin_config = admin_config
        self._probe: Consumer | None = None
        self._policy: tuple[bool | None, str] | None = None

    def account(self, batch: StreamBatch, held: dict[str, Offset]) -> list[SpanCount]:
        cols = batch.columns
        if cols is None:
            return []
        return [self._partition(cols, i, name, held) for i, name in enumerate(cols.names) if (cols.part == i).any()]

    def _partition(self, cols: MessageColumns, i: int, name: str, held: dict[str, Offset]) -> SpanCount:
        offsets = np.unique(cols.offsets[cols.part == i])
        after = span_start(name, Offset(int(offsets[0])), held)
        start = offsets[0] if after is None else after.major + 1
        first, last, count = Offset(int(start)), Offset(int(offsets[-1])), len(offsets)
        runs = gaps(int(start), offsets)
        if not len(runs):
            return SpanCount(name, first, last, count, count, f"offsets {start}..{last.major}, each delivered")
        compacted, said = self.policy()
        if compacted:
            return SpanCount(name, first, last, count, None, f"cleanup.policy=compact: {said}")
        sent, basis = self._reread(int(name.rpartition("/")[2]), runs)
        return SpanCount(name, first, last, count, None if sent is None else count + sent, basis + said)

    def policy(self) -> tuple[bool | None, str]:
        """Whether the topic is compacted (``None``: unknown), and what to say of it."""
        if self._policy is None:
            self._policy = self._describe()
        return self._policy

    def _describe(self) -> tuple[bool | None, str]:
        try:
            configs = topic_configs(self._admin_config, self.topic)
        except (KafkaException, TimeoutError) as exc:
            err = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            why = err.name() if err is not None else type(exc).__name__
            return None, f" (cleanup.policy not known: describe_configs answered {why})"
        if compaction(configs):
            return True, "compaction removes records, so offsets overstate what the topic sent"
        return False, ""

    def _consumer(self) -> Consumer:
        if self._probe is None:
            self._probe = Consumer(self._consumer_config)
        return self._probe

    def _reread(self, partition: int, runs: np.ndarray) -> tuple[int | None, str]:
        """Messages the topic serves at the offsets ``runs`` hold, and the basis (``None``: not exact, and why)."""
        missing = int((runs[:, 1] - runs[:, 0] + 1).sum())
        probe = self._consumer()
        low, _ = probe.get_watermark_offsets(TopicPartition(self.topic, partition), timeout=ADMIN_TIMEOUT_S)
        if low > runs[0, 0]:
            return None, f"offsets from {runs[0, 0]} left the log (log start offset {low}) before a re-read"
        probe.assign([TopicPartition(self.topic, partition, int(runs[0, 0]))])
        try:
            found = self._served(probe, runs)
        finally:
            probe.unassign()
        if found is None:
            return None, f"the re-read of {missing:,} missing offset(s) did not reach offset {runs[-1, 1]} in time"
        rest = missing - found
        tail = f"; {rest:,} hold no message (transaction markers, aborted records)" if rest else ""
        return found, f"re-read the {missing:,} offset(s) the batch lacks: {found:,} message(s){tail}"

    @staticmethod
    def _served(probe: Consumer, runs: np.ndarray) -> int | None:
        end, found = int(runs[-1, 1]), 0
        deadline = time.monotonic() + REREAD_S
        while time.monotonic() < deadline:
            msgs = probe.consume(num_messages=1000, timeout=0.5)
            offsets = np.asarray([m.offset() or 0 for m in msgs if m.error() is None], dtype=np.int64)
            found += in_gaps(offsets, runs)
            ends = [
                m.offset() or 0 for m in msgs if (e := m.error()) is not None and e.code() == KafkaError._PARTITION_EOF
            ]
            if (len(offsets) and offsets.max() > end) or any(at > end for at in ends):
                return found
        return None

    def close(self) -> None:
        if self._probe is not None:
            self._probe.close()
            self._probe = None
